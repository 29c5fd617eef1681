"""Kubernetes access (watch caches, status patch, events) and the standalone sources.

Importing this package stays cheap: the `kubernetes` client (~0.6 s to import) is only
loaded by `build_sources`, when a kubeconfig or an in-cluster config exists.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kube import KubeSources


def build_sources(conf: Any, watch: bool = True, env: Mapping[str, str] | None = None) -> "KubeSources | None":
    from .kube import build_sources as build

    return build(conf, watch=watch, env=env)


def daemon_sources(config: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """For the daemon's wiring: started KubeSources as a dict of the parts it plugs into its
    Services (`pod_source`, `network_source`, `publisher`), `ready_check` (None when ready,
    else the reason), `metrics` (a counters snapshot), `stop` (call on shutdown) and `sources`.
    An empty dict when neither a kubeconfig nor an in-cluster config exists."""
    sources = build_sources(config, watch=True, env=env)
    if sources is None:
        return {}
    sources.start()
    return {"pod_source": sources.pod_source, "network_source": sources.network_source,
            "publisher": sources.publisher, "ready_check": sources.not_ready_reason,
            "metrics": sources.metrics.snapshot, "stop": sources.stop, "sources": sources}


def thin_sources(conf: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """For thin mode (`multus-dp cni`, one process per call): `pod_source`, `network_source`
    and `publisher` doing plain GETs and an inline status patch; no watches, nothing to stop.
    An empty dict when neither a kubeconfig nor an in-cluster config exists."""
    sources = build_sources(conf, watch=False, env=env)
    if sources is None:
        return {}
    return {"pod_source": sources.pod_source, "network_source": sources.network_source,
            "publisher": sources.publisher, "sources": sources}
