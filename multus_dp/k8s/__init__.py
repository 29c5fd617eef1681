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
