"""The process context: the long-lived parts every request's runner is built from, built
once per process.

The daemon builds one at start from its config (daemon/wiring.py); thin mode, one process
per CNI call, builds one per call from the request's config (`thin_context`). Per request
only the ChainRunner is built (`ProcessContext.runner`), from the context and the request's
own config. docs/development/architecture.md draws the object graph.

Which config keys the process owns and which a request owns is written down once, in
networks/conf.py (PROCESS_KEYS, REQUEST_KEYS). A request-owned key whose value needs a
long-lived part gets one per value, kept here: networksDir -> its directory source (when
there is no Kubernetes), delegateTimeout -> an invoker sharing the VERSION cache.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multus_dp import logs
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.hardware.assignments import DeviceAssignments
from multus_dp.networks.conf import PROCESS_KEYS, MultusConf, ProcessKeys

from .delegates import BuiltinDelegate, Delegates
from .journal import JournalStore
from .publish import FileStatusPublisher, StatusPublisher
from .runner import ChainRunner, PhaseObserver

if TYPE_CHECKING:
    from multus_dp.k8s.kube import KubeSources
    from multus_dp.k8s.sources import NetworkSource
    from multus_dp.networks.attachment import Attachment
    from multus_dp.sriov.builtin import SriovParts

log = logs.get("context")

ReadyCheck = Callable[[], str | None]                                   # None: ready, else the reason
DeviceInfoLookup = Callable[["Attachment", str], dict[str, Any] | None]  # (attachment, container ID)


@dataclass(eq=False)
class ProcessContext:
    keys: ProcessKeys                     # the process-owned keys: the daemon config, or thin mode's request
    invoker: DelegateInvoker              # runs delegates; owns the VERSION cache
    assignments: DeviceAssignments        # which devices the kubelet gave a pod
    sriov: SriovParts | None = None       # None: `"type": "sriov"` is exec'd like any plugin (sriovExternal)
    kube: KubeSources | None = None       # None: standalone sources (networksDir, status files)
    observe_phase: PhaseObserver | None = None
    device_info: DeviceInfoLookup | None = None
    # why an ADD cannot be served now (caches not synced, hardware not discovered)
    ready_checks: list[ReadyCheck] = field(default_factory=list)
    # run once by stop(): flush publishes, stop watches and the udev watcher
    stop_hooks: list[Callable[[], None]] = field(default_factory=list)
    # daemon mode: a request's values for the process-owned keys are replaced by ours
    owns_keys: bool = False
    # more sections of `multus-dp status`: name -> its current state (the kubelet device plugins)
    status_extras: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._invokers: dict[float, DelegateInvoker] = {self.invoker.timeout: self.invoker}
        self._network_sources: dict[str, NetworkSource] = {}
        self._own_values = {key: getattr(self.keys, key) for key in PROCESS_KEYS}
        self._warned: set[tuple[str, str]] = set()

    # ---- per request ---------------------------------------------------------------------
    def runner(self, conf: MultusConf, ready: ReadyCheck | None = None) -> ChainRunner:
        """The runner for one request. `ready`: the one check an ADD asks (the daemon's
        readiness, which includes `ready_checks`); else each of `ready_checks`."""
        from multus_dp.networks.select import Selector

        conf = self.own_keys(conf)
        invoker = self.invoker_for(conf.delegateTimeout)
        kube = self.kube
        if kube is not None:
            selector = Selector(kube.pod_source, kube.network_source, self.assignments.device_ids)
        else:
            selector = Selector(None, self.network_source_for(conf.networksDir), self.assignments.device_ids)
        builtins: dict[str, BuiltinDelegate] = {}
        if self.sriov is not None:
            from multus_dp.sriov.builtin import SRIOV_TYPE

            builtins[SRIOV_TYPE] = self.sriov.builtin(conf.stateDir, invoker)
        publisher: StatusPublisher = kube.publisher if kube is not None else FileStatusPublisher(conf.stateDir)
        runner = ChainRunner(conf=conf, delegates=Delegates(invoker, builtins),
                             # per request: its write lock serializes one pod's parallel delegates only
                             journals=JournalStore(conf.stateDir), select=selector,
                             publisher=publisher,
                             observe_phase=self.observe_phase, device_info=self.device_info,
                             cluster_config=selector.cluster_config)
        for check in [ready] if ready is not None else self.ready_checks:
            runner.add_ready_check(check)
        return runner

    def own_keys(self, conf: MultusConf) -> MultusConf:
        """The request's config with the process-owned keys set to ours (daemon mode); the
        request keeps the keys it owns (networks/conf.py REQUEST_KEYS)."""
        if not self.owns_keys or conf is self.keys:
            return conf
        for key in conf.model_fields_set.intersection(PROCESS_KEYS):
            value, ours = getattr(conf, key), self._own_values[key]
            if value != ours and (key, repr(value)) not in self._warned:
                self._warned.add((key, repr(value)))
                log.warning("the request's %s=%r is not used: the daemon's config owns that key (%r)",
                            key, value, ours)
        return conf.model_copy(update=self._own_values)

    def invoker_for(self, timeout: float) -> DelegateInvoker:
        """An invoker with the request's delegateTimeout, sharing our VERSION cache."""
        invoker = self._invokers.get(timeout)
        if invoker is None:
            with self._lock:
                invoker = self._invokers.get(timeout)
                if invoker is None:
                    invoker = self._invokers[timeout] = DelegateInvoker(
                        executor=self.invoker.executor, timeout=timeout, root=self.invoker.root,
                        version_cache=self.invoker.versions, base_env=self.invoker.base_env)
        return invoker

    def network_source_for(self, networks_dir: str) -> NetworkSource:
        """The standalone network source of a request's networksDir (it reloads on change)."""
        source = self._network_sources.get(networks_dir)
        if source is None:
            from multus_dp.k8s.standalone import DirectoryNetworkSource

            with self._lock:
                source = self._network_sources.setdefault(networks_dir, DirectoryNetworkSource(networks_dir))
        return source

    # ---- the process ---------------------------------------------------------------------
    def sriov_status(self) -> dict[str, Any]:
        """SR-IOV readiness for `multus-dp status`, on its own: a failed node-prep never makes
        the daemon unready."""
        if self.sriov is None:
            return {"ready": False, "reason": "the built-in SR-IOV delegate is off (sriovExternal)"}
        problem = self.sriov.not_ready()
        return {"ready": problem is None, "reason": problem}

    def cache_sizes(self) -> dict[str, int]:
        """Cache name -> entries, for `multus-dp status`."""
        sizes = {"delegateVersions": self.invoker.versions.size()}
        kube = self.kube
        if kube is not None:
            for name, store in (("pods", kube.pod_store), ("nads", kube.nad_store), ("networks", kube.network_store)):
                if store is not None:
                    sizes[name] = len(store)
        return sizes

    def stop(self) -> None:
        """Run the stop hooks once, each even when an earlier one fails."""
        hooks, self.stop_hooks = self.stop_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("stop hook failed")


