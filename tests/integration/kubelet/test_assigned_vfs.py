"""On a simulated NIC (VF netdevs are real veth ends): a pod gets exactly the VFs the kubelet
stand-in reports for it through PodResources, in kernel and DPDK mode, and multus-dp's own pool
allocator never hands a kubelet-assigned VF to a pod that did not request the resource."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus_dp.hardware.allocator import VfAllocator
from tests.support.kubelet_standin import KubeletStandin
from tests.support.prereq import require_cni_plugins
from tests.support.simnic import SimNic

KERNEL, DPDK = "intel.com/sriov_kernel", "intel.com/sriov_dpdk"


@pytest.fixture
def nic(netlab, tmp_path: Path) -> SimNic:
    nic = SimNic(netlab, tmp_path, require_cni_plugins("bridge", "host-local"), kernel_vfs=3, dpdk_vfs=2)
    nic.add_nad("vf-kernel", resource=KERNEL)
    nic.add_nad("vf-dpdk", resource=DPDK)
    nic.add_nad("vf-pool", resourceName=KERNEL)   # names the pool in its config; no resource requested
    pools = {"resourceList": [{"resourceName": "sriov_kernel", "selectors": {"drivers": ["igbvf"]}},
                              {"resourceName": "sriov_dpdk", "selectors": {"drivers": ["vfio-pci"]}}]}
    (tmp_path / "pools.json").write_text(json.dumps(pools))
    return nic


def conf(nic: SimNic, kubelet: KubeletStandin, tmp_path: Path, annotation: str) -> dict:
    return nic.conf(annotation, podResourcesSocket=str(kubelet.pod_resources_socket),
                    kubeletCheckpoint=str(tmp_path / "no-checkpoint"), sriovPoolsConfig=str(tmp_path / "pools.json"))


def test_pod_gets_exactly_the_vfs_pod_resources_reports(nic: SimNic, kubelet: KubeletStandin, netlab,
                                                        tmp_path: Path) -> None:
    vf0, vf2, vf3, vf4 = (nic.vf_bdf(i) for i in (0, 2, 3, 4))
    kubelet.assign("default", "vfw", KERNEL, [vf2, vf0])
    kubelet.assign("default", "vfw", DPDK, [vf4, vf3])
    ns = netlab.add_netns()
    nic.ok("ADD", "vfw", ns, conf(nic, kubelet, tmp_path, "vf-kernel,vf-kernel,vf-dpdk,vf-dpdk"))

    assert nic.allocations() == sorted([vf0, vf2, vf3, vf4])
    assert {"net1", "net2"} <= set(netlab.links_in(ns))
    assert nic.host_link(nic.vf_netdevs[0]) is None and nic.host_link(nic.vf_netdevs[2]) is None
    assert nic.host_link(nic.vf_netdevs[1]) is not None, "VF 1 was not assigned: it stays on the host"
    owners = {bdf: VfAllocator(str(nic.state)).record(bdf).owner.ifname for bdf in (vf0, vf2, vf3, vf4)}
    assert owners == {vf0: "net1", vf2: "net2", vf3: "net3", vf4: "net4"}, \
        "sorted, one per attachment of the resource (Multus' order)"
    assert "Get" in kubelet.calls


def test_pool_allocator_never_takes_a_vf_the_kubelet_assigned(nic: SimNic, kubelet: KubeletStandin, netlab,
                                                              tmp_path: Path) -> None:
    vf0, vf1 = nic.vf_bdf(0), nic.vf_bdf(1)
    kubelet.assign("default", "requested", KERNEL, [vf0])   # assigned, its ADD not run yet
    ns_pool, ns_req = netlab.add_netns(), netlab.add_netns()
    reply = nic.call("ADD", "by-pool", ns_pool, conf(nic, kubelet, tmp_path, "vf-pool"), pod="by-pool")
    assert reply.exit_code == 0, reply.stdout
    assert nic.allocations() == [vf1], "the first free VF that the kubelet did not assign"
    reply = nic.call("ADD", "requested", ns_req, conf(nic, kubelet, tmp_path, "vf-kernel"), pod="requested")
    assert reply.exit_code == 0, reply.stdout
    assert nic.allocations() == [vf0, vf1]
