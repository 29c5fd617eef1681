"""podman 4.3 (CNI backend) execs multus-dp's installed shim for `podman run --network`.

One node per module: `multus-dp install` generated `00-multus-dp.conflist` (network
`multus-dp-network`: the bridge primary as clusterNetwork, plus `defaultNetworks` so a podman
container, which has no pod annotations, gets a second network); a hand-written conflist in
Multus' `delegates` form sits beside it (network `multus-dp-delegates`). A `multus-dp daemon`
answers the shim. Each test runs a busybox container that prints `ip addr` from inside.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.support.node import Node
from tests.e2e.support.prereq import require_e2e_basics, require_podman
from tests.e2e.support.sandbox import parse_ip_addr
from tests.support.netns import NetLab

if TYPE_CHECKING:
    from tests.e2e.support.podman import Podman

INSTALLED = "multus-dp-network"
LIBCNI_CACHE = Path("/var/lib/cni/results")  # podman 4.3 keeps libcni's default cache dir
DELEGATES = "multus-dp-delegates"
BROKEN = "multus-dp-broken"


@dataclass
class PodmanNode:
    node: Node
    podman: Podman
    rootfs: Path
    conflist: dict[str, Any]


def delegates_conflist(node: Node) -> dict[str, Any]:
    """Multus' `delegates` form: [0] is the master on eth0, the next one net1."""
    ipam = {"type": "host-local", "dataDir": str(node.ipam)}
    return {"cniVersion": "1.0.0", "name": DELEGATES, "plugins": [{
        "type": "multus-dp", "socketPath": node.daemon.socket, "stateDir": str(node.state),
        "networksDir": str(node.networks),
        "delegates": [
            {"cniVersion": "1.0.0", "name": "cluster", "plugins": [
                {"type": "bridge", "bridge": node.bridge, "isGateway": True,
                 "ipam": {**ipam, "subnet": node.subnet(1)}}]},
            {"cniVersion": "1.0.0", "name": "data", "type": "macvlan", "master": node.uplink, "mode": "bridge",
             "ipam": {**ipam, "subnet": node.subnet(3)}},
        ]}]}


def broken_conflist(node: Node) -> dict[str, Any]:
    """The delegates form whose second delegate cannot work: macvlan over a missing master."""
    conf = delegates_conflist(node)
    conf["name"] = BROKEN
    data = conf["plugins"][0]["delegates"][1]
    data.update(name="broken-data", master=f"{node.lab.prefix}none"[:15])
    return conf


@pytest.fixture(scope="module")
def pm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanNode]:
    cni_dir = require_e2e_basics()
    require_podman()
    from tests.e2e.support.containerd import unmount_under
    from tests.e2e.support.images import busybox_rootfs
    from tests.e2e.support.podman import Podman

    root = tmp_path_factory.mktemp("podman")
    lab = NetLab()
    node = Node(root / "node", lab, cni_dir, os.environ.get("MULTUS_DP_E2E_NET_PODMAN", "10.242"))
    podman = None
    try:
        conflist = node.prepare("--set", 'defaultNetworks=["ptp-net"]', "--set", 'multusNamespace="e2e"')
        (node.conf_dir / "50-multus-dp-delegates.conflist").write_text(json.dumps(delegates_conflist(node)))
        (node.conf_dir / "60-multus-dp-broken.conflist").write_text(json.dumps(broken_conflist(node)))
        node.daemon.start()
        rootfs = busybox_rootfs(root / "rootfs")
        # libcni validates a conflist by exec'ing VERSION with only {"cniVersion"} on stdin: the
        # shim finds the non-default socket through the file `install --socket` wrote beside it
        podman = Podman(root / "p", cni_bin_dir=node.bin_dir, cni_conf_dir=node.conf_dir)
        yield PodmanNode(node, podman, rootfs, conflist)
    finally:
        if podman is not None:
            podman("rm", "--all", "--force", "--time", "0")
        node.stop_daemon()
        unmount_under(root)
        lab.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def daemon_commands(node: Node, pod: str) -> list[str]:
    """The CNI commands the daemon completed for `pod`, in order (its JSON log)."""
    records = [json.loads(line) for line in node.daemon.log_text().splitlines()]
    return [r["command"] for r in records if r.get("pod") == pod and r.get("msg") == f"{r.get('command')} done"]


def assert_nothing_left(pmn: PodmanNode) -> None:
    node = pmn.node
    assert pmn.podman.containers() == [], "podman kept a container"
    cached = [p.name for p in LIBCNI_CACHE.glob("*") if p.name.startswith((INSTALLED, DELEGATES, BROKEN))]
    assert cached == [], "libcni result cache left (DEL not run?)"
    assert node.leases() == [], "IP leases left"
    assert node.journals() == [], "multus-dp journals left"
    assert node.status_files() == [], "network-status files left"
    assert node.host_links_on(node.bridge) == [], "pod veths left on the bridge"
    assert node.host_routes_in(range(1, 4)) == [] and node.host_addresses_in(2) == [], "ptp host side left"


def test_podman_lists_the_installed_network(pm: PodmanNode) -> None:
    """podman loads every conflist and asks each plugin for VERSION (the shim forwards it)."""
    assert pm.conflist["name"] == INSTALLED
    names = pm.podman.networks()
    assert INSTALLED in names and DELEGATES in names, names


