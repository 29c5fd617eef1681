"""The API load the daemon reports about itself (/metrics and /status) matches the emulator's
own request log: requests by verb, resource and code, the publish backlog, cache sizes."""
from __future__ import annotations

import time
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from multus_dp.daemon.metrics import DaemonMetrics
from multus_dp.k8s.kinds import NADS, PODS
from multus_dp.networks.attachment import PodRef

from .emulator import pod
from .test_caches import nad
from .test_publisher import ENTRY


def samples(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def emulator_log(emu) -> Counter[tuple[str, str]]:
    """(verb, resource) of multus-dp's requests as the API server saw them."""
    counted: Counter[tuple[str, str]] = Counter()
    for r in emu.requests():
        parts = [p for p in r.path.split("/") if p]
        if "namespaces" in parts:
            parts = parts[parts.index("namespaces") + 2:]
        elif parts[0] == "apis":
            parts = parts[3:] or ["discovery"]
        else:
            parts = parts[2:]
        resource = "/".join(parts[:1] + parts[2:3])
        verb = {"PATCH": "patch", "POST": "create"}.get(r.method) or (
            "watch" if r.watch else "list" if len(parts) == 1 and r.method == "GET" and resource != "discovery"
            else "get")
        counted[(verb, resource)] += 1
    return counted


def test_metrics_count_what_the_api_server_saw(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    emu.seed(NADS, nad("net-a"))
    emu.seed(NADS, nad("net-b", namespace="ns2"))
    sources = make_sources()
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", ENTRY)
    assert sources.publisher.flush(10)
    assert sources.pod_source.get_pod("ns1", "ghost") is None      # a miss: one GET answered 404
    metrics = DaemonMetrics()
    metrics.kube = sources.metrics
    seen = samples(metrics)
    ours = Counter({(dict(k)["verb"], dict(k)["resource"]): int(v) for (name, k), v in seen.items()
                    if name == "multus_dp_api_requests_total"})
    assert ours == emulator_log(emu)
    assert seen[("multus_dp_api_requests_total", (("code", "404"), ("resource", "pods"), ("verb", "get")))] == 1
    assert seen[("multus_dp_api_requests_total", (("code", "200"), ("resource", "pods/status"),
                                                  ("verb", "patch")))] == 1
    assert seen[("multus_dp_cache_objects", (("cache", "nads"),))] == 2
    assert seen[("multus_dp_cache_objects", (("cache", "pods"),))] == 1
    assert seen[("multus_dp_publish_backlog", ())] == 0
    assert seen[("multus_dp_network_status_publishes_total", (("result", "ok"),))] == 1
    assert seen[("multus_dp_events_total", (("result", "ok"),))] == 1
    assert seen[("multus_dp_api_watch_restarts_total", ())] == 0
    status = metrics.kube_status()
    assert status is not None
    assert status["caches"] == {"pods": 1, "nads": 2, "networks": 0}
    assert status["publishBacklog"] == 0 and status["counters"]["publish_ok"] == 1
    assert status["requests"]["patch pods/status 200"] == 1


def test_no_kubernetes_no_api_families() -> None:
    metrics = DaemonMetrics()
    assert metrics.kube_status() is None
    assert b"multus_dp_api_requests" not in metrics.exposition()


def test_the_daemon_exports_its_api_load(emu, kubeconfig, tmp_path) -> None:
    """Wired for real: a daemon with a kubeconfig shows the API counters on /metrics and under
    `kubernetes` in /status."""
    from multus_dp.daemon.config import DaemonConfig
    from multus_dp.daemon.protocol import DaemonClient
    from multus_dp.daemon.server import Daemon

    emu.seed(PODS, pod("web", node="node1"))
    daemon = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                                 metricsAddress="", kubeconfig=str(kubeconfig), nodeName="node1",
                                 sysfsRoot=str(tmp_path)))
    daemon.start()
    try:
        client = DaemonClient(daemon.config.socketPath)
        deadline = time.monotonic() + 30
        while not client.ready()[0] and time.monotonic() < deadline:   # the caches' first LIST
            time.sleep(0.05)
        status = client.status()
        assert status["kubernetes"] is not None
        text = client.metrics()
        assert 'multus_dp_api_requests_total{code="200",resource="pods",verb="list"}' in text
        assert "multus_dp_publish_backlog" in text
    finally:
        daemon.stop()
