"""netops against real VFs (igb 82576 in the QEMU guest), both implementations: VF config
set through the PF and read back, the same way `ip link` shows it, and VF netdevs moved
into a pod netns and back."""
from __future__ import annotations

import os
import subprocess

import pytest

from multus_dp.netops import NetOpsError, get_link_ops, get_vf_ops, native_available
from tests.lab.support.guest import LabPF, create_vfs, settle, wait_for
from tests.support.prereq import require


@pytest.fixture(params=["native", "pyroute2"])
def impl(request) -> str:
    if request.param == "native":
        require(native_available(), "native netops helper built (pip install -e .)")
    return request.param


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def vf_netdev(bdf: str) -> str:
    net = f"/sys/bus/pci/devices/{bdf}/net"
    return wait_for(lambda: os.listdir(net) if os.path.isdir(net) else [], 10, f"the netdev of VF {bdf}")[0]


def test_get_vfs_lists_every_vf(lab_pf: LabPF, impl: str) -> None:
    create_vfs(lab_pf, 2)
    vfs = get_vf_ops(impl).get_vfs(lab_pf.name)
    assert [vf.index for vf in vfs] == [0, 1]
    assert all(vf.vlan == 0 and vf.vlan_proto == 0x8100 for vf in vfs)


def test_pf_without_vfs_gives_an_empty_list(lab_pf: LabPF, impl: str) -> None:
    assert get_vf_ops(impl).get_vfs(lab_pf.name) == []


def test_set_vf_is_what_ip_link_shows(lab_pf: LabPF, impl: str) -> None:
    create_vfs(lab_pf, 2)
    ops = get_vf_ops(impl)
    ops.set_vf(lab_pf.name, 1, mac="02:00:00:aa:bb:01", vlan=100, qos=3, spoofchk=False, trust=True)
    vf = ops.get_vfs(lab_pf.name)[1]
    assert (vf.index, vf.mac, vf.vlan, vf.qos, vf.vlan_proto) == (1, "02:00:00:aa:bb:01", 100, 3, 0x8100)
    assert (vf.spoofchk, vf.trust) == (False, True)
    shown = [line for line in ip("link", "show", lab_pf.name).splitlines() if line.strip().startswith("vf 1 ")][0]
    assert "02:00:00:aa:bb:01" in shown and "vlan 100, qos 3" in shown
    assert "spoof checking off" in shown and "trust on" in shown
    ops.set_vf(lab_pf.name, 1, vlan=0)  # clears the VLAN, leaves the rest
    vf = ops.get_vfs(lab_pf.name)[1]
    assert (vf.vlan, vf.qos, vf.mac) == (0, 0, "02:00:00:aa:bb:01")


def test_both_implementations_read_the_same_state(lab_pf: LabPF) -> None:
    require(native_available(), "native netops helper built (pip install -e .)")
    create_vfs(lab_pf, 2)
    get_vf_ops("native").set_vf(lab_pf.name, 0, mac="02:00:00:aa:bb:02", vlan=7)
    assert get_vf_ops("native").get_vfs(lab_pf.name) == get_vf_ops("pyroute2").get_vfs(lab_pf.name)


def test_unsupported_and_missing_vfs_are_clear_errors(lab_pf: LabPF, impl: str) -> None:
    create_vfs(lab_pf, 1)
    ops = get_vf_ops(impl)
    with pytest.raises(NetOpsError) as info:
        ops.set_vf(lab_pf.name, 5, mac="02:00:00:aa:bb:03")
    assert info.value.msg.startswith(f"set_vf {lab_pf.name} vf 5: configure in own netns: ")
    with pytest.raises(NetOpsError) as info:
        ops.set_vf(lab_pf.name, 0, vlan=10, vlan_proto="802.1ad")  # igb does 802.1Q only
    assert info.value.msg.startswith(f"set_vf {lab_pf.name} vf 0: configure in own netns: ")
    assert ops.get_vfs(lab_pf.name)[0].vlan == 0


def test_vf_netdev_moves_into_a_pod_and_back(lab_pf: LabPF, impl: str) -> None:
    bdf = create_vfs(lab_pf, 1)[0]
    name = vf_netdev(bdf)
    subprocess.run(["ip", "netns", "add", "mdppod"], check=True)
    links = get_link_ops(impl)
    host = links.link_info(None, name)
    index = links.move_to_netns(name, "/run/netns/mdppod", "net1", mac="02:00:00:aa:bb:04", mtu=1400)
    inside = links.link_info("/run/netns/mdppod", "net1")
    assert (inside.index, inside.mac, inside.mtu, inside.up) == (index, "02:00:00:aa:bb:04", 1400, True)
    links.move_from_netns("net1", "/run/netns/mdppod", name, mac=host.mac, mtu=host.mtu)
    settle()
    back = links.link_info(None, name)
    assert (back.mac, back.mtu) == (host.mac, host.mtu)
    assert os.listdir(f"/sys/bus/pci/devices/{bdf}/net") == [name]
