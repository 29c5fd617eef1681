"""Which VF an attachment gets, in Multus' order of authority.

1. the attachment's `deviceID` (runtimeConfig.deviceID, or the NAD's `deviceID`);
2. the kubelet's assignment (device-plugin checkpoint, or PodResources): the pod's devices of the NAD's
   `k8s.v1.cni.cncf.io/resourceName`, sorted, the n-th for the n-th attachment of that resource;
3. our own allocator: a free VF of the pool named by that resource.
"""
from __future__ import annotations

from multus_dp.cni.errors import CNIError, Code
from multus_dp.hardware.allocator import Allocation, Owner, VfAllocator
from multus_dp.hardware.assignments import DeviceAssignments
from multus_dp.hardware.sysfs import NodeModel


def choose_vf(allocator: VfAllocator, owner: Owner, *, device_id: str | None = None,
              resource_name: str | None = None, nth: int = 0, assignments: DeviceAssignments | None = None,
              model: NodeModel | None = None) -> Allocation:
    """Allocate the attachment's VF; `nth` counts earlier attachments of the same resource."""
    who = owner.describe()
    if device_id:
        if model is not None and model.vf(device_id) is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"deviceID {device_id} for {who} is not a VF on this node")
        return allocator.allocate(owner, bdf=device_id, pool=resource_name, source="deviceID")
    if not resource_name:
        raise CNIError(Code.INVALID_CONFIG, f"{who}: the network needs a VF but has neither a deviceID nor a "
                                            "k8s.v1.cni.cncf.io/resourceName annotation")
    namespace, _, name = owner.pod.partition("/")
    ids: list[str] = []
    if assignments is not None and (owner.pod_uid or name):
        ids = assignments.device_ids(owner.pod_uid, resource_name, namespace, name)
    if assignments is not None and ids:
        if nth >= len(ids):
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"{who}: kubelet gave the pod {len(ids)} device(s) of "
                                                    f"{resource_name} but this is attachment #{nth + 1} of that resource")
        return allocator.allocate(owner, bdf=ids[nth], pool=resource_name, source=assignments.source or "kubelet")
    return allocator.allocate(owner, pool=resource_name, source="pool")
