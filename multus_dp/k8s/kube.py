"""KubeSources: everything multus-dp needs from the API server, built from the config.

The daemon calls `build_sources(conf)` once, `start()`s it and hands `.pod_source`,
`.network_source` and `.publisher` to its process context; `/readyz` asks `.synced()`. Thin
mode (`multus-dp cni`, no daemon) builds it with `watch=False`: the same classes then do
plain GETs and publish inline.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multus_dp import logs

from .api import KubeApi
from .cached import Fetcher, KubeNetworkSource, KubePodSource
from .credentials import Credentials, CredentialSource, locate
from .informer import Informer
from .kinds import NADS, NETWORKS, PODS, pod_info, trim_network_object
from .metrics import KubeMetrics
from .publisher import KubeStatusPublisher
from .scoped import NamespacedNads
from .settings import KubeSettings
from .sources import PodInfo
from .store import Store

log = logs.get("k8s")


class KubeSources:
    def __init__(self, settings: KubeSettings, source: CredentialSource, watch: bool = True,
                 env: Mapping[str, str] | None = None, background_publish: bool | None = None) -> None:
        self.settings = settings
        self.metrics = KubeMetrics()
        self.credentials = Credentials(source, settings, self.metrics)
        self.api = KubeApi(self.credentials, settings, self.metrics)
        self.node_name = settings.node_name(env)
        self.watch = watch
        self.fetcher = Fetcher(self.api, settings)
        self.informers: list[Informer] = []
        self.scoped_nads: NamespacedNads | None = None
        pods: Store[PodInfo] | None = None
        nads: Store[dict[str, Any]] | NamespacedNads | None = None
        networks: Store[dict[str, Any]] | None = None
        if watch:
            node = self.node_name
            pods = Store(pod_info, accept=lambda obj: (obj.get("spec") or {}).get("nodeName") == node)
            networks = Store(trim_network_object)
            backoff = settings.kubeBackoffMax
            self.informers = [
                Informer(self.api, PODS, pods, self.metrics, backoff, field_selector=f"spec.nodeName={node}")]
            if settings.kubeNadScope == "pod-namespaces":
                nads = self.scoped_nads = NamespacedNads(self.api, self.metrics, backoff, pods,
                                                         always={settings.multusNamespace},
                                                         idle_after=settings.kubeNadNamespaceIdle)
            else:
                nads = Store(trim_network_object)
                self.informers.append(Informer(self.api, NADS, nads, self.metrics, backoff))
            self.informers += [
                # the legacy CRD is rarely installed: watched only when API discovery lists it
                Informer(self.api, NETWORKS, networks, self.metrics, backoff, optional=True,
                         recheck=settings.kubeLegacyNetworksRecheck)]
        self.pod_store, self.nad_store, self.network_store = pods, nads, networks
        self.pod_source = KubePodSource(self.fetcher, self.metrics, pods)
        self.network_source = KubeNetworkSource(self.fetcher, self.metrics, nads, networks)
        self.publisher = KubeStatusPublisher(self.api, self.metrics, self.node_name, settings.kubeBackoffMax,
                                             background=watch if background_publish is None else background_publish,
                                             cached_pod=self.pod_source.cached,
                                             workers=settings.kubePublishWorkers)
        self.metrics.cache_sizes = self.cache_sizes
        if self.informers:
            # the API is back: queued publishes need not wait out their backoff
            self.informers[0].on_recover = self.publisher.retry_now

    def cache_sizes(self) -> dict[str, int]:
        """Objects per watch cache (none in thin mode)."""
        stores = {"pods": self.pod_store, "nads": self.nad_store, "networks": self.network_store}
        return {name: len(store) for name, store in stores.items() if store is not None}

    def start(self) -> None:
        log.info("Kubernetes sources starting", extra={"source": self.credentials.source.describe(),
                                                       "node": self.node_name, "watch": self.watch})
        for informer in self.informers:
            informer.start()
        if self.scoped_nads is not None:
            self.scoped_nads.start()
        self.publisher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the watches, give queued publishes `timeout` seconds to land, then stop."""
        for informer in self.informers:
            informer.stop(timeout)
        if self.scoped_nads is not None:
            self.scoped_nads.stop(timeout)
        self.publisher.flush(timeout)
        self.publisher.stop(timeout)
        self.credentials.close()

    def synced(self) -> bool:
        """Every cache completed its first LIST (always True without watches)."""
        scoped = self.scoped_nads.synced if self.scoped_nads is not None else True
        return scoped and all(informer.store.synced for informer in self.informers)

    def not_ready_reason(self) -> str | None:
        """For the daemon's readiness checks: None when ready."""
        waiting = [i.kind.describe() + (f" ({i.last_error})" if i.last_error else "")
                   for i in self.informers if not i.store.synced]
        waiting += self.scoped_nads.not_synced() if self.scoped_nads is not None else []
        return f"Kubernetes caches not synced yet: {', '.join(waiting)}" if waiting else None

    def wait_synced(self, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        stores: list[Any] = [i.store for i in self.informers]
        stores += [self.scoped_nads] if self.scoped_nads is not None else []
        return all(store.wait_synced(max(0.0, deadline - time.monotonic())) for store in stores)


def build_sources(conf: Any, watch: bool = True, env: Mapping[str, str] | None = None,
                  background_publish: bool | None = None) -> KubeSources | None:
    """KubeSources from the config (`kubeconfig`, else in-cluster), or None when neither
    exists: the caller then uses the standalone sources."""
    settings = KubeSettings.from_conf(conf)
    source = locate(settings, env)
    if source is None:
        return None
    return KubeSources(settings, source, watch=watch, env=env, background_publish=background_publish)
