"""Prometheus metrics of the daemon, in a registry of its own (tests build as many as they like).

Names: multus_dp_cni_request_duration_seconds{command}, multus_dp_phase_duration_seconds{phase,type},
multus_dp_cni_errors_total{command,code}, multus_dp_cni_requests_in_flight,
multus_dp_vf_pool_size{pool}, multus_dp_vf_pool_allocated{pool}.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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

    def observe_phase(self, name: str, seconds: float, labels: dict[str, str]) -> None:
        """The ChainRunner hook: one call per phase of an operation."""
        self.phases.labels(phase=name, type=labels.get("type", "")).observe(seconds)

    def observe_request(self, command: str, seconds: float, exit_code: int, stdout: str) -> None:
        self.requests.labels(command=command or "none").observe(seconds)
        if exit_code != 0:
            self.errors.labels(command=command or "none", code=str(_error_code(stdout))).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _error_code(stdout: str) -> int:
    try:
        code = json.loads(stdout).get("code")
    except (ValueError, AttributeError):
        return 100
    return code if isinstance(code, int) else 100
