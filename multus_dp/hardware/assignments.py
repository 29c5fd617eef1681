"""Which devices the kubelet assigned to a pod, per resource: the seam between the device
lookups (selection's deviceID, the SR-IOV delegate's VF choice, the pool allocator's
exclusions) and where the answer comes from: the kubelet's PodResources API
(kubelet/assignments.py) or, where that socket is absent, its device-plugin checkpoint file."""
from __future__ import annotations

from typing import Protocol

from . import checkpoint


class DeviceAssignments(Protocol):
    source: str | None   # where the last lookup read: "podresources" | "checkpoint" (allocation records keep it)

    def device_ids(self, pod_uid: str, resource: str, namespace: str = "", name: str = "") -> list[str]:
        """The device IDs (VF PCI addresses) of `resource` assigned to the pod, sorted; [] when
        it got none. PodResources names a pod by namespace/name, the checkpoint by UID:
        callers pass all three."""

    def assigned(self, resource: str) -> set[str]:
        """Every device ID of `resource` the kubelet assigned to any pod on this node."""


class CheckpointAssignments:
    """The kubelet's device-plugin checkpoint file, read on each lookup (kubelet rewrites it)."""

    source: str | None = "checkpoint"

    def __init__(self, path: str = checkpoint.DEFAULT_CHECKPOINT) -> None:
        self.path = path

    def device_ids(self, pod_uid: str, resource: str, namespace: str = "", name: str = "") -> list[str]:
        return checkpoint.device_ids(pod_uid, resource, self.path) if pod_uid else []

    def assigned(self, resource: str) -> set[str]:
        loaded = checkpoint.load(self.path)
        if loaded is None:
            return set()
        return {i for e in loaded.Data.PodDeviceEntries or [] if e.ResourceName == resource for i in e.ids()}
