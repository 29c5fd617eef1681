"""multus-dp-vfw routing real packets between two pods (netns) through DPDK's af_packet PMD:
ping, allowed and denied UDP/TCP flows, the default action, ARP answered and learnt, TTL. One
vFW process serves the whole module (an EAL start per test would dominate); every assertion is
about counter deltas, so the tests do not depend on their order."""
from __future__ import annotations

import pytest

from tests.support.netns import NetLab, ip
from tests.support.prereq import require_root
from tests.support.vfw import (CLIENT_IP, SERVER_IP, FlowServer, VfwProcess, VfwTopology, assert_stats_contract,
                               flow, require_vfw, rule_counts)

RULES = """\
# the module's policy: stateless, so each direction has its rule
default deny
allow icmp from 10.100.0.0/24 to 10.200.0.0/24
allow icmp from 10.200.0.0/24 to 10.100.0.0/24
allow udp from 10.100.0.0/24 to 10.200.0.10/32 port 5001
allow udp  from 10.200.0.10   to 10.100.0.0/24        # answers
allow tcp from 10.100.0.0/24 to 10.200.0.10/32 port 8000-8100
allow tcp from 10.200.0.10/32 to 10.100.0.0/24
deny udp from any to any port 5002
deny tcp from any to any port 22
"""
ICMP_OUT, ICMP_BACK, UDP_5001, UDP_BACK, TCP_8000, TCP_BACK, DENY_UDP_5002, DENY_SSH = 3, 4, 5, 6, 7, 8, 9, 10


class Router:
    def __init__(self, topo: VfwTopology, vfw: VfwProcess) -> None:
        self.topo, self.vfw = topo, vfw
        self.client, self.server = topo.client, topo.server


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> Router:
    require_root()
    require_vfw()
    workdir = tmp_path_factory.mktemp("vfw-router")
    rules = workdir / "rules"
    rules.write_text(RULES)
    topo = VfwTopology(NetLab())
    vfw = None
    try:
        vfw = VfwProcess([*topo.router_args(), "--rules", str(rules), "--idle-sleep-us", "100"], topo.eal_args(),
                         workdir)
        vfw.wait_ready()
        yield Router(topo, vfw)
    finally:
        if vfw is not None:
            vfw.close()
        topo.cleanup()


def test_ping_goes_through_the_vfw_and_is_counted(router) -> None:
    before = router.vfw.stats()
    reply = router.client.ping(SERVER_IP, count=3)
    assert reply.returncode == 0, reply.stdout + reply.stderr
    after = router.vfw.stats()
    assert after["forwarded"] - before["forwarded"] >= 6
    got, had = rule_counts(after), rule_counts(before)
    assert got[ICMP_OUT] - had[ICMP_OUT] == 3 and got[ICMP_BACK] - had[ICMP_BACK] == 3
    for side in ("wan", "lan"):
        assert after["ports"][side]["rx"] - before["ports"][side]["rx"] >= 3
        assert after["ports"][side]["tx"] - before["ports"][side]["tx"] >= 3
    assert after["timeline"]["firstForwarded"] is not None


def test_ttl_is_decremented_and_a_packet_at_ttl_1_is_dropped(router) -> None:
    before = router.vfw.stats()
    expired = router.client.ping(SERVER_IP, ttl=1, wait=1)
    assert expired.returncode != 0
    after = router.vfw.stats()
    assert after["drops"]["ttl"] - before["drops"]["ttl"] == 1
    assert after["ports"]["wan"]["dropped"] - before["ports"]["wan"]["dropped"] >= 1
    # TTL 2 survives one hop; the server's answer (TTL 64) arrives with 63: decremented, and the
    # checksum fixed (the client's kernel drops a packet whose header checksum is wrong)
    passed = router.client.ping(SERVER_IP, ttl=2)
    assert passed.returncode == 0 and "ttl=63" in passed.stdout, passed.stdout


def test_the_vfw_answers_arp_and_ping_for_its_own_addresses(router) -> None:
    for gateway in ("10.100.0.1", "10.200.0.1"):
        reply = router.client.ping(gateway)
        assert reply.returncode == 0 and "ttl=64" in reply.stdout, reply.stdout
    stats = router.vfw.stats()
    assert router.client.neighbour_mac("10.100.0.1") == stats["ports"]["wan"]["mac"].lower()
    assert stats["ports"]["wan"]["arp"] >= 1 and stats["ports"]["wan"]["arpSent"] >= 1


