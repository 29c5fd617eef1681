"""Kubernetes access (watch caches, status patch, events) and the standalone sources.

Importing this package stays cheap: the `kubernetes` client (~0.6 s to import) is only
loaded by `build_sources`, when a kubeconfig or an in-cluster config exists.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kube import KubeSources
    from .settings import KubeApiKeys


def build_sources(conf: KubeApiKeys, watch: bool = True, env: Mapping[str, str] | None = None,
                  background_publish: bool | None = None) -> KubeSources | None:
    """The typed KubeSources (`pod_source`, `network_source`, `publisher`, `not_ready_reason`,
    `start`/`stop`, the stores) from a config carrying the Kubernetes keys (the daemon config,
    or thin mode's plugin config), or None when neither a kubeconfig nor an in-cluster config
    exists. The daemon builds it with watches and `start()`s it; thin mode (one process per
    call) builds it with `watch=False`: plain GETs and an inline status patch, nothing to stop.
    `background_publish` (default: as `watch`): the status patch queued and retried by worker
    threads (`start`/`stop` then needed), as the on-demand daemon does with plain GETs."""
    from .kube import build_sources as build

    return build(conf, watch=watch, env=env, background_publish=background_publish)
