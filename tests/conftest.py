from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakeplugin import FakePluginDir
from tests.support.netns import NetLab
from tests.support.prereq import require_root

TIERS = ("unit", "integration", "e2e", "lab", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test gets the marker of the tier folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def fake_plugins(tmp_path: Path) -> FakePluginDir:
    return FakePluginDir(tmp_path)


@pytest.fixture
def netlab():
    require_root()
    lab = NetLab()
    try:
        yield lab
    finally:
        lab.cleanup()
