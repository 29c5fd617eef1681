from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multus_dp.k8s import build_sources
from multus_dp.k8s.kube import KubeSources
from multus_dp.networks.conf import MultusConf

from .emulator import Emulator, write_kubeconfig

FAST = {"kubeConnectTimeout": 1.0, "kubeRequestTimeout": 2.0, "kubeTotalTimeout": 3.0, "kubeGetRetries": 2,
        "kubeGetRetryDelay": 0.05, "kubeBackoffMax": 0.3, "kubeWatchTimeout": 30, "nodeName": "node1"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    emulator = Emulator()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture
def kubeconfig(tmp_path: Path, emu: Emulator) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", emu.url, token="token-1")


@pytest.fixture
def make_sources(kubeconfig: Path) -> Iterator[Callable[..., KubeSources]]:
    started: list[KubeSources] = []

    def make(watch: bool = True, start: bool = True, **keys: Any) -> KubeSources:
        conf = MultusConf.model_validate({"kubeconfig": str(kubeconfig), **FAST, **keys})
        sources = build_sources(conf, watch=watch, env={})
        assert sources is not None
        if start:
            sources.start()
            started.append(sources)
            if watch:
                assert sources.wait_synced(10), sources.not_ready_reason()
        return sources

    yield make
    for sources in started:
        sources.stop(timeout=2)


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until check() returns something truthy (watches and the publisher are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
