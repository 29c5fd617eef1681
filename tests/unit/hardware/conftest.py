from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs


@pytest.fixture
def fs(tmp_path: Path) -> FakeSysfs:
    return FakeSysfs(tmp_path)


@pytest.fixture
def core(fs: FakeSysfs) -> Iterator[FakeDriverCore]:
    driver_core = FakeDriverCore(fs)
    yield driver_core
    driver_core.release()   # unblock any write a test left hanging


@pytest.fixture
def net() -> FakeNetState:
    return FakeNetState()
