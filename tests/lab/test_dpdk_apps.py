"""DPDK applications on the VFs multus-dp hands a pod, in the lab guest (emulated igb 82576):
dpdk-testpmd answering ping (conformance: the VF a DPDK-mode ADD prepared really works under
DPDK's igb VF PMD), and the vFW scenario — a firewall pod with a management eth0 and two
DPDK-mode VFs routing and filtering between a client pod and a server pod on two VLANs.

Everything goes through the daemon and the shim as a pod's would; the DPDK processes start from
what the pod sees (its network-status annotation, through the multus-dp-eal helper). The
trimmed PMD directory and the hugepages come from the session's `dpdk_lab` fixture
(support/dpdk.py). Every VF is compared with its state before ADD after the pods' DEL.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.hardware import sysfs
from tests.lab.support import dpdk
from tests.lab.support.dpdk import START_TIMEOUT_S, DpdkLab
from tests.lab.support.guest import LabPF, create_vfs, settle, wait_for
from tests.lab.support.sriovnode import LabPod, SriovLab, SriovNode
from tests.lab.support.vfinfo import vf_infos
from tests.lab.support.vfstate import VfSnapshot, snapshot
from tests.support.vfw import FlowServer, Pod, assert_stats_contract, flow

# igbvf reports carrier seconds after the VF comes up under TCG; traffic waits for it
CARRIER_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_CARRIER_TIMEOUT", "60"))
# per-packet wait of ping and of a UDP/TCP request: the first one waits for ARP on both sides
REPLY_WAIT_S = float(os.environ.get("MULTUS_DP_LAB_REPLY_WAIT", "10"))
ECHO_MAC = "02:4d:44:50:05:01"
VFW_LAN_MAC, VFW_WAN_MAC = "02:4d:44:50:06:01", "02:4d:44:50:06:02"
LAN_GW, WAN_GW = "10.100.0.1", "10.200.0.1"
UDP_PORT, TCP_PORT, DENIED_UDP_PORT = 5001, 8000, 6000
FLOW_REQUESTS = 3
RULES = f"""\
# the lab's vFW: client (lan, VLAN 100) -> server (wan, VLAN 200); stateless, so replies need rules
default deny
allow icmp from 10.100.0.0/24 to 10.200.0.0/24
allow icmp from 10.200.0.0/24 to 10.100.0.0/24
allow udp from 10.100.0.0/24 to 10.200.0.0/24 port {UDP_PORT}
allow udp from 10.200.0.0/24 to 10.100.0.0/24
allow tcp from 10.100.0.0/24 to 10.200.0.0/24 port {TCP_PORT}
allow tcp from 10.200.0.0/24 to 10.100.0.0/24
deny udp from any to any port {DENIED_UDP_PORT}
"""


@pytest.fixture(scope="module")
def lab(lab_pf: LabPF, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SriovLab]:
    lab = SriovLab(tmp_path_factory.mktemp("dpdklab"))
    # conformance: a DPDK-mode VF and a kernel-mode VF on one VLAN
    lab.add_nad("echo-dpdk", bindVfio=True, vlan=500, mac=ECHO_MAC, spoofchk="on")
    lab.add_nad("echo-kernel", vlan=500, spoofchk="on", subnet="10.57.5.0/24")
    # the vFW's data plane: DPDK-mode VFs with the example NADs' spoofchk off / trust on (the
    # permissive choice, which also suits bridging firewalls; docs/vfw.md#real-nics)
    lab.add_nad("vfw-lan", bindVfio=True, vlan=100, mac=VFW_LAN_MAC, spoofchk="off", trust="on")
    lab.add_nad("vfw-wan", bindVfio=True, vlan=200, mac=VFW_WAN_MAC, spoofchk="off", trust="on")
    # the client and the server: kernel-mode VFs, own subnets, default route via the vFW
    lab.add_nad("client-net", vlan=100, spoofchk="on", subnet="10.100.0.0/24",
                routes=[{"dst": "0.0.0.0/0", "gw": LAN_GW}])
    lab.add_nad("server-net", vlan=200, spoofchk="on", subnet="10.200.0.0/24",
                routes=[{"dst": "0.0.0.0/0", "gw": WAN_GW}])
    lab.start()
    yield lab
    lab.stop()


def wait_carrier(pod: LabPod, ifname: str = "net1") -> None:
    wait_for(lambda: "LOWER_UP" in pod.links()[ifname]["flags"], CARRIER_TIMEOUT_S, f"carrier on {pod.name}'s {ifname}")


def as_pod(pod: LabPod) -> Pod:
    """The lab pod as tests/support/vfw.py's flow helpers see it (its VF is net1)."""
    return Pod(pod.netns_name, "net1", pod.addresses("net1")[0].split("/")[0])


