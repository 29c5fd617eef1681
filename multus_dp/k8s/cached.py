"""PodSource and NetworkSource over the API: the watch cache first, else one GET.

With a warm cache a lookup makes no request at all. A pod miss (a pod created a moment
ago: kubelet and our watch learn of it at the same time), a cache still syncing or
disconnected, and thin mode without any cache fall back to a GET, retried on
transient errors with a doubling delay, `kubeGetRetries` times at most and never past
`kubeTotalTimeout`. When even that fails the source raises SourceUnavailable (the ADD
answers "try again later"); a 404 is an answer: the object does not exist.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from multus_dp import logs
from multus_dp.cni.errors import CNIError, Code

from .api import ApiError, KubeApi
from .kinds import NADS, NETWORKS, PODS, Kind, pod_info, trim_network_object, uid_matches
from .metrics import KubeMetrics
from .scoped import NamespacedNads
from .settings import KubeSettings
from .sources import PodInfo, SourceUnavailable
from .store import Store

log = logs.get("k8s.sources")


class Fetcher:
    """One GET with bounded retries."""

    def __init__(self, api: KubeApi, settings: KubeSettings, stop: threading.Event | None = None) -> None:
        self.api = api
        self.settings = settings
        self._stop = stop or threading.Event()

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"{kind.kind} {namespace}/{name}"
        deadline = time.monotonic() + self.settings.kubeTotalTimeout
        delay = self.settings.kubeGetRetryDelay
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.api.get(kind, namespace, name)
            except ApiError as err:
                if err.status in (401, 403):
                    raise CNIError(Code.IO_FAILURE, f"the API refused to read {what}: {err} (check multus-dp's "
                                   f"credentials and RBAC: get/list/watch {kind.plural})") from err
                left = deadline - time.monotonic()
                if not err.transient or attempt > self.settings.kubeGetRetries or left <= delay:
                    raise SourceUnavailable(f"cannot read {what} from the API after {attempt} attempt(s): "
                                            f"{err}") from err
                log.info("GET %s failed (%s); retrying in %.2fs", what, err, delay)
                self._stop.wait(delay)
                delay = max(delay * 2, 0.05)


class KubePodSource:
    """Pods of this node from the watch cache (when given), else from a GET."""

    def __init__(self, fetcher: Fetcher, metrics: KubeMetrics, store: Store[PodInfo] | None = None) -> None:
        self.fetcher = fetcher
        self.metrics = metrics
        self.store = store

    def cached(self, namespace: str, name: str) -> PodInfo | None:
        return self.store.get(namespace, name) if self.store is not None else None

    def get_pod(self, namespace: str, name: str, uid: str = "") -> PodInfo | None:
        if self.store is not None and self.store.synced:
            cached = self.store.get(namespace, name)
            # a UID mismatch means the cache may still hold the previous pod of that name
            # (StatefulSet re-creation): ask the API rather than trust it
            if cached is not None and uid_matches(cached, uid):
                self.metrics.inc("cache_hits")
                return _as_requested(cached, uid)
            self.metrics.inc("cache_misses")
        obj = self.fetcher.get(PODS, namespace, name)
        if obj is None:
            return None
        info = pod_info(obj)
        if not uid_matches(info, uid):
            log.warning("pod %s/%s: expected UID %s, the API has %s", namespace, name, uid, info.uid)
            return info  # selection reports the mismatch; DEL treats the pod as gone
        return _as_requested(info, uid)


def _as_requested(info: PodInfo, uid: str) -> PodInfo:
    """A static pod's mirror carries a UID of its own; kubelet asks with the static pod's UID."""
    if uid and info.uid != uid:
        return dataclasses.replace(info, uid=uid, annotations=dict(info.annotations))
    return dataclasses.replace(info, annotations=dict(info.annotations))


class KubeNetworkSource:
    """NADs and legacy Networks from their watch caches (when given), else from a GET.

    A miss in a synced cache whose watch is connected is an answer (not found): networks
    are created well before the pods that use them, and the watch delivers within
    milliseconds. While the watch is down a miss asks the API."""

    def __init__(self, fetcher: Fetcher, metrics: KubeMetrics,
                 nads: Store[dict[str, Any]] | NamespacedNads | None = None,
                 networks: Store[dict[str, Any]] | None = None) -> None:
        self.fetcher = fetcher
        self.metrics = metrics
        self.nads = nads
        self.networks = networks

    def _lookup(self, kind: Kind, stores: Store[dict[str, Any]] | NamespacedNads | None, namespace: str,
                name: str) -> dict[str, Any] | None:
        store = stores.for_namespace(namespace) if stores is not None else None
        if stores is not None and store is None:
            self.metrics.inc("cache_misses")  # a namespace not watched yet (kubeNadScope: pod-namespaces)
        if store is not None and store.synced:
            cached = store.get(namespace, name)
            if cached is not None:
                self.metrics.inc("cache_hits")
                return _copy(cached)
            if store.absent or store.live:
                # the CRD is not installed, or the watch is connected: a GET would only confirm the
                # miss (and the legacy flow looks in two namespaces, one miss is normal)
                return None
            self.metrics.inc("cache_misses")
        obj = self.fetcher.get(kind, namespace, name)
        return trim_network_object(obj) if obj is not None else None

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._lookup(NADS, self.nads, namespace, name)

    def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._lookup(NETWORKS, self.networks, namespace, name)


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    """Callers may mutate what they get; the cache must not change under other readers."""
    import copy

    return copy.deepcopy(obj)
