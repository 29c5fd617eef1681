"""The long-lived pieces a runner is built from.

Thin mode builds them per call (`default_services`); the daemon builds them once and
passes the same `Services` to every request, so version caches, watch caches, hardware
model and kernel handles live across requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.k8s.sources import NetworkSource, PodSource
from multus_dp.networks.conf import MultusConf

from .delegates import BuiltinDelegate, Delegates
from .journal import JournalStore
from .publish import FileStatusPublisher, StatusPublisher
from .runner import ChainRunner, PhaseObserver


@dataclass
class Services:
    invoker: DelegateInvoker
    pod_source: PodSource | None = None
    network_source: NetworkSource | None = None
    publisher: StatusPublisher | None = None
    builtins: dict[str, BuiltinDelegate] = field(default_factory=dict)
    observe_phase: PhaseObserver | None = None
    # extra hooks (device-info lookup, readiness checks) added by later layers
    device_info: Callable[..., dict[str, Any] | None] | None = None
    ready_checks: list[Callable[[], str | None]] = field(default_factory=list)
    # (pod uid, resourceName) -> device IDs the kubelet assigned (the hardware module's checkpoint reader)
    device_ids: Callable[[str, str], list[str]] | None = None


def default_services(conf: MultusConf) -> Services:
    """Standalone services: no daemon, no Kubernetes (the daemon adds its own on top)."""
    from multus_dp.hardware.checkpoint import device_ids
    from multus_dp.k8s.standalone import DirectoryNetworkSource
    from multus_dp.sriov.builtin import sriov_builtins

    invoker = DelegateInvoker(timeout=conf.delegateTimeout)
    return Services(invoker=invoker, network_source=DirectoryNetworkSource(conf.networksDir),
                    publisher=FileStatusPublisher(conf.stateDir), builtins=sriov_builtins(conf, invoker),
                    device_ids=lambda uid, resource: device_ids(uid, resource, conf.kubeletCheckpoint))


def thin_services(conf: MultusConf) -> Services:
    """Thin mode (`multus-dp cni`, one process per call): the standalone services, with the
    Kubernetes sources doing plain GETs when a kubeconfig or an in-cluster config exists."""
    import os

    from multus_dp.cni.invoke import VersionCache
    from multus_dp.k8s import thin_sources

    services = default_services(conf)
    services.invoker.versions = VersionCache(os.path.join(conf.stateDir, "plugin-versions.json"))
    kube = thin_sources(conf)
    if kube:
        services.pod_source = kube["pod_source"]
        services.network_source = kube.get("network_source") or services.network_source
        services.publisher = kube.get("publisher") or services.publisher
    return services


def build_runner(conf: MultusConf, services: Services) -> ChainRunner:
    from multus_dp.networks.select import Selector

    selector = Selector(services.pod_source, services.network_source, services.device_ids)
    runner = ChainRunner(conf=conf, delegates=Delegates(services.invoker, services.builtins),
                         journals=JournalStore(conf.stateDir), select=selector,
                         publisher=services.publisher, observe_phase=services.observe_phase,
                         device_info=services.device_info, cluster_config=selector.cluster_config)
    for check in services.ready_checks:
        runner.add_ready_check(check)
    for builtin in services.builtins.values():
        if hasattr(builtin, "observe_phase"):  # built-ins report their own phases (allocation)
            builtin.observe_phase = services.observe_phase
    return runner
