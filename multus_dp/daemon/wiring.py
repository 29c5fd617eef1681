"""Builds the daemon's long-lived pieces in one place.

`build_parts` is where later layers plug in: Kubernetes watch caches (pod/network sources,
status publisher) when `kubeconfig` is set, the hardware model's readiness and VF pool
statistics. Everything else in the daemon only sees the resulting `DaemonParts`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from multus_dp.chain.runner import ChainRunner
from multus_dp.chain.services import Services, build_runner
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.networks.conf import MultusConf

from .config import ConfigError, DaemonConfig
from .metrics import DaemonMetrics, PoolStats

ReadyCheck = Callable[[], str | None]


@dataclass
class DaemonParts:
    services: Services
    # readiness beyond the runner's own checks: caches synced, hardware discovered
    ready_checks: list[ReadyCheck] = field(default_factory=list)
    pool_stats: PoolStats | None = None
    # name -> number of entries, for `multus-dp status`
    cache_sizes: Callable[[], dict[str, int]] | None = None

    def runner_factory(self) -> Callable[[MultusConf], ChainRunner]:
        """Runners share the daemon's services; a request's own delegateTimeout still applies
        (its own invoker over the shared VERSION cache)."""
        base = self.services

        def factory(conf: MultusConf) -> ChainRunner:
            services = base
            if conf.delegateTimeout != base.invoker.timeout:
                invoker = DelegateInvoker(executor=base.invoker.executor, timeout=conf.delegateTimeout,
                                          version_cache=base.invoker.versions, base_env=base.invoker.base_env)
                services = dataclasses.replace(base, invoker=invoker)
            return build_runner(conf, services)

        return factory


def build_parts(config: DaemonConfig, metrics: DaemonMetrics) -> DaemonParts:
    from multus_dp.chain.publish import FileStatusPublisher

    invoker = DelegateInvoker(timeout=config.delegateTimeout)
    services = Services(invoker=invoker, publisher=FileStatusPublisher(config.stateDir),
                        observe_phase=metrics.observe_phase)
    parts = DaemonParts(services=services, cache_sizes=lambda: {"delegateVersions": _version_cache_size(invoker)})
    if config.kubeconfig:
        _wire_kubernetes(config, parts)
    metrics.pool_stats = parts.pool_stats
    return parts


def _wire_kubernetes(config: DaemonConfig, parts: DaemonParts) -> None:
    """Kubernetes sources come from multus_dp.k8s once it provides `daemon_sources`
    (returning pod_source, network_source, publisher and a readiness check)."""
    try:
        from multus_dp.k8s import daemon_sources  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(f"kubeconfig {config.kubeconfig} is set but this build has no Kubernetes "
                          f"sources for the daemon ({exc})") from exc
    wired: dict[str, Any] = daemon_sources(config)
    parts.services.pod_source = wired.get("pod_source", parts.services.pod_source)
    parts.services.network_source = wired.get("network_source", parts.services.network_source)
    parts.services.publisher = wired.get("publisher", parts.services.publisher)
    if wired.get("ready_check"):
        parts.ready_checks.append(wired["ready_check"])


def _version_cache_size(invoker: DelegateInvoker) -> int:
    return len(getattr(invoker.versions, "_cache", {}))
