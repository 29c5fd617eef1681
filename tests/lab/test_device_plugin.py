"""multus-dp as the kubelet device plugin on real VFs (emulated igb 82576 behind VT-d): the
real VFs are advertised with their NUMA/IOMMU facts, Allocate of a vfio-pci VF names the group
node that really exists under /dev/vfio, and a pod the kubelet stand-in assigned 2 VFs per
resource (kernel mode and DPDK mode) gets exactly those through the daemon and the shim."""
from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.hardware import sysfs
from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.kubelet.manager import DevicePluginManager, ManagerSettings
from tests.lab.support.guest import LabPF, create_vfs, settle, wait_for
from tests.lab.support.sriovnode import SriovLab, SriovNode, ip
from tests.support.kubelet_standin import KubeletStandin, healthy, short_dir

KERNEL, DPDK = "intel.com/lab_kernel", "intel.com/lab_dpdk"
POOLS = {"resourceList": [{"resourceName": "lab_kernel", "selectors": {"drivers": ["igbvf"]}},
                          {"resourceName": "lab_dpdk", "selectors": {"drivers": ["vfio-pci"]}}]}


@pytest.fixture(scope="module")
def kubelet() -> Iterator[KubeletStandin]:
    standin = KubeletStandin(short_dir()).start()
    yield standin
    standin.stop()
    shutil.rmtree(standin.plugins_dir.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(lab_pf: LabPF, kubelet: KubeletStandin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SriovLab]:
    lab = SriovLab(tmp_path_factory.mktemp("dplab"))
    # a node key: the daemon's config says where the kubelet's PodResources socket is
    lab.daemon.keys["podResourcesSocket"] = str(kubelet.pod_resources_socket)
    lab.add_nad("res-kernel", resource=KERNEL, spoofchk="on")
    lab.add_nad("res-dpdk", resource=DPDK, vlan=400)
    lab.start()
    yield lab
    lab.stop()


def pf_up(pf: LabPF) -> None:
    ip("link", "set", pf.name, "up")
    wait_for(lambda: (pf.device / "net" / pf.name / "operstate").read_text().strip() == "up", 20,
             f"{pf.name} operstate up")


def four_vfs_two_on_vfio(pf: LabPF) -> tuple[list[str], VfioBinder]:
    vfs = create_vfs(pf, 4)
    binder = VfioBinder("/sys")
    for bdf in vfs[2:]:
        binder.bind(bdf)
    settle()
    return vfs, binder


def test_real_vfs_advertised_and_vfio_allocate_names_the_real_group(lab_pf: LabPF, kubelet: KubeletStandin,
                                                                    tmp_path: Path) -> None:
    vfs, _ = four_vfs_two_on_vfio(lab_pf)
    pf_up(lab_pf)
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps(POOLS))
    manager = DevicePluginManager(ManagerSettings(plugins_dir=str(kubelet.plugins_dir), pools_path=str(pools),
                                                  state_dir=str(tmp_path / "state")), Inventory("/sys"))
    before = len(kubelet.registrations)
    manager.start()
    try:
        assert kubelet.wait_registered(KERNEL, after=before).endpoint == "multus-dp-lab_kernel.sock"
        kubelet.wait_registered(DPDK, after=before)
        model = sysfs.scan("/sys")
        kernel = kubelet.plugin(KERNEL).watch().wait_for(lambda d: len(healthy(d)) == 2, timeout=10)
        assert set(kernel) == set(vfs[:2])
        for bdf, dev in kernel.items():
            numa = model.vf(bdf).numa_node
            assert [n.ID for n in dev.topology.nodes] == ([numa] if numa >= 0 else [])
        dpdk_client = kubelet.plugin(DPDK)
        assert set(dpdk_client.watch().wait_for(lambda d: len(healthy(d)) == 2, timeout=10)) == set(vfs[2:])

        group = model.vf(vfs[2]).iommu_group
        real_group = os.path.basename(os.readlink(f"/sys/bus/pci/devices/{vfs[2]}/iommu_group"))
        assert group is not None and group == real_group
        answer = dpdk_client.allocate([vfs[2]]).container_responses[0]
        assert dict(answer.envs) == {"PCIDEVICE_INTEL_COM_LAB_DPDK": vfs[2]}
        specs = [(d.container_path, d.host_path, d.permissions) for d in answer.devices]
        assert specs == [("/dev/vfio/vfio", "/dev/vfio/vfio", "rw"), (f"/dev/vfio/{group}", f"/dev/vfio/{group}", "rw")]
        assert all(stat.S_ISCHR(os.stat(host).st_mode) for _, host, _ in specs), "the nodes exist on the node"
        kernel_answer = kubelet.plugin(KERNEL).allocate(vfs[:2]).container_responses[0]
        assert dict(kernel_answer.envs) == {"PCIDEVICE_INTEL_COM_LAB_KERNEL": f"{vfs[0]},{vfs[1]}"}
        assert list(kernel_answer.devices) == []
    finally:
        manager.stop()
    assert not (kubelet.plugins_dir / "multus-dp-lab_kernel.sock").exists()


def test_pod_assigned_two_vfs_per_resource_gets_exactly_those(lab_pf: LabPF, lab: SriovLab, kubelet: KubeletStandin,
                                                              tmp_path: Path) -> None:
    vfs, _ = four_vfs_two_on_vfio(lab_pf)
    node = SriovNode(lab, tmp_path)
    kubelet.assign("default", "vfw", KERNEL, [vfs[1], vfs[0]])
    kubelet.assign("default", "vfw", DPDK, [vfs[3], vfs[2]])
    pod = node.pod("vfw")
    conf = node.conf([{"name": "res-kernel"}, {"name": "res-kernel"}, {"name": "res-dpdk"}, {"name": "res-dpdk"}],
                     podResourcesSocket=str(kubelet.pod_resources_socket))

    node.ok("ADD", pod, conf)

    assert node.allocations() == sorted(vfs)
    assert {"net1", "net2"} <= set(pod.links()), "the kernel-mode VFs' netdevs are in the pod"
    status = {s["interface"]: s for s in node.network_status(pod)}
    assert [status[i]["device-info"]["pci"]["pci-address"] for i in ("net3", "net4")] == [vfs[2], vfs[3]]
    assert "PodResources" in lab.daemon.log_text() or "podresources" in lab.daemon.log_text()

    node.ok("DEL", pod, conf)
    assert node.allocations() == []
