"""Which devices the kubelet assigned to a pod, per resource: the seam between the device
lookups (selection's deviceID, the SR-IOV delegate's VF choice) and where the answer comes
from. Today the kubelet's device-plugin checkpoint; the PodResources API client plugs in
behind the same Protocol."""
from __future__ import annotations

from typing import Protocol

from . import checkpoint


class DeviceAssignments(Protocol):
    def device_ids(self, pod_uid: str, resource: str) -> list[str]:
        """The device IDs (VF PCI addresses) of `resource` assigned to pod `pod_uid`, sorted;
        [] when the pod got none."""


class CheckpointAssignments:
    """The kubelet's device-plugin checkpoint file, read on each lookup (kubelet rewrites it)."""

    def __init__(self, path: str = checkpoint.DEFAULT_CHECKPOINT) -> None:
        self.path = path

    def device_ids(self, pod_uid: str, resource: str) -> list[str]:
        return checkpoint.device_ids(pod_uid, resource, self.path)
