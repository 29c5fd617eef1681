"""The built-in SR-IOV delegate on a simulated NIC: VF netdevs are real veth ends, the PF's
VF table lives in a PF-netlink stand-in. Kernel and DPDK modes, exact restore, the reuse
race, a dead netns, and a failure at each step of ADD."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.netns import ip
from tests.support.prereq import require_cni_plugins
from tests.support.simnic import SimNic

VFW = "vf-a"


@pytest.fixture
def nic(netlab, tmp_path):
    cni_dir = require_cni_plugins("bridge", "host-local")
    nic = SimNic(netlab, tmp_path, cni_dir)
    nic.add_nad("vf-a", vlan=100, vlanQoS=2, mac="02:aa:00:00:00:01", spoofchk="on", trust="on",
                max_tx_rate=1000, min_tx_rate=100, mtu=1400, ipam=nic.sriov_ipam("10.253.1.0/24"))
    nic.add_nad("vf-b", vlan=200, ipam=nic.sriov_ipam("10.253.2.0/24"))
    nic.add_nad("vf-plain")
    nic.add_nad("vf-dpdk", vlan=300, vlanProto="802.1ad", ipam=nic.sriov_ipam("10.253.3.0/24"))
    return nic


def sel(name: str, vf: str, **more) -> dict:
    return {"name": name, "deviceID": vf, **more}


def annotation(*elements: dict) -> str:
    return json.dumps(list(elements))


def test_kernel_mode_add_check_del_restores_everything(nic, netlab) -> None:
    vf0, vf1 = nic.vf_bdf(0), nic.vf_bdf(1)
    before = {i: nic.pfnl.vf(nic.pf, i) for i in (0, 1)}
    links_before = {i: nic.host_link(nic.vf_netdevs[i]) for i in (0, 1)}
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-a", vf0), sel("vf-b", vf1, interface="data1")))
    result = nic.ok("ADD", "vfw1", ns, conf)
    assert [i["name"] for i in result["interfaces"] if i.get("sandbox")] == ["eth0"]

    # the pod: VF netdevs renamed, MAC/MTU set, addresses configured
    assert {"eth0", "net1", "data1"} <= set(netlab.links_in(ns))
    net1 = json.loads(ip("-n", ns, "-j", "addr", "show", "dev", "net1"))[0]
    assert net1["address"] == "02:aa:00:00:00:01" and net1["mtu"] == 1400 and "UP" in net1["flags"]
    assert netlab.addrs_in(ns, "net1")[0].startswith("10.253.1.")
    assert netlab.addrs_in(ns, "data1")[0].startswith("10.253.2.")
    assert nic.host_link(nic.vf_netdevs[0]) is None, "the VF netdev is still on the host"
    # the PF's view of the VFs
    vf = nic.pfnl.vf(nic.pf, 0)
    assert (vf.mac, vf.vlan, vf.qos, vf.vlan_proto, vf.spoofchk, vf.trust, vf.min_tx_rate, vf.max_tx_rate) == \
        ("02:aa:00:00:00:01", 100, 2, 0x8100, True, True, 100, 1000)
    assert nic.pfnl.vf(nic.pf, 1).vlan == 200
    assert nic.allocations() == sorted([vf0, vf1])
    status = nic.status("vfw1")
    assert [(s["name"], s["interface"]) for s in status] == [
        ("cluster", "eth0"), ("default/vf-a", "net1"), ("default/vf-b", "data1")]
    assert status[1]["mac"] == "02:aa:00:00:00:01" and status[1]["ips"][0].startswith("10.253.1.")

    nic.ok("CHECK", "vfw1", ns, conf)
    nic.ok("DEL", "vfw1", ns, conf)
    nic.ok("DEL", "vfw1", ns, conf)

    assert set(netlab.links_in(ns)) == {"lo"}
    for i in (0, 1):
        assert nic.pfnl.vf(nic.pf, i) == before[i]
        after = nic.host_link(nic.vf_netdevs[i])
        assert after is not None, "VF netdev not back on the host under its name"
        assert (after["address"], after["mtu"]) == (links_before[i]["address"], links_before[i]["mtu"])
    assert nic.allocations() == []
    assert not list(nic.ipam.rglob("10.253.*"))


def test_check_notices_a_changed_vf(nic, netlab) -> None:
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-a", nic.vf_bdf(0))))
    nic.ok("ADD", "c1", ns, conf)
    nic.pfnl.set_vf(nic.pf, 0, vlan=999)
    reply = nic.call("CHECK", "c1", ns, conf)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and "vlan is 999, want 100" in err["msg"] and "interface net1" in err["msg"]
    nic.ok("DEL", "c1", ns, conf)


def test_dpdk_mode_device_info_and_network_status(nic, netlab) -> None:
    vf3 = nic.vf_bdf(3)
    before = nic.pfnl.vf(nic.pf, 3)
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-dpdk", vf3)))
    nic.ok("ADD", "dpdk1", ns, conf)
    info_files = list((nic.tmp / "devinfo" / "cni").glob("*"))
    assert len(info_files) == 1
    info = json.loads(info_files[0].read_text())
    assert info == {"type": "pci", "version": "1.0.0", "pci": {"pci-address": vf3, "pf-pci-address": "0000:3b:00.0"}}
    status = nic.status("dpdk1")[1]
    assert status["name"] == "default/vf-dpdk" and status["interface"] == "net1"
    assert status["device-info"] == info and status["ips"][0].startswith("10.253.3.")
    assert set(netlab.links_in(ns)) == {"lo", "eth0"}, "DPDK mode must not put a netdev in the pod"
    vf = nic.pfnl.vf(nic.pf, 3)
    assert (vf.vlan, vf.vlan_proto) == (300, 0x88A8)
    nic.ok("DEL", "dpdk1", ns, conf)
    assert nic.pfnl.vf(nic.pf, 3) == before
    assert not info_files[0].exists() and nic.allocations() == []


ORIGINAL = dict(mac="02:00:00:00:00:99", vlan=7, qos=1, spoofchk=False, trust=True, link_state="disable",
                min_tx_rate=10, max_tx_rate=50)
FIELD_CASES = {
    "vlan": dict(vlan=100), "qos": dict(vlan=100, vlanQoS=5), "proto": dict(vlan=100, vlanProto="802.1ad"),
    "mac": dict(mac="02:bb:00:00:00:02"), "spoofchk": dict(spoofchk="on"), "trust": dict(trust="off"),
    "link_state": dict(link_state="enable"), "min_tx_rate": dict(min_tx_rate=20),
    "max_tx_rate": dict(max_tx_rate=500), "mtu": dict(mtu=1300),
}


@pytest.mark.parametrize("field", list(FIELD_CASES))
def test_restore_after_each_field_changed(nic, netlab, field) -> None:
    nic.pfnl.set_vf(nic.pf, 2, **ORIGINAL)
    ip("link", "set", nic.vf_netdevs[2], "mtu", "1450", "address", "02:cc:00:00:00:03")
    before_vf = nic.pfnl.vf(nic.pf, 2)
    before_link = nic.host_link(nic.vf_netdevs[2])
    nic.add_nad(f"vf-{field.replace('_', '-')}", **FIELD_CASES[field])
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel(f"vf-{field.replace('_', '-')}", nic.vf_bdf(2))))
    nic.ok("ADD", "f1", ns, conf)
    changed = nic.pfnl.vf(nic.pf, 2) != before_vf or field == "mtu"
    assert changed, "the NAD did not change the VF: the test would prove nothing"
    nic.ok("DEL", "f1", ns, conf)
    assert nic.pfnl.vf(nic.pf, 2) == before_vf
    after = nic.host_link(nic.vf_netdevs[2])
    assert (after["address"], after["mtu"], after["ifname"]) == \
        (before_link["address"], before_link["mtu"], before_link["ifname"])


def test_reuse_race_second_add_refused_and_old_del_never_touches_new_owner(nic, netlab) -> None:
    vf0 = nic.vf_bdf(0)
    ns_a, ns_b = netlab.add_netns(), netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-a", vf0)))
    nic.ok("ADD", "old", ns_a, conf)
    refused = nic.call("ADD", "new", ns_b, conf)
    err = json.loads(refused.stdout)
    assert refused.exit_code == 1 and err["code"] == 108 and "already allocated" in err["msg"] and vf0 in err["msg"]
    assert "net1" in netlab.links_in(ns_a), "a refused ADD must not disturb the owner"
    nic.ok("DEL", "old", ns_a, conf)
    nic.ok("ADD", "new", ns_b, conf)
    owned = nic.pfnl.vf(nic.pf, 0)
    nic.ok("DEL", "old", ns_a, conf)  # the runtime retries the old pod's DEL after the VF moved on
    assert nic.pfnl.vf(nic.pf, 0) == owned
    assert "net1" in netlab.links_in(ns_b) and nic.allocations() == [vf0]
    nic.ok("DEL", "new", ns_b, conf)


def test_netns_deleted_without_del_then_del(nic, netlab) -> None:
    vf1 = nic.vf_bdf(1)
    before = nic.pfnl.vf(nic.pf, 1)
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-b", vf1)))
    nic.ok("ADD", "gone", ns, conf)
    ip("netns", "del", ns)
    netlab.netns.remove(ns)
    nic.ok("DEL", "gone", ns, conf)
    assert nic.pfnl.vf(nic.pf, 1) == before and nic.allocations() == []
    assert not list(nic.ipam.rglob("10.253.2.*"))


def test_dead_netns_vf_is_reclaimed_and_the_original_state_survives(nic, netlab) -> None:
    """A pod's netns dies and its DEL never comes: the next pod gets the VF, and its DEL
    restores the state found before the first pod, not the dead pod's settings."""
    vf3 = nic.vf_bdf(3)
    original = nic.pfnl.vf(nic.pf, 3)
    ns1 = netlab.add_netns()
    nic.ok("ADD", "p1", ns1, nic.conf(annotation(sel("vf-dpdk", vf3))))
    ip("netns", "del", ns1)
    netlab.netns.remove(ns1)
    ns2 = netlab.add_netns()
    conf2 = nic.conf(annotation(sel("vf-plain", vf3)))
    nic.ok("ADD", "p2", ns2, conf2)
    nic.ok("DEL", "p2", ns2, conf2)
    assert nic.pfnl.vf(nic.pf, 3) == original


