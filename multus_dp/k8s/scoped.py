"""NAD caches per namespace (`kubeNadScope: pod-namespaces`): a daemon watches the NADs of the
namespaces its own pods are in, plus `multusNamespace`, instead of every NAD of the cluster.

The trade-off: a NAD change reaches only the nodes running pods of its namespace, and a node
keeps only those NADs; but each namespace in use is one more LIST + WATCH per node (many
namespaces per node means many watches at the API server), and the first ADD in a namespace
new to the node may miss the cache and cost a GET. A namespace is watched from the moment a
pod of it shows up in this node's pod cache (or a lookup names it) until no pod of it has been
here for `kubeNadNamespaceIdle` seconds.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from multus_dp import logs

from .api import KubeApi
from .informer import Informer
from .kinds import NADS, trim_network_object
from .metrics import KubeMetrics
from .sources import PodInfo
from .store import Key, Store

log = logs.get("k8s.scoped")

class NamespacedNads:
    def __init__(self, api: KubeApi, metrics: KubeMetrics, backoff_max: float, pods: Store[PodInfo],
                 always: set[str], idle_after: float) -> None:
        self.api = api
        self.metrics = metrics
        self.backoff_max = backoff_max
        self.pods = pods
        self.always = set(always)
        self.idle_after = idle_after
        self._informers: dict[str, Informer] = {}
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        pods.on_change = self._wake.set   # a pod of a new namespace: watch its NADs now

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        for namespace in sorted(self.always):
            self._watch(namespace)
        self._thread = threading.Thread(target=self._run, name="nad-namespaces", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(min(self.idle_after, 60.0))
            self._wake.clear()
            if not self._stop.is_set():
                self.reconcile()

    def reconcile(self) -> None:
        """Watch the namespaces in use; stop watching those idle for `idle_after` seconds."""
        now = time.monotonic()
        in_use = {namespace for namespace, _ in self.pods.keys()} | self.always
        with self._lock:
            for namespace in in_use:
                self._last_used[namespace] = now
            idle = [ns for ns in self._informers if now - self._last_used.get(ns, now) > self.idle_after]
        for namespace in in_use:
            self._watch(namespace)
        for namespace in idle:
            with self._lock:
                informer = self._informers.pop(namespace, None)
                self._last_used.pop(namespace, None)
            if informer is not None:
                log.info("NADs of namespace %s: no pod here for %.0fs; watch stopped", namespace, self.idle_after)
                informer.stop(timeout=1.0)

    def _watch(self, namespace: str) -> Store[dict[str, Any]]:
        with self._lock:
            informer = self._informers.get(namespace)
            if informer is None:
                informer = Informer(self.api, NADS, Store(trim_network_object), self.metrics, self.backoff_max,
                                    namespace=namespace)
                self._informers[namespace] = informer
                self._last_used[namespace] = time.monotonic()
                informer.start()
            return informer.store

    # ---- what KubeNetworkSource and the daemon read --------------------------------------
    def for_namespace(self, namespace: str) -> Store[dict[str, Any]] | None:
        """The cache of this namespace's NADs; a namespace not watched yet starts its watch now
        and answers None (the caller GETs this once)."""
        with self._lock:
            informer = self._informers.get(namespace)
            self._last_used[namespace] = time.monotonic()
        if informer is None:
            self._watch(namespace)
            return None
        return informer.store

    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(self._informers)

    def _stores(self) -> list[Store[dict[str, Any]]]:
        with self._lock:
            return [i.store for i in self._informers.values()]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            informer = self._informers.get(namespace)
        return informer.store.get(namespace, name) if informer is not None else None

    def keys(self) -> list[Key]:
        return [key for store in self._stores() for key in store.keys()]

    def __len__(self) -> int:
        return sum(len(store) for store in self._stores())

    @property
    def synced(self) -> bool:
        """Readiness: the always-watched namespaces (multusNamespace) have been listed."""
        with self._lock:
            return all(self._informers[ns].store.synced for ns in self.always if ns in self._informers)

    @property
    def live(self) -> bool:
        return all(store.live for store in self._stores())

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            stores = [self._informers[ns].store for ns in self.always if ns in self._informers]
        return all(store.wait_synced(max(0.0, deadline - time.monotonic())) for store in stores)

    def not_synced(self) -> list[str]:
        with self._lock:
            return [f"NADs of namespace {ns}" for ns in sorted(self.always)
                    if ns in self._informers and not self._informers[ns].store.synced]
