"""The built-in SR-IOV delegate on real VFs (emulated igb 82576), through the daemon and the
shim as a runtime calls them: a vFW pod's kernel-mode VFs configured through the PF and
restored exactly at DEL, traffic between two pods' VFs through the NIC's switch, DPDK mode on
vfio-pci (pre-bound and `bindVfio`), and a pod whose netns died without DEL (DEL and GC).

igb quirks these tests respect: no VF link state (igb has no ndo_set_vf_link_state), 802.1Q
only; igbvf registers its netdev's MAC with the PF when it probes, so after a vfio round trip
the PF reports that MAC as the VF's admin MAC until the delegate restores it.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator

import pytest

from multus_dp.hardware import sysfs
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.netops import get_vf_ops
from tests.lab.support.guest import LabPF, create_vfs, settle, wait_for
from tests.lab.support.sriovnode import LabPod, SriovLab, SriovNode, ip
from tests.lab.support.vfinfo import VfInfo, vf_infos
from tests.lab.support.vfio import open_like_dpdk
from tests.lab.support.vfstate import snapshot

NORTH_MAC, SOUTH_MAC = "02:4d:44:50:00:01", "02:4d:44:50:00:02"
PING_MACS = ("02:4d:44:50:01:0a", "02:4d:44:50:01:0b")
DOT1Q = 0x8100


@pytest.fixture(scope="module")
def lab(lab_pf: LabPF, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SriovLab]:
    lab = SriovLab(tmp_path_factory.mktemp("sriovlab"))
    # a vFW's two data-plane networks, every setting igb can carry
    lab.add_nad("vfw-north", vlan=100, vlanQoS=3, mac=NORTH_MAC, spoofchk="on", trust="on", max_tx_rate=100,
                mtu=1400, subnet="10.56.1.0/24")
    lab.add_nad("vfw-south", vlan=200, mac=SOUTH_MAC, spoofchk="off", trust="off", subnet="10.56.2.0/24")
    lab.add_nad("vlan-300", vlan=300, spoofchk="on", subnet="10.56.3.0/24", capabilities={"mac": True})
    lab.add_nad("dpdk-400", vlan=400, spoofchk="on", trust="on")
    lab.add_nad("dpdk-bind", bindVfio=True, vlan=401, mac="02:4d:44:50:02:01")
    lab.add_nad("qinq", vlan=10, vlanProto="802.1ad", mac="02:4d:44:50:04:01", subnet="10.56.4.0/24")
    lab.start()
    yield lab
    lab.stop()


def host_netdev(bdf: str) -> str | None:
    vf = sysfs.scan("/sys").vf(bdf)
    return vf.netdev if vf else None


def ping(pod: LabPod, address: str, count: int, deadline_s: int) -> bool:
    done = subprocess.run(["ip", "netns", "exec", pod.netns_name, "ping", "-n", "-c", str(count),
                           "-w", str(deadline_s), address], capture_output=True, text=True)
    return done.returncode == 0


def test_vfw_pod_kernel_mode_vfs_configured_through_the_pf_and_restored_exactly(
        lab_pf: LabPF, node: SriovNode) -> None:
    north_vf, south_vf = create_vfs(lab_pf, 2)
    before = {bdf: snapshot(lab_pf, bdf) for bdf in (north_vf, south_vf)}
    pod = node.pod("vfw")
    conf = node.conf([{"name": "vfw-north", "deviceID": north_vf, "interface": "north0"},
                      {"name": "vfw-south", "deviceID": south_vf, "interface": "south0"}])

    result = node.ok("ADD", pod, conf)
    assert result is not None and [i["name"] for i in result["interfaces"] if i.get("sandbox")] == ["eth0"]

    # the PF's view, read over netlink independently of multus-dp
    infos = vf_infos(lab_pf.name)
    assert infos[0] == VfInfo(index=0, mac=NORTH_MAC, vlan=100, qos=3, spoofchk=True, trust=True, max_tx_rate=100)
    assert infos[1] == VfInfo(index=1, mac=SOUTH_MAC, vlan=200, qos=0, spoofchk=False, trust=False, max_tx_rate=0)
    assert [vf.vlan_proto for vf in get_vf_ops().get_vfs(lab_pf.name)] == [DOT1Q, DOT1Q]
    # the pod's netdevs: the VFs under the annotation's names, MAC = admin MAC, MTU, addresses
    links = pod.links()
    assert set(links) == {"lo", "eth0", "north0", "south0"}
    north, south = links["north0"], links["south0"]
    assert (north["address"], north["mtu"], "UP" in north["flags"]) == (NORTH_MAC, 1400, True)
    assert (south["address"], south["mtu"], "UP" in south["flags"]) == (SOUTH_MAC, before[south_vf].mtu, True)
    assert pod.addresses("north0")[0].startswith("10.56.1.") and pod.addresses("south0")[0].startswith("10.56.2.")
    assert host_netdev(north_vf) is None and host_netdev(south_vf) is None, "a VF netdev stayed on the host"
    status = node.network_status(pod)
    assert [(s["name"], s["interface"]) for s in status] == [
        ("cluster", "eth0"), ("default/vfw-north", "north0"), ("default/vfw-south", "south0")]
    assert (status[1]["mac"], status[2]["mac"]) == (NORTH_MAC, SOUTH_MAC)
    assert node.allocations() == sorted([north_vf, south_vf])

    node.ok("CHECK", pod, conf)
    node.ok("DEL", pod, conf)

    assert set(pod.links()) == {"lo"}
    for bdf in (north_vf, south_vf):
        assert snapshot(lab_pf, bdf) == before[bdf], f"VF {bdf} not restored exactly"
    assert node.allocations() == [] and node.journals() == []
    assert node.leases_in("10.56.1.") == [] and node.leases_in("10.56.2.") == []


def test_two_pods_talk_through_the_nics_switch_on_their_vlan(lab_pf: LabPF, node: SriovNode) -> None:
    vfs = create_vfs(lab_pf, 2)
    pods = [node.pod("ping-a"), node.pod("ping-b")]
    confs = [node.conf([{"name": "vlan-300", "deviceID": bdf, "mac": mac}]) for bdf, mac in zip(vfs, PING_MACS)]
    for pod, conf in zip(pods, confs):
        node.ok("ADD", pod, conf)
    assert [(i.vlan, i.mac, i.spoofchk) for i in vf_infos(lab_pf.name).values()] == \
        [(300, PING_MACS[0], True), (300, PING_MACS[1], True)]
    peer = pods[1].addresses("net1")[0].split("/")[0]
    # igbvf reports carrier a few seconds after the VF comes up (TCG); ping needs it
    for pod in pods:
        wait_for(lambda: "LOWER_UP" in pod.links()["net1"]["flags"], 30, f"carrier on {pod.name}'s net1")

    assert ping(pods[0], peer, count=3, deadline_s=20), f"no reply from {peer} over the VFs on VLAN 300"
    # negative control: the same two VFs on different port VLANs cannot reach each other
    get_vf_ops().set_vf(lab_pf.name, 1, vlan=301)
    assert not ping(pods[0], peer, count=2, deadline_s=4), "VLAN 300 reached VLAN 301: the test proves nothing"

    for pod, conf in zip(pods, confs):
        node.ok("DEL", pod, conf)
    assert [i.vlan for i in vf_infos(lab_pf.name).values()] == [0, 0] and node.allocations() == []


def test_dpdk_mode_on_a_vf_bound_to_vfio_pci_beforehand(lab_pf: LabPF, node: SriovNode) -> None:
    vf_bdf = create_vfs(lab_pf, 2)[1]
    binder = VfioBinder("/sys")
    bound = binder.bind(vf_bdf)             # what `multus-dp node-prep` does for a DPDK pool
    before = snapshot(lab_pf, vf_bdf)
    pod = node.pod("dpdk")
    conf = node.conf([{"name": "dpdk-400", "deviceID": vf_bdf}])

    node.ok("ADD", pod, conf)

    info_files = list((node.devinfo / "cni").glob("*"))
    assert len(info_files) == 1
    info = json.loads(info_files[0].read_text())
    assert info == {"type": "pci", "version": "1.0.0", "pci": {"pci-address": vf_bdf, "pf-pci-address": lab_pf.bdf}}
    status = node.network_status(pod)[1]
    assert (status["name"], status["interface"], status["device-info"]) == ("default/dpdk-400", "net1", info)
    assert set(pod.links()) == {"lo", "eth0"}, "DPDK mode must not put a netdev in the pod"
    admin = vf_infos(lab_pf.name)[1]
    assert (admin.vlan, admin.spoofchk, admin.trust) == (400, True, True)
    group = bound.iommu_group or ""
    assert stat.S_ISCHR(os.stat(f"/dev/vfio/{group}").st_mode)
    view = open_like_dpdk(group, vf_bdf)
    assert view.group_viable and view.container_set and view.device_is_pci and view.num_regions > 0

    node.ok("DEL", pod, conf)

    assert snapshot(lab_pf, vf_bdf) == before, "the PF's view of the VF is not as before ADD"
    assert sysfs.scan("/sys").vf(vf_bdf).driver == "vfio-pci", "DEL must leave node-prep's binding alone"
    assert not info_files[0].exists() and node.allocations() == []


def test_bind_vfio_at_add_and_back_to_igbvf_exactly_at_del(lab_pf: LabPF, node: SriovNode) -> None:
    vf_bdf = create_vfs(lab_pf, 1)[0]
    before = snapshot(lab_pf, vf_bdf)
    assert before.driver == "igbvf" and before.netdev
    pod = node.pod("bind")
    conf = node.conf([{"name": "dpdk-bind", "deviceID": vf_bdf}])

    node.ok("ADD", pod, conf)

    vf = sysfs.scan("/sys").vf(vf_bdf)
    assert vf is not None and (vf.driver, vf.netdevs) == ("vfio-pci", [])
    assert open_like_dpdk(vf.iommu_group or "", vf_bdf).group_viable
    device_info = node.network_status(pod)[1]["device-info"]
    assert device_info["pci"] == {"pci-address": vf_bdf, "pf-pci-address": lab_pf.bdf}
    admin = vf_infos(lab_pf.name)[0]
    assert (admin.vlan, admin.mac) == (401, "02:4d:44:50:02:01")

    node.ok("DEL", pod, conf)
    settle()

    # igbvf's probe registers its MAC with the PF; the delegate puts the admin MAC back after it
    after = wait_for(lambda: (s := snapshot(lab_pf, vf_bdf)).netdev and s, 10, f"VF {vf_bdf} back with a netdev")
    assert after == before, "VF not restored exactly after its vfio round trip"
    assert node.allocations() == []


def test_pod_netns_deleted_without_del_then_del_restores_the_vf(lab_pf: LabPF, node: SriovNode) -> None:
    vf_bdf = create_vfs(lab_pf, 1)[0]
    before = snapshot(lab_pf, vf_bdf)
    pod = node.pod("gone")
    conf = node.conf([{"name": "vfw-north", "deviceID": vf_bdf}])
    node.ok("ADD", pod, conf)
    assert host_netdev(vf_bdf) is None

    ip("netns", "delete", pod.netns_name)
    # the kernel gives a dead netns' physical netdevs back to the host (keeping the pod's name, or devN)
    returned = wait_for(lambda: host_netdev(vf_bdf), 30, f"VF {vf_bdf}'s netdev back on the host")
    assert returned != before.netdev

    node.ok("DEL", pod, conf)

    assert snapshot(lab_pf, vf_bdf) == before, "VF not restored exactly after its pod's netns died"
    assert node.allocations() == [] and node.journals() == [] and node.leases_in("10.56.1.") == []


def test_gc_recovers_the_vf_of_a_dead_pod_and_leaves_the_live_pod_alone(lab_pf: LabPF, node: SriovNode) -> None:
    live_vf, dead_vf = create_vfs(lab_pf, 2)
    before = snapshot(lab_pf, dead_vf)
    live, dead = node.pod("live"), node.pod("dead")
    live_conf = node.conf([{"name": "vlan-300", "deviceID": live_vf}])
    node.ok("ADD", live, live_conf)
    node.ok("ADD", dead, node.conf([{"name": "vfw-north", "deviceID": dead_vf}]))
    live_admin = vf_infos(lab_pf.name)[0]
    # GC at once: the kernel may not have handed the netdev back yet; the delegate waits for it
    ip("netns", "delete", dead.netns_name)

    node.ok("GC", None, node.conf(**{"cni.dev/valid-attachments": [
        {"containerID": live.container_id, "ifname": "eth0"}]}))

    assert snapshot(lab_pf, dead_vf) == before, "GC did not restore the dead pod's VF exactly"
    assert node.allocations() == [live_vf] and node.journals() == [live.container_id]
    assert vf_infos(lab_pf.name)[0] == live_admin and "net1" in live.links(), "GC touched the live pod"
    node.ok("DEL", live, live_conf)
    assert node.allocations() == []


def test_a_setting_igb_refuses_fails_the_add_clearly_and_leaves_the_vf_as_it_was(
        lab_pf: LabPF, node: SriovNode) -> None:
    vf_bdf = create_vfs(lab_pf, 1)[0]
    before = snapshot(lab_pf, vf_bdf)
    pod = node.pod("qinq")
    conf = node.conf([{"name": "qinq", "deviceID": vf_bdf}])

    reply = node.call("ADD", pod, conf)

    error = json.loads(reply.stdout)
    assert reply.returncode != 0 and error["code"] >= 100, reply.stdout
    for named in ("pod default/qinq", "default/qinq", "net1", vf_bdf):
        assert named in error["msg"], f"the error does not name {named}: {error['msg']}"
    assert snapshot(lab_pf, vf_bdf) == before, "the refused ADD left the VF changed"
    assert set(pod.links()) == {"lo"} and node.allocations() == [] and node.journals() == []
    assert node.leases_in("10.56.4.") == [] and node.leases_in("10.56.0.") == []
