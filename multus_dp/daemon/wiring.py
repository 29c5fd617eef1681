"""Builds the daemon's process context, once, at start.

`build_context` is where the long-lived parts come together (chain/context.py describes the
context): the delegate invoker and its VERSION cache, the Kubernetes watch caches (pod and
network sources, status publisher) when a kubeconfig or an in-cluster config exists, the
udev-fed hardware inventory the SR-IOV delegate and the VF pool metrics read, readiness
checks and stop hooks. Everything else in the daemon only sees the resulting ProcessContext.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from multus_dp import logs
from multus_dp.chain.context import ProcessContext
from multus_dp.cni.errors import CNIError
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.kubelet.assignments import for_conf as kubelet_assignments

from .config import ConfigError, DaemonConfig
from .nodehardware import NodeHardware
from .nodeprep_monitor import NodePrepMonitor
from .metrics import DaemonMetrics, PoolStat, PoolStats

if TYPE_CHECKING:
    from multus_dp.hardware.vfpools import VfPools
    from multus_dp.k8s.kube import KubeSources

log = logs.get("daemon.wiring")


def build_context(config: DaemonConfig, metrics: DaemonMetrics) -> ProcessContext:
    from multus_dp.hardware.vfpools import VfPools
    from multus_dp.sriov.builtin import SriovParts

    if config.chrootDir and not os.path.isdir(config.chrootDir):
        raise ConfigError(f"chrootDir {config.chrootDir} is not a directory: mount the host's / there")
    # chrootDir (Multus thick's key): delegates run with the host's root
    invoker = DelegateInvoker(timeout=config.delegateTimeout, root=config.chrootDir or "/")
    assignments = kubelet_assignments(config.podResourcesSocket, config.kubeletCheckpoint, config.podResourcesTimeout)
    kube = _kubernetes(config)
    hardware = NodeHardware(config.sysfsRoot, config.udev, config.hardwareRescanInterval)
    node_prep = NodePrepMonitor(config.stateDir, config.nodePrepPollInterval, hardware.rescan, kube)
    sriov = None
    if not config.sriovExternal:
        sriov = SriovParts(config, assignments, inventory=hardware.require, observe_phase=metrics.observe_phase,
                           not_ready=node_prep.sriov_problem)
    context = ProcessContext(keys=config, invoker=invoker, assignments=assignments, sriov=sriov, kube=kube,
                             observe_phase=metrics.observe_phase, owns_keys=True)
    if kube is not None:
        context.ready_checks.append(kube.not_ready_reason)
        context.stop_hooks.append(kube.stop)
        metrics.kube = kube.metrics   # the API load, publish backlog and cache sizes on /metrics and /status
    context.ready_checks.append(hardware.not_ready)
    context.stop_hooks.append(hardware.stop)
    _device_plugins(config, hardware, context, node_prep.sriov_problem)
    node_prep.start()
    context.stop_hooks.append(node_prep.stop)
    if os.path.exists(config.sriovPoolsConfig):
        pools = sriov.pools if sriov is not None else VfPools(config.sriovPoolsConfig, hardware.require)
        metrics.pool_stats = _pool_stats(config, pools, hardware)
    return context


def _device_plugins(config: DaemonConfig, hardware: NodeHardware, context: ProcessContext,
                    not_ready: Callable[[], str | None]) -> None:
    """The kubelet device plugins of the VF pools (unless `devicePlugin: false`; stopped with
    the context's stop hooks) and their state for `multus-dp status`."""
    from multus_dp.kubelet.start import device_plugin_status, start_device_plugins

    manager = None
    if hardware.inventory is not None:
        manager = start_device_plugins(config, hardware.inventory, context.stop_hooks, not_ready)
    elif config.devicePlugin:
        log.error("no device plugins: %s", hardware.not_ready())
    context.status_extras["kubelet"] = lambda: device_plugin_status(config, manager)


def _kubernetes(config: DaemonConfig) -> KubeSources | None:
    """Started watch caches of this node's pods, NADs and Networks plus the network-status
    publisher, when a kubeconfig or an in-cluster config exists (else None: the standalone
    sources of each request's config)."""
    from multus_dp.k8s import build_sources

    try:
        sources = build_sources(config, watch=True)
    except CNIError as exc:
        raise ConfigError(exc.msg) from exc
    if sources is not None:
        sources.start()
    return sources


def _pool_stats(config: DaemonConfig, pools: VfPools, hardware: NodeHardware) -> PoolStats:
    """VFs per pool and how many are allocated, for the metrics and `status`. The pool
    config is checked at start: a broken one stops the daemon with the reason."""
    from collections import Counter

    from multus_dp.hardware.allocator import VfAllocator

    try:
        pools.config()
    except CNIError as exc:
        raise ConfigError(exc.msg) from exc
    allocator = VfAllocator(config.stateDir)

    def stats() -> list[PoolStat]:
        if hardware.inventory is None:
            return []
        try:
            assigned = pools.assigned()
        except CNIError as exc:
            log.warning("VF pool statistics: %s", exc.msg)
            return []
        allocated = Counter(a.pool for a in allocator.records() if a.pool)
        return [PoolStat(name, len(bdfs), allocated.get(name, 0)) for name, bdfs in assigned.items()]

    return stats
