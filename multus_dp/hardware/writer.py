"""The one seam for sysfs writes: every write runs with a deadline.

Writes to `bind`, `unbind`, `drivers_probe` and `sriov_numvfs` can block in the kernel for
as long as a driver likes (i40e numvfs, a wedged firmware). Each write runs in its own
daemon thread; the caller waits at most `deadline` seconds and gets a `SysfsWriteError`
instead of a hung daemon. A thread stuck in the kernel cannot be killed, so the path is
remembered and further writes to it are refused until the stuck one returns.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from multus_dp import logs
from multus_dp.base import defaults
from multus_dp.hardware.errors import SysfsWriteError

DEFAULT_WRITE_DEADLINE = defaults.SYSFS_WRITE_DEADLINE
log = logs.get("hardware.writer")

RawWrite = Callable[[str, str], None]


class SysfsWriter(Protocol):
    def write(self, path: str, value: str, deadline: float) -> None:
        """Write `value` to `path`; raise SysfsWriteError on failure or after `deadline` s."""


def os_write(path: str, value: str) -> None:
    """One write(2) of the whole value, as `echo` does (sysfs wants a single write)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class DeadlineWriter:
    """SysfsWriter that runs `raw_write` in a thread and gives up after the deadline."""

    def __init__(self, raw_write: RawWrite = os_write) -> None:
        self._raw_write = raw_write
        self._lock = threading.Lock()
        self._stuck: dict[str, float] = {}   # path -> monotonic time the stuck write started

    def stuck_paths(self) -> list[str]:
        with self._lock:
            return sorted(self._stuck)

    def write(self, path: str, value: str, deadline: float = DEFAULT_WRITE_DEADLINE) -> None:
        with self._lock:
            if path in self._stuck:
                since = time.monotonic() - self._stuck[path]
                raise SysfsWriteError(path, value, f"an earlier write to it has been hanging for {since:.1f}s")
        done = threading.Event()
        outcome: dict[str, BaseException] = {}
        started = time.monotonic()

        def work() -> None:
            try:
                self._raw_write(path, value)
            except BaseException as exc:  # reported to the caller below
                outcome["error"] = exc
            finally:
                with self._lock:
                    done.set()
                    if self._stuck.pop(path, None) is not None:
                        log.warning("hung sysfs write finally returned", extra={"phase": path})

        threading.Thread(target=work, name=f"sysfs-write:{path}", daemon=True).start()
        if not done.wait(deadline):
            with self._lock:
                if not done.is_set():
                    self._stuck[path] = started
                    log.error("sysfs write timed out", extra={"phase": path, "duration_ms": deadline * 1000})
                    raise SysfsWriteError(path, value, f"still blocked after {deadline:g}s", timed_out=True)
        error = outcome.get("error")
        if error is not None:
            reason = f"{os.strerror(error.errno)} (errno {error.errno})" if isinstance(error, OSError) and error.errno else str(error)
            raise SysfsWriteError(path, value, reason)
