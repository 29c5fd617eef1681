"""The Kubernetes settings: config keys with their defaults, validated once.

The keys live in the multus-dp configuration (MultusConf); reading them here through
`getattr` keeps this module working whether a key is a declared field or an extra.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NODE_NAME_ENV = ("MULTUS_DP_NODE_NAME", "NODE_NAME")


class KubeApiKeys(BaseModel):
    """The Kubernetes API keys shared by the plugin config (MultusConf), the daemon config and
    KubeSettings: declared once here."""

    # seconds; connect/request apply to every API call, total bounds one lookup incl. retries
    kubeConnectTimeout: float = Field(default=5.0, gt=0)
    kubeRequestTimeout: float = Field(default=10.0, gt=0)
    kubeTotalTimeout: float = Field(default=20.0, gt=0)
    # a cache miss falls back to one GET, retried this often on transient errors
    kubeGetRetries: int = Field(default=4, ge=0)
    kubeGetRetryDelay: float = Field(default=0.2, ge=0)
    # cap of the exponential backoff of watch reconnects and publish retries
    kubeBackoffMax: float = Field(default=30.0, gt=0)
    # server-side lifetime of one watch request (then it is resumed from the last resourceVersion)
    kubeWatchTimeout: int = Field(default=300, gt=0)
    # seconds between API-discovery checks for the legacy `Network` CRD (networks.kubernetes.com)
    # while it is not installed: most clusters never install it, and asking once an hour costs
    # the API server nothing (a failed LIST every backoff period from every node did)
    kubeLegacyNetworksRecheck: float = Field(default=3600.0, gt=0)
    # threads sending network-status patches and events (one pod's updates stay in order)
    kubePublishWorkers: int = Field(default=4, ge=1, le=64)
    # which NADs a daemon caches: "cluster" (one cluster-wide watch: every NAD change reaches every
    # node) or "pod-namespaces" (one watch per namespace this node's pods use, plus multusNamespace)
    kubeNadScope: Literal["cluster", "pod-namespaces"] = "cluster"
    # pod-namespaces: seconds a namespace without pods on this node keeps its NAD watch
    kubeNadNamespaceIdle: float = Field(default=600.0, gt=0)
    # in-cluster credentials (re-read whenever the files change)
    kubeTokenFile: str = f"{SA_DIR}/token"
    kubeCAFile: str = f"{SA_DIR}/ca.crt"


class KubeSettings(KubeApiKeys):
    model_config = ConfigDict(extra="ignore")

    kubeconfig: str | None = None
    nodeName: str | None = None
    multusNamespace: str = "kube-system"

    @classmethod
    def from_conf(cls, conf: Any) -> "KubeSettings":
        values = {name: getattr(conf, name) for name in cls.model_fields if getattr(conf, name, None) is not None}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise CNIError(Code.INVALID_CONFIG, f"invalid Kubernetes settings: {describe(exc)}") from exc

    def node_name(self, env: Mapping[str, str] | None = None) -> str:
        """`nodeName`, else $MULTUS_DP_NODE_NAME / $NODE_NAME, else the host name (kubelet's default)."""
        env = os.environ if env is None else env
        if self.nodeName:
            return self.nodeName
        for key in NODE_NAME_ENV:
            if env.get(key):
                return env[key]
        return socket.gethostname().lower()

    def request_timeout(self) -> tuple[float, float]:
        return (self.kubeConnectTimeout, self.kubeRequestTimeout)
