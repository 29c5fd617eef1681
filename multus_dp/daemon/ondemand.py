"""The on-demand daemon's process context (thin mode: `multus-dp daemon --on-demand`, started
by the shim when no daemon listens; docs/modes.md).

Such a daemon has no config file: as in thin mode, each request's config is its process's,
so the process-owned keys (networks/conf.py PROCESS_KEYS: the Kubernetes and SR-IOV node keys)
come from the request. One process context is built per distinct set of those keys, the first
time a request brings it, and kept (a small LRU cache): requests with other keys get their own,
and a request never overrides another's. The contexts look things up the way thin mode does
(a Kubernetes GET per lookup, no watch cache to sync before the first ADD), keep the hardware
model as the node daemon does (discovered once, kept current by udev events and a periodic
rescan: no sysfs scan per request) and publish the network-status as the node daemon
does (queued right after the reply, retried, flushed when the daemon exits). They share one
VERSION cache, kept on disk under the daemon's state dir, so a daemon started after an idle
exit does not probe every plugin again.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any

from multus_dp import logs
from multus_dp.chain.context import ProcessContext, ReadyCheck
from multus_dp.chain.runner import ChainRunner
from multus_dp.cni.invoke import DelegateInvoker, VersionCache
from multus_dp.networks.conf import PROCESS_KEYS, MultusConf

from .config import DaemonConfig
from .metrics import DaemonMetrics
from .nodehardware import NodeHardware

log = logs.get("daemon.ondemand")

# distinct sets of process keys kept at once (a node normally has one CNI config, so one)
MAX_CONTEXTS = 16


def process_keys_of(conf: MultusConf) -> str:
    """The request's process-owned keys, as a cache key (JSON, keys sorted)."""
    return json.dumps({key: getattr(conf, key) for key in PROCESS_KEYS}, sort_keys=True, default=str)


class OnDemandContext(ProcessContext):
    """A ProcessContext whose `runner` picks (or builds) the context of the request's process
    keys and builds the runner there. Its own `invoker` holds the shared VERSION cache."""

    def __init__(self, config: DaemonConfig, metrics: DaemonMetrics) -> None:
        from multus_dp.kubelet.assignments import for_conf

        versions = VersionCache(os.path.join(config.stateDir, "plugin-versions.json"))
        super().__init__(keys=config, invoker=DelegateInvoker(timeout=config.delegateTimeout, version_cache=versions),
                         assignments=for_conf(config.podResourcesSocket, config.kubeletCheckpoint,
                                              config.podResourcesTimeout),
                         observe_phase=metrics.observe_phase)
        self._config = config
        self._contexts: OrderedDict[str, ProcessContext] = OrderedDict()
        self._building = threading.Lock()

    def runner(self, conf: MultusConf, ready: ReadyCheck | None = None) -> ChainRunner:
        context = self.context_for(conf)
        checks = ([ready] if ready is not None else []) + context.ready_checks
        return context.runner(conf, ready=_all(checks) if checks else None)

    def context_for(self, conf: MultusConf) -> ProcessContext:
        key = process_keys_of(conf)
        with self._building:   # a context is built once, also when two first requests race
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = self._build(conf)
                log.info("process context %d built for a request's process keys", len(self._contexts),
                         extra={"network": conf.name})
                if len(self._contexts) > MAX_CONTEXTS:
                    # its publisher flushes in the background; a request still running on it
                    # keeps its own references
                    _, evicted = self._contexts.popitem(last=False)
                    threading.Thread(target=evicted.stop, name="context-stop", daemon=True).start()
            self._contexts.move_to_end(key)
            return context

    def _build(self, conf: MultusConf) -> ProcessContext:
        from multus_dp.k8s import build_sources
        from multus_dp.kubelet.assignments import for_conf

        invoker = self.invoker_for(conf.delegateTimeout)
        assignments = for_conf(conf.podResourcesSocket, conf.kubeletCheckpoint, conf.podResourcesTimeout)
        sriov = None
        hardware = None
        if not conf.sriovExternal:
            from multus_dp.sriov.builtin import SriovParts

            hardware = NodeHardware(conf.sysfsRoot, self._config.udev, self._config.hardwareRescanInterval)
            sriov = SriovParts(conf, assignments, inventory=hardware.require, observe_phase=self.observe_phase)
        # thin mode's lookups (a GET each: nothing to sync before the first ADD, nothing stale);
        # the status is published as the node daemon does, right after the reply by worker threads
        # that retry, flushed when the daemon exits
        kube = build_sources(conf, watch=False, background_publish=True)
        context = ProcessContext(keys=conf, invoker=invoker, assignments=assignments, sriov=sriov, kube=kube,
                                 observe_phase=self.observe_phase)
        if hardware is not None:
            context.stop_hooks.append(hardware.stop)
        if kube is not None:
            kube.start()
            context.stop_hooks.append(kube.stop)
        return context

    def cache_sizes(self) -> dict[str, int]:
        with self._building:
            contexts = len(self._contexts)
        return {**super().cache_sizes(), "processContexts": contexts}

    def sriov_status(self) -> dict[str, Any]:
        """Each request's process keys bring their own SR-IOV parts (hardware read from sysfs
        when a request needs it): the first context whose SR-IOV is not ready says why."""
        with self._building:
            contexts = list(self._contexts.values())
        statuses = [context.sriov_status() for context in contexts if context.sriov is not None]
        if not contexts:
            return {"ready": True, "reason": None}
        if not statuses:
            return contexts[0].sriov_status()     # every request's config has sriovExternal
        return next((status for status in statuses if not status["ready"]), statuses[0])

    def stop(self) -> None:
        with self._building:
            contexts, self._contexts = list(self._contexts.values()), OrderedDict()
        for context in contexts:
            context.stop()
        super().stop()


def _all(checks: list[ReadyCheck]) -> ReadyCheck:
    def first_reason() -> str | None:
        for check in checks:
            reason = check()
            if reason:
                return reason
        return None
    return first_reason