def test_the_vfw_resolves_an_unknown_next_hop_by_arp_and_holds_the_packet_meanwhile(router) -> None:
    """10.200.0.20 was never seen: the first echo request waits for the vFW's ARP request to be
    answered and then goes out (no loss), and the neighbour is learnt."""
    ip("-n", router.server.netns, "addr", "add", "10.200.0.20/24", "dev", router.server.ifname)
    before = router.vfw.stats()
    assert "10.200.0.20" not in {n["ip"] for n in before["ports"]["lan"]["neighbours"]}
    reply = router.client.ping("10.200.0.20", count=1, wait=3)
    assert reply.returncode == 0, reply.stdout
    after = router.vfw.stats()
    assert after["ports"]["lan"]["arpSent"] - before["ports"]["lan"]["arpSent"] >= 1
    neighbours = {n["ip"]: n["mac"].lower() for n in after["ports"]["lan"]["neighbours"]}
    assert neighbours["10.200.0.20"] == router.server.mac
    assert {n["ip"]: n["mac"].lower() for n in after["ports"]["wan"]["neighbours"]}[CLIENT_IP] == router.client.mac
    # the server learnt the vFW from its request: the answer went back without asking
    assert router.server.neighbour_mac("10.200.0.1") == after["ports"]["lan"]["mac"].lower()


@pytest.mark.parametrize("kind,port,rule,back", [("udp", 5001, UDP_5001, UDP_BACK), ("tcp", 8080, TCP_8000, TCP_BACK)])
def test_an_allowed_flow_passes(router, kind, port, rule, back) -> None:
    server = FlowServer(router.server, kind, port)
    before = router.vfw.stats()
    answer = flow(router.client, kind, SERVER_IP, port, f"hello-{kind}")
    assert server.received() == [f"hello-{kind}"]
    assert answer.returncode == 0 and answer.stdout.strip() == f"hello-{kind}", answer.stderr
    after = router.vfw.stats()
    assert rule_counts(after)[rule] > rule_counts(before)[rule]
    assert rule_counts(after)[back] > rule_counts(before)[back]
    assert after["denied"] == before["denied"]


@pytest.mark.parametrize("kind,port,rule", [("udp", 5002, DENY_UDP_5002), ("tcp", 22, DENY_SSH)])
def test_a_denied_flow_is_dropped_and_counted_on_its_rule(router, kind, port, rule) -> None:
    server = FlowServer(router.server, kind, port)
    before = router.vfw.stats()
    answer = flow(router.client, kind, SERVER_IP, port, f"blocked-{kind}", seconds=1.5)
    assert answer.returncode != 0
    assert server.received() == []
    after = router.vfw.stats()
    assert rule_counts(after)[rule] - rule_counts(before)[rule] >= 1
    assert after["denied"] - before["denied"] == rule_counts(after)[rule] - rule_counts(before)[rule]
    assert after["default"]["packets"] == before["default"]["packets"]


def test_a_flow_no_rule_matches_gets_the_default_deny(router) -> None:
    server = FlowServer(router.server, "udp", 6000)
    before = router.vfw.stats()
    assert before["default"]["action"] == "deny"
    answer = flow(router.client, "udp", SERVER_IP, 6000, "nobody-allowed-me", seconds=1.5)
    assert answer.returncode != 0 and server.received() == []
    after = router.vfw.stats()
    assert after["default"]["packets"] - before["default"]["packets"] == 1
    assert after["default"]["bytes"] - before["default"]["bytes"] == 20 + 8 + len("nobody-allowed-me")
    assert after["denied"] - before["denied"] == 1


@pytest.mark.parametrize("destination", ["192.0.2.1", "10.200.0.255", "10.200.0.0"],
                         ids=["neither-subnet", "subnet-broadcast", "subnet-network"])
def test_a_destination_that_is_not_a_host_of_either_side_is_not_routed(router, destination) -> None:
    before = router.vfw.stats()
    assert router.client.ping(destination, wait=1).returncode != 0
    after = router.vfw.stats()
    assert after["drops"]["noRoute"] - before["drops"]["noRoute"] == 1
    assert after["forwarded"] == before["forwarded"]


def test_sigusr1_dumps_the_contract_json(router) -> None:
    router.client.ping(SERVER_IP)
    stats = router.vfw.stats()
    assert_stats_contract(stats, rules=8)
    assert [r["line"] for r in stats["rules"]] == list(range(3, 11))
    assert stats["rules"][3]["rule"] == "allow udp from 10.200.0.10 to 10.100.0.0/24", "comment and blanks dropped"
    assert stats["ports"]["wan"]["pci"] == "net_af_packet0" and stats["ports"]["lan"]["portId"] == 1
    assert stats["ports"]["wan"]["linkUp"] and stats["timeline"]["firstForwarded"] is not None