def test_failure_at_each_add_step_leaves_the_vf_as_it_was(nic, netlab) -> None:
    vf0 = nic.vf_bdf(0)
    before_vf = nic.pfnl.vf(nic.pf, 0)
    before_link = nic.host_link(nic.vf_netdevs[0])

    def attempt(conf: dict, cid: str, ns: str) -> dict:
        reply = nic.call("ADD", cid, ns, conf)
        assert reply.exit_code == 1, reply.stdout
        assert nic.pfnl.vf(nic.pf, 0) == before_vf
        link = nic.host_link(nic.vf_netdevs[0])
        assert link is not None and (link["address"], link["mtu"]) == (before_link["address"], before_link["mtu"])
        assert vf0 not in nic.allocations() and not (nic.state / "attachments" / f"{cid}.json").exists()
        assert not list(nic.ipam.rglob("10.253.1.*"))
        return json.loads(reply.stdout)

    conf = nic.conf(annotation(sel("vf-a", vf0)))
    # 1. the PF refuses the VF config
    nic.pfnl.fail_next("set_vf")
    err = attempt(conf, "s1", netlab.add_netns())
    assert "injected failure" in err["msg"] and vf0 in err["msg"]
    # 2. reading the VF table fails (before anything is touched)
    nic.pfnl.fail_next("get_vfs")
    attempt(conf, "s2", netlab.add_netns())
    # 3. the move fails: the pod already has an interface with that name
    ns = netlab.add_netns()
    wire, squatter = netlab.add_veth()
    ip("link", "set", squatter, "netns", ns, "name", "net1")
    err = attempt(conf, "s3", ns)
    assert "net1" in err["msg"]
    # 4. IPAM fails (its subnet is exhausted)
    nic.add_nad("vf-full", ipam={"type": "host-local", "dataDir": str(nic.ipam), "ranges": [[
        {"subnet": "10.253.9.0/29", "rangeStart": "10.253.9.2", "rangeEnd": "10.253.9.2"}]]})
    blocker = netlab.add_netns()
    nic.ok("ADD", "blocker", blocker, nic.conf(annotation(sel("vf-full", nic.vf_bdf(1)))))
    err = attempt(nic.conf(annotation(sel("vf-full", vf0))), "s4", netlab.add_netns())
    assert "host-local" in err["msg"] or "no IP addresses available" in err["msg"]
    nic.ok("DEL", "blocker", blocker, nic.conf(annotation(sel("vf-full", nic.vf_bdf(1)))))
    # 5. a later attachment of the same pod fails: the chain rolls the VF back too
    nic.add_nad("broken", ipam={"type": "no-such-ipam"})
    err = attempt(nic.conf(annotation(sel("vf-a", vf0), sel("broken", nic.vf_bdf(2)))), "s5", netlab.add_netns())
    assert "no-such-ipam" in err["msg"]


def test_bind_vfio_at_add_and_give_back_at_del(nic, netlab) -> None:
    """`bindVfio: true`: a kernel-mode VF goes to vfio-pci for the pod (DPDK mode) and returns to
    its driver, with its netdev under its own name, at DEL."""
    vf2 = nic.vf_bdf(2)
    nic.add_nad("vf-bind", bindVfio=True, vlan=42)
    before = nic.pfnl.vf(nic.pf, 2)
    ns = netlab.add_netns()
    conf = nic.conf(annotation(sel("vf-bind", vf2)))
    nic.ok("ADD", "b1", ns, conf)
    assert nic.fs.driver_of(vf2) == "vfio-pci"
    assert nic.status("b1")[1]["device-info"]["pci"]["pci-address"] == vf2
    assert set(netlab.links_in(ns)) == {"lo", "eth0"}
    nic.ok("DEL", "b1", ns, conf)
    assert nic.fs.driver_of(vf2) == "igbvf" and nic.fs.override_of(vf2) is None
    assert nic.pfnl.vf(nic.pf, 2) == before
    assert nic.fs.netdevs(vf2) == [nic.vf_netdevs[2]]
