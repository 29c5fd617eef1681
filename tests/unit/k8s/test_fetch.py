"""A cache miss falls back to one GET with bounded retries."""
from __future__ import annotations

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.k8s.kinds import PODS
from multus_dp.k8s.sources import SourceUnavailable

from .emulator import pod


def test_transient_errors_are_retried(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources(watch=False, kubeGetRetries=3)
    emu.react(lambda k: k["get", k.resource("", "v1", "pods")][:2] << 503)
    mark = emu.mark()
    assert sources.pod_source.get_pod("ns1", "web").uid == "uid-web"
    assert len(emu.since(mark)) == 3


def test_retries_are_bounded_and_the_error_names_the_pod(emu, make_sources) -> None:
    sources = make_sources(watch=False, kubeGetRetries=2)
    emu.react(lambda k: k["get", k.resource("", "v1", "pods")] << 500)
    mark = emu.mark()
    with pytest.raises(SourceUnavailable) as err:
        sources.pod_source.get_pod("ns1", "web")
    assert "Pod ns1/web" in str(err.value) and "3 attempt(s)" in str(err.value)
    assert len(emu.since(mark)) == 3


def test_forbidden_is_not_retried_and_points_at_rbac(emu, make_sources) -> None:
    sources = make_sources(watch=False)
    emu.react(lambda k: k["get", k.resource("k8s.cni.cncf.io", "v1", "network-attachment-definitions")] << 403)
    mark = emu.mark()
    with pytest.raises(CNIError) as err:
        sources.network_source.get_nad("ns1", "net-a")
    assert err.value.code == 5 and "ns1/net-a" in err.value.msg and "RBAC" in err.value.msg
    assert len(emu.since(mark)) == 1


def test_missing_pod_is_none_not_an_error(emu, make_sources) -> None:
    sources = make_sources()
    assert sources.pod_source.get_pod("ns1", "gone", "uid-gone") is None
    assert sources.metrics.get("cache_misses") == 1
