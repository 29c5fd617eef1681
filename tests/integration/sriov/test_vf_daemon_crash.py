"""SIGKILL of the daemon in the middle of VF ADDs (simulated NIC, several pods at once, the
kill at a random 0.1-0.6 s), then DEL through a restarted daemon: every VF netdev is back on
the host under its original name with its MAC and MTU, wherever the crash left it (in the
pod under CNI_IFNAME or under the temporary move name, or on the host), and the VF settings
and allocation records are restored/freed. GC finds them the same way."""
from __future__ import annotations

import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.daemonnic import DaemonNode
from tests.support.daemonproc import require_shim
from tests.support.netns import ip
from tests.support.prereq import require_cni_plugins

PODS = 6
SEED = int(os.environ.get("MULTUS_DP_CHAOS_SEED", "19"))


@pytest.fixture
def node(netlab, tmp_path: Path):
    cni_dir = require_cni_plugins("bridge", "host-local")
    node = DaemonNode(netlab, tmp_path, cni_dir, require_shim(), vfs=PODS)
    node.daemon.start()
    yield node
    node.daemon.kill()


def warm_up(node: DaemonNode, netlab) -> None:
    """One VF pod through the daemon first: the kill then lands in the pods' work, not in
    the daemon's first-request imports."""
    ns = netlab.path(netlab.add_netns())
    body = node.body([{"name": "vf-net", "deviceID": node.bdfs[0]}])
    assert node.call("ADD", "warm", ns, body).returncode == 0
    assert node.call("DEL", "warm", ns, body).returncode == 0


def crash_during_adds(node: DaemonNode, netlab, rng: random.Random) -> list[tuple[str, str]]:
    warm_up(node, netlab)
    pods = [(f"crash{i}", netlab.path(netlab.add_netns())) for i in range(PODS)]

    def add(i: int) -> None:
        cid, ns = pods[i]
        node.call("ADD", cid, ns, node.body([{"name": "vf-net", "deviceID": node.bdfs[i]}]))

    with ThreadPoolExecutor(PODS) as pool:
        futures = [pool.submit(add, i) for i in range(PODS)]
        time.sleep(rng.uniform(0.1, 0.6))
        assert node.daemon.proc is not None
        node.daemon.proc.send_signal(signal.SIGKILL)
        for f in futures:
            f.result()
    node.daemon.proc.wait(10)
    node.daemon.start()
    return pods


@pytest.mark.parametrize("round_", range(3))
def test_del_after_a_daemon_crash_mid_vf_add_returns_every_vf_netdev(node, netlab, round_: int) -> None:
    rng = random.Random(SEED * 100 + round_)
    pods = crash_during_adds(node, netlab, rng)
    for i, (cid, ns) in enumerate(pods):
        reply = node.call("DEL", cid, ns, node.body([{"name": "vf-net", "deviceID": node.bdfs[i]}]))
        assert reply.returncode == 0, f"seed {SEED} round {round_}: DEL {cid}: {reply.stdout}"
    left = node.leftovers([ns for _, ns in pods])
    assert left == [], f"seed {SEED} round {round_}: {left}"


def test_gc_after_a_daemon_crash_mid_vf_add_returns_every_vf_netdev(node, netlab) -> None:
    pods = crash_during_adds(node, netlab, random.Random(SEED))
    reply = node.call("GC", "", "", {**node.body("[]"), "cniVersion": "1.1.0", "cni.dev/valid-attachments": []})
    assert reply.returncode == 0, reply.stdout
    left = node.leftovers([ns for _, ns in pods])
    assert left == [], f"seed {SEED}: {left}"


def one_vf_pod(node: DaemonNode, netlab) -> tuple[str, dict]:
    ns = netlab.add_netns()
    body = node.body([{"name": "vf-net", "deviceID": node.bdfs[0]}])
    reply = node.call("ADD", "vf1", netlab.path(ns), body)
    assert reply.returncode == 0, reply.stdout
    return ns, body


@pytest.mark.parametrize("mac", ["original", "configured"])
def test_del_finds_the_vf_netdev_in_the_pod_under_the_temporary_move_name(node, netlab, mac: str) -> None:
    """The state a crash between "move into the pod" and "rename" leaves (made exactly)."""
    ns, body = one_vf_pod(node, netlab)
    change = ["address", node.original_links[node.vf_netdevs[0]].mac] if mac == "original" else []
    ip("-n", ns, "link", "set", "net1", "down")
    ip("-n", ns, "link", "set", "net1", *change, "name", "mdpt0123456789")
    reply = node.call("DEL", "vf1", netlab.path(ns), body)
    assert reply.returncode == 0, reply.stdout
    assert node.leftovers([netlab.path(ns)]) == []


def test_del_finds_the_vf_netdev_on_the_host_under_the_temporary_move_name(node, netlab) -> None:
    """The state a crash between "move back to the host" and "rename" leaves."""
    ns, body = one_vf_pod(node, netlab)
    original = node.original_links[node.vf_netdevs[0]]
    ip("-n", ns, "link", "set", "net1", "down")
    ip("-n", ns, "link", "set", "net1", "address", original.mac, "mtu", str(original.mtu))
    ip("-n", ns, "link", "set", "net1", "netns", "1", "name", "mdpt9876543210")
    reply = node.call("DEL", "vf1", netlab.path(ns), body)
    assert reply.returncode == 0, reply.stdout
    assert node.leftovers([netlab.path(ns)]) == []
