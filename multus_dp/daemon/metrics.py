"""Prometheus metrics of the daemon, in a registry of its own (tests build as many as they like).

Names: multus_dp_cni_request_duration_seconds{command}, multus_dp_phase_duration_seconds{phase,type},
multus_dp_cni_errors_total{command,code}, multus_dp_cni_requests_in_flight,
multus_dp_vf_pool_size{pool}, multus_dp_vf_pool_allocated{pool}; with Kubernetes sources
attached (`DaemonMetrics.kube = sources.metrics`) the API load: multus_dp_api_requests_total
{verb,resource,code}, multus_dp_api_watch_restarts_total, multus_dp_api_relists_total,
multus_dp_cache_lookups_total{result}, multus_dp_network_status_publishes_total{result},
multus_dp_events_total{result}, multus_dp_api_credential_reloads_total, multus_dp_publish_backlog,
multus_dp_publish_oldest_seconds, multus_dp_cache_objects{cache}.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from multus_dp.k8s.metrics import KubeMetrics

# CNI operations take from a millisecond (VERSION) to tens of seconds (VF + slow IPAM)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class PoolStat:
    pool: str
    size: int
    allocated: int


PoolStats = Callable[[], list[PoolStat]]


class _PoolCollector(Collector):
    def __init__(self, source: Callable[[], PoolStats | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("multus_dp_vf_pool_size", "VFs in a pool", labels=["pool"])
        allocated = GaugeMetricFamily("multus_dp_vf_pool_allocated", "VFs of a pool handed to pods",
                                      labels=["pool"])
        stats = self._source()
        for stat in stats() if stats else []:
            size.add_metric([stat.pool], stat.size)
            allocated.add_metric([stat.pool], stat.allocated)
        yield size
        yield allocated


class _KubeCollector(Collector):
    """The Kubernetes layer's counters (k8s/metrics.py) as Prometheus families, read at scrape time."""

    COUNTERS = (("multus_dp_api_watch_restarts", "Watch streams that ended in an error", "watch_restarts"),
                ("multus_dp_api_relists", "Full LISTs after the first (410 Gone, reconnects)", "relists"),
                ("multus_dp_api_credential_reloads", "Credentials re-read (file change, 401)", "credential_reloads"))
    BY_RESULT = (("multus_dp_cache_lookups", "Pod/network lookups: answered by a watch cache or by a GET",
                  {"hit": "cache_hits", "miss": "cache_misses"}),
                 ("multus_dp_network_status_publishes", "network-status patches: landed, failed attempts "
                  "(retried), dropped (pod gone/re-created), skipped (DEL of a pod being deleted)",
                  {"ok": "publish_ok", "failed": "publish_failures", "dropped": "publish_dropped",
                   "skipped": "publish_skipped"}),
                 ("multus_dp_events", "AddedInterface events sent or failed", {"ok": "events_ok",
                                                                               "failed": "events_failed"}))

    def __init__(self, source: Callable[[], KubeMetrics | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        kube = self._source()
        if kube is None:
            return
        requests = CounterMetricFamily("multus_dp_api_requests", "Kubernetes API requests by verb, resource and "
                                       "HTTP status (\"error\": no answer)", labels=["verb", "resource", "code"])
        for (verb, resource, code), n in sorted(kube.requests().items()):
            requests.add_metric([verb, resource, code], n)
        yield requests
        counts = kube.snapshot()
        for name, doc, key in self.COUNTERS:
            yield CounterMetricFamily(name, doc, value=counts[key])
        for name, doc, keys in self.BY_RESULT:
            family = CounterMetricFamily(name, doc, labels=["result"])
            for result, key in keys.items():
                family.add_metric([result], counts[key])
            yield family
        yield GaugeMetricFamily("multus_dp_publish_backlog", "network-status publishes queued or in flight",
                                value=counts["publish_pending"])
        yield GaugeMetricFamily("multus_dp_publish_oldest_seconds", "Age of the oldest queued network-status change",
                                value=kube.oldest_pending())
        sizes = GaugeMetricFamily("multus_dp_cache_objects", "Objects in each watch cache", labels=["cache"])
        for cache, n in sorted(kube.cache_sizes().items()):
            sizes.add_metric([cache], n)
        yield sizes


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram("multus_dp_cni_request_duration_seconds", "CNI requests by command",
                                  ["command"], buckets=BUCKETS, registry=self.registry)
        self.phases = Histogram("multus_dp_phase_duration_seconds",
                                "Phases of an operation (selection, allocation, delegate by type, publish)",
                                ["phase", "type"], buckets=BUCKETS, registry=self.registry)
        self.errors = Counter("multus_dp_cni_errors", "CNI requests that failed, by CNI error code",
                              ["command", "code"], registry=self.registry)
        self.in_flight = Gauge("multus_dp_cni_requests_in_flight", "CNI requests being handled or queued",
                               registry=self.registry)
        self.pool_stats: PoolStats | None = None
        self.registry.register(_PoolCollector(lambda: self.pool_stats))
        # the Kubernetes sources' counters (`KubeSources.metrics`), when the daemon has any
        self.kube: KubeMetrics | None = None
        self.registry.register(_KubeCollector(lambda: self.kube))

    def observe_phase(self, name: str, seconds: float, labels: dict[str, str]) -> None:
        """The ChainRunner hook: one call per phase of an operation."""
        self.phases.labels(phase=name, type=labels.get("type", "")).observe(seconds)

    def observe_request(self, command: str, seconds: float, exit_code: int, stdout: str) -> None:
        self.requests.labels(command=command or "none").observe(seconds)
        if exit_code != 0:
            self.errors.labels(command=command or "none", code=str(_error_code(stdout))).inc()

    def kube_status(self) -> dict[str, Any] | None:
        """The API load for /status (None without Kubernetes sources)."""
        return self.kube.status() if self.kube is not None else None

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _error_code(stdout: str) -> int:
    try:
        code = json.loads(stdout).get("code")
    except (ValueError, AttributeError):
        return 100
    return code if isinstance(code, int) else 100