def podinfo(node: SriovNode, pod: LabPod) -> Path:
    """The pod's downward-API annotations file, from the network-status multus-dp published."""
    return dpdk.write_podinfo(node.tmp / pod.name / "podinfo" / "annotations", node.network_status(pod))


def assert_restored(lab_pf: LabPF, before: dict[str, VfSnapshot]) -> None:
    """Every VF as before ADD; a VF back from vfio-pci gets its netdev from udev a moment later."""
    settle()
    for bdf, then in before.items():
        now = wait_for(lambda: (s := snapshot(lab_pf, bdf)).netdev and s, 30, f"VF {bdf} back with a netdev")
        assert now == then, f"VF {bdf} not restored exactly:\nbefore {then}\nafter  {now}"


def port_counts(output: str) -> tuple[int, int]:
    """RX and TX packets of testpmd's final "Forward statistics for port 0"."""
    rx = re.findall(r"RX-packets:\s+(\d+)", output)
    tx = re.findall(r"TX-packets:\s+(\d+)", output)
    return (int(rx[0]), int(tx[0])) if rx and tx else (0, 0)


def test_testpmd_icmpecho_on_a_vf_from_multus_dp_answers_ping_from_a_kernel_vf(
        lab_pf: LabPF, node: SriovNode, dpdk_lab: DpdkLab) -> None:
    dpdk_lab.require_testpmd()
    echo_vf, peer_vf = create_vfs(lab_pf, 2)
    before = {bdf: snapshot(lab_pf, bdf) for bdf in (echo_vf, peer_vf)}
    echo, peer = node.pod("echo"), node.pod("peer")
    echo_conf = node.conf([{"name": "echo-dpdk", "deviceID": echo_vf}])
    peer_conf = node.conf([{"name": "echo-kernel", "deviceID": peer_vf}])
    node.ok("ADD", echo, echo_conf)
    node.ok("ADD", peer, peer_conf)
    eal = dpdk.eal_args(podinfo(node, echo), "default/echo-dpdk")
    assert eal == ["-a", echo_vf]

    testpmd = dpdk.testpmd_icmpecho(dpdk_lab, eal, node.tmp / "testpmd.log")
    try:
        testpmd.wait_output("Press enter to exit")
        assert f"Port 0: {ECHO_MAC.upper()}" in testpmd.output(), "testpmd's port has not the NAD's MAC"
        wait_carrier(peer)
        target = "10.57.5.250"     # icmpecho answers ARP and ping for any address
        answered = as_pod(peer).ping(target, count=3, wait=REPLY_WAIT_S)
        assert answered.returncode == 0, f"no reply from testpmd: {answered.stdout}\n{testpmd.output()[-3000:]}"
        assert as_pod(peer).neighbour_mac(target) == ECHO_MAC, "someone else than testpmd's VF answered"
    finally:
        status = testpmd.stop()
    assert status == 0, testpmd.output()[-3000:]
    rx, tx = port_counts(testpmd.output())
    assert rx >= 3 and tx >= 3, f"testpmd counted RX {rx} TX {tx} (3 pings and an ARP request, each answered)"
    # negative control: nobody else answers on VLAN 500
    assert as_pod(peer).ping(target, count=2, wait=2).returncode != 0, "ping answered with testpmd stopped"

    node.ok("DEL", echo, echo_conf)
    node.ok("DEL", peer, peer_conf)
    assert_restored(lab_pf, before)
    assert node.allocations() == []


