"""The seams selection reads through: who the pod is, and what a network object says.

Two families implement them: the standalone sources (networks from a directory, pod
identity from CNI_ARGS and annotations from the runtime's `io.kubernetes.cri.pod-annotations`
capability) and the Kubernetes sources (watch caches with a GET fallback). Objects are
plain dicts shaped like the API's JSON (`metadata`, `spec`, ...); validation happens in
networks/, where the rules live.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
NAD_KIND = "NetworkAttachmentDefinition"
LEGACY_GROUP = "kubernetes.com"
LEGACY_VERSION = "v1"
LEGACY_PLURAL = "networks"
LEGACY_KIND = "Network"

RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"


@dataclass
class PodInfo:
    namespace: str
    name: str
    uid: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    node_name: str = ""
    # metadata.deletionTimestamp: the pod is being deleted (a DEL then skips the status patch)
    deletion_timestamp: str = ""


class PodSource(Protocol):
    def get_pod(self, namespace: str, name: str, uid: str = "") -> PodInfo | None:
        """The pod, or None when it does not exist (anymore)."""
        ...


class NetworkSource(Protocol):
    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A NetworkAttachmentDefinition object as the API returns it, or None."""
        ...

    def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A legacy `Network` object (kubernetes.com/v1: top-level `plugin` and `args`), or None."""
        ...


class SourceUnavailable(Exception):
    """The source cannot answer right now (API down and nothing cached): retry later."""