def standalone_context(conf: MultusConf) -> ProcessContext:
    """A context from a plugin config alone: no daemon, no Kubernetes, the VERSION cache in
    memory. Thin mode adds its own on top (`thin_context`)."""
    invoker = DelegateInvoker(timeout=conf.delegateTimeout)
    return _from_conf(conf, invoker, kube=None)


def thin_context(conf: MultusConf) -> ProcessContext:
    """Thin mode (`multus-dp cni`, one process per call): the request's config is the
    process's; the VERSION cache is kept on disk under stateDir (each plugin is probed once,
    not on every call) and the Kubernetes sources do plain GETs when a kubeconfig or an
    in-cluster config exists."""
    from multus_dp.cni.invoke import VersionCache
    from multus_dp.k8s import build_sources

    versions = VersionCache(os.path.join(conf.stateDir, "plugin-versions.json"))
    invoker = DelegateInvoker(timeout=conf.delegateTimeout, version_cache=versions)
    return _from_conf(conf, invoker, kube=build_sources(conf, watch=False))


def _from_conf(conf: MultusConf, invoker: DelegateInvoker, kube: KubeSources | None) -> ProcessContext:
    from multus_dp.kubelet.assignments import for_conf

    assignments = for_conf(conf.podResourcesSocket, conf.kubeletCheckpoint, conf.podResourcesTimeout)
    sriov = None
    if not conf.sriovExternal:
        from multus_dp.sriov.builtin import SriovParts

        sriov = SriovParts(conf, assignments)   # thin: the inventory is one scan, on the first pool lookup
    return ProcessContext(keys=conf, invoker=invoker, assignments=assignments, sriov=sriov, kube=kube)
