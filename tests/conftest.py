from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fakeplugin import FakePluginDir
from tests.support.kubelet_standin import KubeletStandin, short_dir
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


@pytest.fixture
def kubelet() -> Iterator[KubeletStandin]:
    """A kubelet stand-in (Registration + PodResources over real gRPC) in a short temp dir."""
    standin = KubeletStandin(short_dir()).start()
    yield standin
    standin.stop()
    shutil.rmtree(standin.plugins_dir.parent, ignore_errors=True)
