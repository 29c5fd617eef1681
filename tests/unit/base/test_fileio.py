"""The one way to replace a file, and the cleanup of what a killed writer left."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from multus_dp.base.fileio import atomic_write, remove_stale_temps


def test_atomic_write_replaces_the_file_with_exactly_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "new-dir" / "state.json"
    atomic_write(target, "one", mode=0o640)
    atomic_write(target, b"two", mode=0o600, durable=False)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["state.json"]   # no temp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, "old")
    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_remove_stale_temps_removes_only_that_files_temps(tmp_path: Path) -> None:
    names = [".pod_a.json.0badc0de.tmp", ".pod_a.json.12345678.tmp",   # a's leftovers
             ".pod_ab.json.12345678.tmp", ".pod_a.json.keep", "pod_a.json"]
    for name in names:
        (tmp_path / name).write_text("x")
    remove_stale_temps(tmp_path / "pod_a.json")
    assert sorted(os.listdir(tmp_path)) == [".pod_a.json.keep", ".pod_ab.json.12345678.tmp", "pod_a.json"]
    remove_stale_temps(tmp_path / "missing-dir" / "x.json")   # nothing there: no error
