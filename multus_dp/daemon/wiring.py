"""Builds the daemon's long-lived pieces in one place.

`build_parts` is where later layers plug in: Kubernetes watch caches (pod/network sources,
status publisher) when a kubeconfig or in-cluster config exists, the hardware model's
readiness and VF pool statistics. Everything else in the daemon only sees the resulting `DaemonParts`.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from multus_dp.chain.runner import ChainRunner
from multus_dp.chain.services import Services, build_runner, default_services
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.networks.conf import MultusConf

from .config import ConfigError, DaemonConfig
from .metrics import DaemonMetrics, PoolStat, PoolStats

ReadyCheck = Callable[[], str | None]


@dataclass
class DaemonParts:
    services: Services
    # readiness beyond the runner's own checks: caches synced, hardware discovered
    ready_checks: list[ReadyCheck] = field(default_factory=list)
    pool_stats: PoolStats | None = None
    # name -> number of entries, for `multus-dp status`
    cache_sizes: Callable[[], dict[str, int]] | None = None
    # called once on shutdown, after in-flight work finished (flush publishes, stop watches)
    stop_hooks: list[Callable[[], None]] = field(default_factory=list)

    def runner_factory(self) -> Callable[[MultusConf], ChainRunner]:
        """Runners for each request's conf. The daemon's long-lived pieces win (shared VERSION
        cache, Kubernetes sources, hooks); where it has none, the request's conf gives the
        standalone ones exactly as in thin mode (networksDir, stateDir), cached per directory."""
        base = self.services
        invokers: dict[float, DelegateInvoker] = {base.invoker.timeout: base.invoker}
        network_sources: dict[str, Any] = {}
        guard = threading.Lock()

        def factory(conf: MultusConf) -> ChainRunner:
            local = default_services(conf)
            with guard:
                invoker = invokers.setdefault(conf.delegateTimeout, DelegateInvoker(
                    executor=base.invoker.executor, timeout=conf.delegateTimeout, root=base.invoker.root,
                    version_cache=base.invoker.versions, base_env=base.invoker.base_env))
                network_source = base.network_source or network_sources.setdefault(conf.networksDir,
                                                                                   local.network_source)
            services = dataclasses.replace(
                local, invoker=invoker, network_source=network_source,
                pod_source=base.pod_source or local.pod_source, publisher=base.publisher or local.publisher,
                builtins={**local.builtins, **base.builtins}, observe_phase=base.observe_phase,
                device_info=base.device_info or local.device_info, device_ids=base.device_ids or local.device_ids,
                ready_checks=[*local.ready_checks, *base.ready_checks])
            return build_runner(conf, services)

        return factory


def build_parts(config: DaemonConfig, metrics: DaemonMetrics) -> DaemonParts:
    if config.chrootDir and not os.path.isdir(config.chrootDir):
        raise ConfigError(f"chrootDir {config.chrootDir} is not a directory: mount the host's / there")
    invoker = DelegateInvoker(timeout=config.delegateTimeout, root=config.chrootDir or "/")
    services = Services(invoker=invoker, observe_phase=metrics.observe_phase)
    parts = DaemonParts(services=services, cache_sizes=lambda: {"delegateVersions": _version_cache_size(invoker)})
    _wire_kubernetes(config, parts)
    _wire_hardware(config, parts)
    metrics.pool_stats = parts.pool_stats
    return parts


def _wire_hardware(config: DaemonConfig, parts: DaemonParts) -> None:
    """Discover the node's PFs/VFs (a failure keeps /readyz false with the reason), keep the
    model current with udev events and a periodic rescan, and count VFs per pool for the
    metrics and `status`."""
    import os

    from multus_dp import logs
    from multus_dp.hardware.inventory import Inventory
    from multus_dp.hardware.udev import QueueEventSource, UdevWatcher

    log = logs.get("daemon.hardware")
    found: dict[str, Any] = {}

    def discover() -> None:
        if not os.path.isdir(config.sysfsRoot):
            found["error"] = f"hardware discovery: sysfsRoot {config.sysfsRoot} is not a directory"
            log.error(found["error"])
            return
        try:
            inventory = Inventory(config.sysfsRoot)
        except Exception as exc:
            log.exception("hardware discovery failed")
            found["error"] = f"hardware discovery under {config.sysfsRoot} failed: {exc}"
            return
        source: Any = QueueEventSource()  # no events: the periodic rescan alone
        if config.udev:
            try:
                from multus_dp.hardware.udev import PyudevEventSource

                source = PyudevEventSource()
            except Exception as exc:
                log.warning("no udev events (%s); relying on the periodic rescan", exc)
        watcher = UdevWatcher(inventory, source, rescan_interval=config.hardwareRescanInterval)
        watcher.start()
        found["watcher"] = watcher
        found["inventory"] = inventory
        log.info("hardware discovered: %d PF(s), %d VF(s)", len(inventory.model.pfs), len(inventory.model.vfs))

    def stop() -> None:
        if "watcher" in found:
            found["watcher"].stop()

    def not_ready() -> str | None:
        if "inventory" in found:
            return None
        return found.get("error") or "hardware not discovered yet"

    # before the socket exists: the first ADD finds the model there (a scan of 4 PFs x 64 VFs
    # takes ~30 ms); a failure leaves the daemon up but not ready, with the reason
    discover()
    parts.ready_checks.append(not_ready)
    parts.stop_hooks.append(stop)
    if os.path.exists(config.sriovPoolsConfig):
        parts.pool_stats = _pool_stats(config, found)


def _pool_stats(config: DaemonConfig, found: dict[str, Any]) -> PoolStats:
    from collections import Counter

    from multus_dp.cni.errors import CNIError
    from multus_dp.hardware import pools
    from multus_dp.hardware.allocator import VfAllocator

    try:
        pools_config = pools.load(config.sriovPoolsConfig)
    except CNIError as exc:
        raise ConfigError(exc.msg) from exc

    def stats() -> list[PoolStat]:
        inventory = found.get("inventory")
        if inventory is None:
            return []
        assigned = pools_config.assign(inventory.model)
        allocated = Counter(a.pool for a in VfAllocator(config.stateDir).records() if a.pool)
        return [PoolStat(name, len(bdfs), allocated.get(name, 0)) for name, bdfs in assigned.items()]

    return stats


def _wire_kubernetes(config: DaemonConfig, parts: DaemonParts) -> None:
    """Watch caches of this node's pods, NADs and Networks plus the network-status publisher,
    when a kubeconfig or an in-cluster config exists (else nothing: standalone sources)."""
    from multus_dp.cni.errors import CNIError
    from multus_dp.k8s import daemon_sources

    try:
        wired: dict[str, Any] = daemon_sources(config)
    except CNIError as exc:
        raise ConfigError(exc.msg) from exc
    if not wired:
        return
    parts.services.pod_source = wired["pod_source"]
    parts.services.network_source = wired["network_source"]
    parts.services.publisher = wired["publisher"]
    parts.ready_checks.append(wired["ready_check"])
    parts.stop_hooks.append(wired["stop"])
    sources, own_sizes = wired.get("sources"), parts.cache_sizes

    def sizes() -> dict[str, int]:
        out = own_sizes() if own_sizes else {}
        for name in ("pod_store", "nad_store", "network_store"):
            store = getattr(sources, name, None)
            if store is not None:
                out[name.replace("_store", "s")] = len(store)
        return out

    parts.cache_sizes = sizes


def _version_cache_size(invoker: DelegateInvoker) -> int:
    return len(getattr(invoker.versions, "_cache", {}))
