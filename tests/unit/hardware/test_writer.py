"""The real deadline writer against real files and a real blocking write (a FIFO)."""
from __future__ import annotations

import os
import threading

import pytest

from multus_dp.hardware.errors import SysfsWriteError
from multus_dp.hardware.writer import DeadlineWriter


def test_writes_the_value(tmp_path) -> None:
    target = tmp_path / "driver_override"
    target.write_text("(null)\n")
    DeadlineWriter().write(str(target), "vfio-pci", 1.0)
    assert target.read_text() == "vfio-pci"


def test_kernel_error_becomes_a_clear_error(tmp_path) -> None:
    with pytest.raises(SysfsWriteError, match=r"writing '0000:3b:02.0' to .*/unbind failed: No such file") as err:
        DeadlineWriter().write(str(tmp_path / "unbind"), "0000:3b:02.0", 1.0)
    assert not err.value.timed_out and err.value.code == 110


def test_a_blocking_write_times_out_and_its_path_stays_refused_until_it_returns(tmp_path) -> None:
    fifo = tmp_path / "sriov_numvfs"
    os.mkfifo(fifo)           # open(O_WRONLY) blocks until a reader comes: a real hang
    writer = DeadlineWriter()
    with pytest.raises(SysfsWriteError, match="did not finish within its deadline") as err:
        writer.write(str(fifo), "8", 0.2)
    assert err.value.timed_out
    assert writer.stuck_paths() == [str(fifo)]
    with pytest.raises(SysfsWriteError, match="earlier write to it has been hanging"):
        writer.write(str(fifo), "8", 0.2)

    # a reader unblocks the stuck write; the path is usable again
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    reader.join(5)
    assert received == [b"8"]
    for _ in range(500):   # bounded wait for the writer thread to notice
        if not writer.stuck_paths():
            break
        threading.Event().wait(0.02)
    assert writer.stuck_paths() == []
