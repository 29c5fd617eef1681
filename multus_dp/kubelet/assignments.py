"""Which devices the kubelet assigned to a pod, per resource name: the one lookup the CNI side uses.

The kubelet's PodResources API when its socket exists (as Multus does); else, on nodes where
that socket is not mounted or the kubelet predates it, the device-plugin checkpoint file.
Each lookup logs its source, and `source` keeps the last one for `multus-dp status`.
Works for any device plugin's resources (ours or the SR-IOV network device plugin's).
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from multus_dp import logs
from multus_dp.hardware.assignments import CheckpointAssignments, DeviceAssignments

if TYPE_CHECKING:
    from multus_dp.kubelet.podresources import PodResourcesClient

log = logs.get("kubelet.assignments")
PODRESOURCES = "podresources"
CHECKPOINT = "checkpoint"


class KubeletAssignments(DeviceAssignments):
    def __init__(self, pod_resources_socket: str, checkpoint_path: str, timeout: float = 5.0) -> None:
        self.socket_path = pod_resources_socket
        self.checkpoint_path = checkpoint_path
        self._checkpoint = CheckpointAssignments(checkpoint_path)
        self.timeout = timeout
        self.source: str | None = None        # the last lookup's source
        self._client: PodResourcesClient | None = None
        self._guard = threading.Lock()

    def _pod_resources(self) -> PodResourcesClient | None:   # imported lazily: grpc costs ~70 ms
        if not os.path.exists(self.socket_path):
            return None
        with self._guard:
            if self._client is None:
                from multus_dp.kubelet.podresources import PodResourcesClient as Client

                self._client = Client(self.socket_path, self.timeout)
            return self._client

    def current_source(self) -> str:
        """Where a lookup made now would read from."""
        return PODRESOURCES if os.path.exists(self.socket_path) else CHECKPOINT

    def _used(self, source: str) -> None:
        if source != self.source:
            log.info("kubelet device assignments from %s", self.socket_path if source == PODRESOURCES
                     else f"the checkpoint {self.checkpoint_path} (no PodResources socket {self.socket_path})")
        self.source = source

    def device_ids(self, pod_uid: str, resource: str, namespace: str = "", name: str = "") -> list[str]:
        client = self._pod_resources()
        if client is not None and name:
            self._used(PODRESOURCES)
            pod = client.get(namespace or "default", name)
            ids = pod.resources.get(resource, []) if pod else []
            log.info("pod %s/%s: kubelet assigned %s of %s (source podresources)", namespace or "default", name,
                     ",".join(ids) or "nothing", resource)
            return ids
        self._used(CHECKPOINT)
        ids = self._checkpoint.device_ids(pod_uid, resource)
        log.info("pod %s: kubelet assigned %s of %s (source checkpoint)", f"{namespace}/{name}" if name else pod_uid,
                 ",".join(ids) or "nothing", resource)
        return ids

    def assigned(self, resource: str) -> set[str]:
        client = self._pod_resources()
        if client is not None:
            self._used(PODRESOURCES)
            return {i for pod in client.list_pods() for i in pod.resources.get(resource, [])}
        self._used(CHECKPOINT)
        return self._checkpoint.assigned(resource)

    def holders(self) -> dict[str, str]:
        """Device ID -> "namespace/name" of the pod holding it (PodResources only; {} without it)."""
        client = self._pod_resources()
        if client is None:
            return {}
        return {i: pod.ref for pod in client.list_pods() for ids in pod.resources.values() for i in ids}


_shared: dict[tuple[str, str, float], KubeletAssignments] = {}
_shared_guard = threading.Lock()


def for_conf(socket_path: str, checkpoint_path: str, timeout: float) -> KubeletAssignments:
    """The one place the device-assignment lookup is chosen; one per location, so the daemon
    keeps one PodResources channel across requests."""
    with _shared_guard:
        key = (socket_path, checkpoint_path, timeout)
        if key not in _shared:
            _shared[key] = KubeletAssignments(socket_path, checkpoint_path, timeout)
        return _shared[key]