def test_vfw_routes_and_filters_client_to_server_through_its_dpdk_vfs(
        lab_pf: LabPF, node: SriovNode, dpdk_lab: DpdkLab) -> None:
    dpdk_lab.require_vfw()
    lan_vf, wan_vf, client_vf, server_vf = create_vfs(lab_pf, 4)
    before = {bdf: snapshot(lab_pf, bdf) for bdf in (lan_vf, wan_vf, client_vf, server_vf)}
    vfw_pod, client, server = node.pod("vfw"), node.pod("client"), node.pod("server")
    confs = {
        vfw_pod: node.conf([{"name": "vfw-lan", "deviceID": lan_vf, "interface": "lan0"},
                            {"name": "vfw-wan", "deviceID": wan_vf, "interface": "wan0"}]),
        client: node.conf([{"name": "client-net", "deviceID": client_vf}]),
        server: node.conf([{"name": "server-net", "deviceID": server_vf}]),
    }
    for pod, conf in confs.items():
        node.ok("ADD", pod, conf)

    # the vFW pod: management eth0 only as a netdev, its VFs on vfio-pci with the NADs' settings
    assert set(vfw_pod.links()) == {"lo", "eth0"}
    model = sysfs.scan("/sys")
    assert [vf.driver if (vf := model.vf(bdf)) else None for bdf in (lan_vf, wan_vf)] == ["vfio-pci", "vfio-pci"]
    infos = vf_infos(lab_pf.name)
    assert [(i.vlan, i.mac, i.spoofchk, i.trust) for i in (infos[0], infos[1])] == [
        (100, VFW_LAN_MAC, False, True), (200, VFW_WAN_MAC, False, True)]
    rules = node.tmp / "vfw.rules"
    rules.write_text(RULES)

    vfw = dpdk.start_vfw(dpdk_lab, netns=vfw_pod.netns_name, wan="default/vfw-wan", lan="default/vfw-lan",
                         wan_address=f"{WAN_GW}/24", lan_address=f"{LAN_GW}/24",
                         annotations=podinfo(node, vfw_pod), rules=rules, work=node.tmp / "vfw")
    servers: list[FlowServer] = []
    try:
        vfw.wait_ready(START_TIMEOUT_S)
        for pod in (client, server):
            wait_carrier(pod)
        src, dst = as_pod(client), as_pod(server)
        servers = [FlowServer(dst, kind, port, seconds=120)
                   for kind, port in (("udp", UDP_PORT), ("udp", DENIED_UDP_PORT), ("tcp", TCP_PORT))]

        pinged = src.ping(dst.address, count=3, wait=REPLY_WAIT_S)
        assert pinged.returncode == 0, \
            f"client cannot ping the server through the vFW: {pinged.stdout}\n{vfw.stderr[-3000:]}"
        assert src.neighbour_mac(LAN_GW) == VFW_LAN_MAC, "the client's gateway is not the vFW's VF"
        assert dst.neighbour_mac(WAN_GW) == VFW_WAN_MAC, "the server's gateway is not the vFW's VF"
        for n in range(FLOW_REQUESTS):
            for kind, port in (("udp", UDP_PORT), ("tcp", TCP_PORT)):
                sent = flow(src, kind, dst.address, port, f"{kind} {n} through the vfw", seconds=REPLY_WAIT_S)
                assert (sent.returncode, sent.stdout.strip()) == (0, f"{kind} {n} through the vfw"), sent.stderr
        denied = flow(src, "udp", dst.address, DENIED_UDP_PORT, "denied", seconds=3)
        assert denied.returncode != 0, "a UDP request the rules deny got an answer"

        stats = vfw.stats(START_TIMEOUT_S)
        assert_stats_contract(stats, rules=sum(line.startswith(("allow", "deny")) for line in RULES.splitlines()))
        by_rule = {r["rule"].split(" port ")[0]: r["packets"] for r in stats["rules"]}
        there, back = "from 10.100.0.0/24 to 10.200.0.0/24", "from 10.200.0.0/24 to 10.100.0.0/24"
        assert by_rule[f"allow icmp {there}"] >= 3 and by_rule[f"allow icmp {back}"] >= 3, stats["rules"]
        assert by_rule[f"allow udp {there}"] >= FLOW_REQUESTS and by_rule[f"allow udp {back}"] >= FLOW_REQUESTS
        # a TCP exchange is at least SYN, data, FIN one way and SYN-ACK, data, FIN the other
        assert by_rule[f"allow tcp {there}"] >= 3 * FLOW_REQUESTS and by_rule[f"allow tcp {back}"] >= 3 * FLOW_REQUESTS
        assert by_rule["deny udp from any to any"] >= 1 and stats["denied"] >= 1, stats
        # every allowed packet crossed the vFW: in on one VF, out on the other
        lan, wan = stats["ports"]["lan"], stats["ports"]["wan"]
        assert (lan["pci"], wan["pci"]) == (lan_vf, wan_vf), stats["ports"]
        crossing = 3 + FLOW_REQUESTS * 4     # client -> server: pings, UDP, TCP (>= 3 each)
        assert lan["rx"] >= crossing and wan["tx"] >= crossing and wan["rx"] >= crossing and lan["tx"] >= crossing
        assert stats["forwarded"] >= 2 * crossing and stats["timeline"]["firstForwarded"], stats
    finally:
        status = dpdk.stop_vfw(vfw)
        received = {port: server.received() for port, server in zip((UDP_PORT, DENIED_UDP_PORT, TCP_PORT), servers)}
    assert status == 0, f"the vFW exited {status}:\n{vfw.stderr[-3000:]}"
    assert received[DENIED_UDP_PORT] == [], "the denied UDP flow reached the server"
    assert len(received[UDP_PORT]) == FLOW_REQUESTS and len(received[TCP_PORT]) == FLOW_REQUESTS, received
    assert dpdk.final_stats(vfw)["forwarded"] >= stats["forwarded"]
    assert as_pod(client).ping(as_pod(server).address, count=2, wait=2).returncode != 0, \
        "traffic still passes with the vFW stopped"

    for pod, conf in confs.items():
        node.ok("DEL", pod, conf)
    assert_restored(lab_pf, before)
    assert node.allocations() == [] and node.journals() == []
