"""Kubelet checkpoint parsing from realistic files (both DeviceIDs shapes)."""
from __future__ import annotations

import json

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.hardware.checkpoint import device_ids

POD = "5b0f6c1e-6a57-4b8e-9d3a-0f0e2b7c1a11"
OTHER = "a4d0c0de-1111-4222-8333-944455556666"

# as kubelet >= 1.20 writes it: DeviceIDs keyed by NUMA node, AllocResp base64 protobuf
REALISTIC = {
    "Data": {
        "PodDeviceEntries": [
            {"PodUID": POD, "ContainerName": "vfw", "ResourceName": "intel.com/sriov_netdevice",
             "DeviceIDs": {"1": ["0000:af:02.5", "0000:af:02.1"]},
             "AllocResp": "CiUKGFBDSURFVklDRV9JTlRFTF9DT01fU1JJT1YSCTAwMDA6YWY6MDI="},
            {"PodUID": POD, "ContainerName": "sidecar", "ResourceName": "intel.com/sriov_netdevice",
             "DeviceIDs": {"0": ["0000:3b:02.0"]}, "AllocResp": ""},
            {"PodUID": POD, "ContainerName": "vfw", "ResourceName": "intel.com/sriov_dpdk",
             "DeviceIDs": {"1": ["0000:af:0a.0"]}, "AllocResp": ""},
            {"PodUID": OTHER, "ContainerName": "app", "ResourceName": "intel.com/sriov_netdevice",
             "DeviceIDs": {"0": ["0000:3b:02.7"]}, "AllocResp": ""},
            {"PodUID": POD, "ContainerName": "vfw", "ResourceName": "nvidia.com/gpu",
             "DeviceIDs": {"-1": ["GPU-7f3a"]}, "AllocResp": ""},
        ],
        "RegisteredDevices": {"intel.com/sriov_netdevice": ["0000:af:02.1", "0000:af:02.5", "0000:3b:02.0"],
                              "intel.com/sriov_dpdk": ["0000:af:0a.0"], "nvidia.com/gpu": ["GPU-7f3a"]},
    },
    "Checksum": 2930477436,
}


def write(tmp_path, data) -> str:
    path = tmp_path / "kubelet_internal_checkpoint"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_all_containers_of_the_pod_sorted(tmp_path) -> None:
    path = write(tmp_path, REALISTIC)
    assert device_ids(POD, "intel.com/sriov_netdevice", path) == ["0000:3b:02.0", "0000:af:02.1", "0000:af:02.5"]
    assert device_ids(POD, "intel.com/sriov_dpdk", path) == ["0000:af:0a.0"]
    assert device_ids(OTHER, "intel.com/sriov_netdevice", path) == ["0000:3b:02.7"]
    assert device_ids(POD, "intel.com/unknown", path) == []
    assert device_ids("no-such-pod", "intel.com/sriov_netdevice", path) == []


def test_pre_1_20_list_format(tmp_path) -> None:
    old = {"Data": {"PodDeviceEntries": [{"PodUID": POD, "ContainerName": "c", "ResourceName": "intel.com/sriov",
                                          "DeviceIDs": ["0000:af:02.3", "0000:af:02.2"], "AllocResp": None}],
                    "RegisteredDevices": None}, "Checksum": 1}
    assert device_ids(POD, "intel.com/sriov", write(tmp_path, old)) == ["0000:af:02.2", "0000:af:02.3"]


def test_missing_file_means_no_devices(tmp_path) -> None:
    assert device_ids(POD, "intel.com/sriov", str(tmp_path / "absent")) == []


def test_empty_checkpoint_of_a_fresh_kubelet(tmp_path) -> None:
    fresh = {"Data": {"PodDeviceEntries": None, "RegisteredDevices": {}}, "Checksum": 0}
    assert device_ids(POD, "intel.com/sriov", write(tmp_path, fresh)) == []


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"Data": {"PodDeviceEntries": [{"PodUID": 3}]}})])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, bad) -> None:
    path = write(tmp_path, bad)
    with pytest.raises(CNIError, match=r"kubelet checkpoint .*kubelet_internal_checkpoint is not valid") as err:
        device_ids(POD, "intel.com/sriov", path)
    assert err.value.code == 6