def test_run_on_installed_conflist_gets_eth0_and_net1(pm: PodmanNode) -> None:
    node = pm.node
    gateway = f"{node.prefix(1)}1"
    proc = pm.podman.run("--name", "pm-installed", "--network", INSTALLED, "--cap-add", "NET_RAW",
                         rootfs=pm.rootfs, command=["/bin/sh", "-c", f"ip addr && ping -c 1 -W 5 {gateway}"])
    assert proc.returncode == 0, proc.stdout + proc.stderr + node.daemon.log_text()[-3000:]
    inside = parse_ip_addr(proc.stdout)
    assert sorted(inside.links) == ["eth0", "lo", "net1"], proc.stdout
    for ifname, subnet in (("eth0", 1), ("net1", 2)):
        addresses = inside.ipv4.get(ifname, [])
        assert len(addresses) == 1 and addresses[0].startswith(node.prefix(subnet)), proc.stdout
    assert "1 packets received" in proc.stdout, proc.stdout
    # podman passes K8S_POD_NAME=<container name> and no namespace; it DELs when the container exits
    assert daemon_commands(node, "default/pm-installed") == ["ADD", "DEL"], node.daemon.log_text()[-4000:]
    assert_nothing_left(pm)


def test_run_on_delegates_conflist_gets_eth0_and_net1(pm: PodmanNode) -> None:
    node = pm.node
    proc = pm.podman.run("--name", "pm-delegates", "--network", DELEGATES, rootfs=pm.rootfs,
                         command=["/bin/ip", "addr"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inside = parse_ip_addr(proc.stdout)
    assert sorted(inside.links) == ["eth0", "lo", "net1"], proc.stdout
    assert inside.ipv4["eth0"][0].startswith(node.prefix(1)), proc.stdout
    assert inside.ipv4["net1"][0].startswith(node.prefix(3)), proc.stdout
    assert_nothing_left(pm)


def test_detached_container_status_restart_and_rm(pm: PodmanNode) -> None:
    """A long-running container: `podman exec ip addr` and `multus-dp status` agree; `podman
    restart` is a DEL then an ADD for the same container; `podman rm -f` leaves nothing."""
    node, podman = pm.node, pm.podman
    name = "pm-detached"
    started = podman.run_detached("--name", name, "--network", INSTALLED, rootfs=pm.rootfs,
                                  command=["/bin/sleep", "1000000"])
    try:
        assert started.returncode == 0, started.stderr
        for round_ in ("first start", "after restart"):
            shown = podman("exec", name, "ip", "addr")
            assert shown.returncode == 0, shown.stderr
            inside = parse_ip_addr(shown.stdout)
            assert sorted(inside.links) == ["eth0", "lo", "net1"], (round_, shown.stdout)
            status = node.network_status("default", name)
            assert [(s["name"], s["interface"], s["ips"]) for s in status] == [
                ("cluster", "eth0", [inside.ipv4["eth0"][0].split("/")[0]]),
                ("e2e/ptp-net", "net1", [inside.ipv4["net1"][0].split("/")[0]])], round_
            assert len(node.journals()) == 1 and len(node.leases()) == 2, round_
            if round_ == "first start":
                restarted = podman("restart", "--time", "0", name)
                assert restarted.returncode == 0, restarted.stderr
        assert daemon_commands(node, f"default/{name}") == ["ADD", "DEL", "ADD"]
    finally:
        removed = podman("rm", "--force", "--time", "0", name)
    assert removed.returncode == 0, removed.stderr
    assert daemon_commands(node, f"default/{name}")[-1] == "DEL"
    assert_nothing_left(pm)


def test_podman_ip_request_does_not_break_secondary_networks(pm: PodmanNode) -> None:
    node = pm.node
    wanted = f"{node.prefix(1)}50"
    proc = pm.podman.run("--name", "pm-ip", "--ip", wanted, "--network", INSTALLED, rootfs=pm.rootfs,
                         command=["/bin/ip", "addr"])
    assert proc.returncode == 0, proc.stderr
    inside = parse_ip_addr(proc.stdout)
    assert sorted(inside.links) == ["eth0", "lo", "net1"], proc.stdout
    assert inside.ipv4["net1"][0].startswith(node.prefix(2)), proc.stdout
    assert inside.ipv4["eth0"][0].split("/")[0] == wanted, "podman's --ip is for the cluster network"


def test_failing_secondary_network_rolls_back_and_podman_reports_it(pm: PodmanNode) -> None:
    """The second delegate fails (macvlan over a missing master): podman's run fails with
    multus-dp's message naming the network and interface, and the cluster network that was
    already attached is rolled back (no lease, no veth, no journal)."""
    proc = pm.podman.run("--name", "pm-broken", "--network", BROKEN, rootfs=pm.rootfs, command=["/bin/true"])
    assert proc.returncode != 0
    assert "broken-data" in proc.stderr and "net1" in proc.stderr, proc.stderr
    assert daemon_commands(pm.node, "default/pm-broken")[:1] != ["ADD"], "ADD reported success"
    assert_nothing_left(pm)
