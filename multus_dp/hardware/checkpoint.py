"""The kubelet device-plugin checkpoint: which device IDs (VF BDFs) a pod got per resource.

kubelet writes `/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint` as
`{"Data": {"PodDeviceEntries": [{PodUID, ContainerName, ResourceName, DeviceIDs, AllocResp}],
"RegisteredDevices": {...}}, "Checksum": n}`. `DeviceIDs` is a list before Kubernetes 1.20
and a map of NUMA node -> list since; both are read. Multus sorts the IDs of a resource and
hands them out one per attachment naming that resource: `device_ids()` gives that order.
"""
from __future__ import annotations

import json
import os

from pydantic import BaseModel, ConfigDict, ValidationError

from multus_dp.base import defaults
from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code

DEFAULT_CHECKPOINT = defaults.KUBELET_CHECKPOINT


class PodDevicesEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    PodUID: str
    ContainerName: str = ""
    ResourceName: str
    DeviceIDs: list[str] | dict[str, list[str]] | None = None

    def ids(self) -> list[str]:
        if isinstance(self.DeviceIDs, dict):
            return [i for _, ids in sorted(self.DeviceIDs.items()) for i in ids or []]
        return list(self.DeviceIDs or [])


class CheckpointData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    PodDeviceEntries: list[PodDevicesEntry] | None = None
    RegisteredDevices: dict[str, list[str] | None] | None = None


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Data: CheckpointData
    Checksum: int | None = None


def load(path: str = DEFAULT_CHECKPOINT) -> Checkpoint | None:
    """The parsed checkpoint; None when kubelet wrote none (no device plugins on this node)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CNIError(Code.IO_FAILURE, f"kubelet checkpoint {path} cannot be read: {exc.strerror}") from exc
    try:
        return Checkpoint.model_validate(json.loads(raw))
    except ValidationError as exc:   # a ValueError too: check it first
        raise CNIError(Code.DECODE_FAILURE, f"kubelet checkpoint {path} is not valid: {describe(exc)}") from exc
    except ValueError as exc:
        raise CNIError(Code.DECODE_FAILURE, f"kubelet checkpoint {path} is not valid JSON: {exc}") from exc


def device_ids(pod_uid: str, resource_name: str, path: str = DEFAULT_CHECKPOINT) -> list[str]:
    """Sorted device IDs of `resource_name` given to any container of pod `pod_uid`."""
    checkpoint = load(os.fspath(path))
    if checkpoint is None:
        return []
    found = {i for e in checkpoint.Data.PodDeviceEntries or []
             if e.PodUID == pod_uid and e.ResourceName == resource_name for i in e.ids()}
    return sorted(found)
