"""The legacy `Network` informer asks API discovery before it lists, and while the CRD is not
installed it neither lists nor watches: no request per backoff period, none per lookup."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from multus_dp.k8s.kinds import NETWORKS

from .conftest import eventually
from .emulator import Emulator

BACKOFF = 0.1   # kubeBackoffMax in these tests: the old code listed every 0.1 s
DISCOVERY = "/apis/kubernetes.com/v1"


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    emulator = Emulator(legacy_crd=getattr(request, "param", False))
    try:
        yield emulator
    finally:
        emulator.close()


def network_requests(emu: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests() if "kubernetes.com" in r.path]


def test_no_network_list_when_the_crd_is_not_installed(emu, make_sources) -> None:
    sources = make_sources(kubeBackoffMax=BACKOFF)
    assert sources.network_store.absent and sources.synced()
    time.sleep(BACKOFF * 15)   # many backoff periods of a steady state
    assert network_requests(emu) == [f"GET {DISCOVERY}"]
    mark = emu.mark()
    assert sources.network_source.get_network("default", "flannel") is None   # an answer, no request
    assert emu.since(mark) == []
    assert sources.metrics.get("discovery_checks") == 1
    assert sources.metrics.requests().get(("get", "discovery", "404")) == 1


def test_discovery_is_asked_again_after_the_recheck_interval(emu, make_sources) -> None:
    sources = make_sources(kubeBackoffMax=BACKOFF, kubeLegacyNetworksRecheck=0.3)
    eventually(lambda: len(network_requests(emu)) >= 3, what="discovery re-checks")
    assert set(network_requests(emu)) == {f"GET {DISCOVERY}"}   # never a LIST while absent
    assert sources.network_store.absent


def test_the_crd_installed_later_is_watched_after_the_recheck(emu, make_sources) -> None:
    sources = make_sources(kubeBackoffMax=BACKOFF, kubeLegacyNetworksRecheck=0.3)
    assert sources.network_store.absent
    emu.seed(NETWORKS, {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                        "metadata": {"name": "flannel", "namespace": "default"}, "plugin": "flannel", "args": "[]"})
    eventually(lambda: sources.network_store.get("default", "flannel"), what="the CRD to be discovered and listed")
    assert not sources.network_store.absent
    seen = network_requests(emu)
    assert "GET /apis/kubernetes.com/v1/networks" in seen and seen[0] == f"GET {DISCOVERY}"


@pytest.mark.parametrize("emu", [True], indirect=True)
def test_an_installed_crd_is_listed_and_watched_once_discovered(emu, make_sources) -> None:
    sources = make_sources(kubeBackoffMax=BACKOFF)
    assert not sources.network_store.absent
    seen = network_requests(emu)
    assert seen[:2] == [f"GET {DISCOVERY}", "GET /apis/kubernetes.com/v1/networks"]


def test_discovery_forbidden_falls_back_to_the_list(emu, make_sources) -> None:
    emu.react(lambda k: k["get /apis/kubernetes.com/v1"] << 403)
    sources = make_sources(kubeBackoffMax=BACKOFF)
    assert sources.network_store.absent and sources.synced()          # the LIST's 404 decided
    assert network_requests(emu)[:2] == [f"GET {DISCOVERY}", "GET /apis/kubernetes.com/v1/networks"]
