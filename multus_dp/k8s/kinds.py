"""The API resources multus-dp reads, and what of each object is kept in memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sources import (LEGACY_GROUP, LEGACY_KIND, LEGACY_PLURAL, LEGACY_VERSION, NAD_GROUP, NAD_KIND, NAD_PLURAL,
                      NAD_VERSION, PodInfo)

# pod annotations selection reads (the rest, e.g. last-applied-configuration, is dropped)
POD_ANNOTATION_PREFIXES = ("k8s.v1.cni.cncf.io/", "v1.multus-cni.io/", "kubernetes.io/config.", "multus-dp.")
POD_ANNOTATION_NAMES = ("networks",)
# written by us on every ADD: caching it would only churn memory
POD_ANNOTATIONS_DROPPED = ("k8s.v1.cni.cncf.io/network-status", "k8s.v1.cni.cncf.io/networks-status")
# kubelet's static-pod markers (pkg/kubelet/types): a mirror pod's UID differs from the static pod's
CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"
CONFIG_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True)
class Kind:
    kind: str       # the object kind, for messages
    group: str      # "" = core
    version: str
    plural: str

    def describe(self) -> str:
        return f"{self.plural}.{self.group}/{self.version}" if self.group else f"{self.plural}/{self.version}"


PODS = Kind("Pod", "", "v1", "pods")
NADS = Kind(NAD_KIND, NAD_GROUP, NAD_VERSION, NAD_PLURAL)
NETWORKS = Kind(LEGACY_KIND, LEGACY_GROUP, LEGACY_VERSION, LEGACY_PLURAL)
EVENTS = Kind("Event", "", "v1", "events")


def object_key(obj: dict[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return None
    namespace = meta.get("namespace")
    return (namespace if isinstance(namespace, str) else "", meta["name"])


def resource_version(obj: dict[str, Any]) -> str | None:
    meta = obj.get("metadata")
    value = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def _keep_pod_annotation(key: str) -> bool:
    if key in POD_ANNOTATIONS_DROPPED:
        return False
    return key in POD_ANNOTATION_NAMES or key.startswith(POD_ANNOTATION_PREFIXES)


def pod_info(obj: dict[str, Any]) -> PodInfo:
    """A pod trimmed to what selection needs."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    spec = obj.get("spec") or {}
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        annotations = {}
    return PodInfo(namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
                   uid=str(meta.get("uid") or ""), node_name=str(spec.get("nodeName") or "") if isinstance(spec, dict) else "",
                   annotations={str(k): str(v) for k, v in annotations.items() if _keep_pod_annotation(str(k))},
                   deletion_timestamp=str(meta.get("deletionTimestamp") or ""))


def trim_network_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A NAD or legacy Network without managedFields and other bulk metadata."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    kept_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "annotations") if k in meta}
    return {**{k: v for k, v in obj.items() if k != "metadata"}, "metadata": kept_meta}


def is_static_pod(pod: PodInfo) -> bool:
    """Multus' rule: a pod whose config source is not the API server (file, http) is static;
    its mirror pod in the API has a UID of its own."""
    source = pod.annotations.get(CONFIG_SOURCE_ANNOTATION)
    return source is not None and source != "api"


def uid_matches(pod: PodInfo, uid: str) -> bool:
    return not uid or pod.uid == uid or pod.annotations.get(CONFIG_MIRROR_ANNOTATION) == uid or is_static_pod(pod)
