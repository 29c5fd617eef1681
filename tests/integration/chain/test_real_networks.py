"""Real Debian plugins into real netns through `multus-dp cni` with NADs from a networks dir:
bridge eth0 + ptp + macvlan over a veth + host-device taking a veth end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multus_dp.chain.journal import JournalStore
from tests.support.netns import ip
from tests.support.prereq import require_binary, require_cni_plugins
from tests.support.world import nad

ANN = "k8s.v1.cni.cncf.io/networks"


class Node:
    """A node: a networks dir with NADs, a cluster conflist, and a runtime that execs multus-dp."""

    def __init__(self, netlab, tmp_path: Path, cni_dir: str) -> None:
        self.lab = netlab
        self.tmp = tmp_path
        self.cni_dir = cni_dir
        self.ipam = tmp_path / "ipam"
        self.state = tmp_path / "state"
        self.networks = tmp_path / "networks.d"
        self.networks.mkdir()
        self.bridge = netlab.name("br")
        netlab.track_link(self.bridge)
        self.uplink, self.uplink_peer = netlab.add_veth()
        ip("link", "set", self.uplink_peer, "up")
        self.hostdev, self.hostdev_peer = netlab.add_veth()
        ipam = {"type": "host-local", "dataDir": str(self.ipam)}
        cluster = {"cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True,
             "ipam": {**ipam, "subnet": "10.252.1.0/24"}}]}
        (tmp_path / "cluster.conflist").write_text(json.dumps(cluster))
        objects = [
            nad("ptp-net", {"cniVersion": "0.4.0", "type": "ptp", "ipam": {**ipam, "subnet": "10.252.2.0/24"}}),
            nad("macvlan-net", {"cniVersion": "1.0.0", "type": "macvlan", "master": self.uplink, "mode": "bridge",
                                "ipam": {**ipam, "subnet": "10.252.3.0/24"}}),
            nad("hostdev-net", {"cniVersion": "1.0.0", "type": "host-device", "device": self.hostdev_peer,
                                "ipam": {**ipam, "subnet": "10.252.4.0/24"}}),
        ]
        (self.networks / "nads.json").write_text(json.dumps({"kind": "List", "items": objects}))

    def conf(self, annotation: str, **extra) -> dict:
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp",
                "stateDir": str(self.state), "networksDir": str(self.networks),
                "clusterNetwork": str(self.tmp / "cluster.conflist"),
                "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {ANN: annotation}}, **extra}

    def env(self, command: str, cid: str, netns: str, path: str | None = None) -> dict:
        return {"PATH": os.environ["PATH"], "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
                "CNI_NETNS": self.lab.path(netns), "CNI_IFNAME": "eth0", "CNI_PATH": path or self.cni_dir,
                "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={cid}"}

    def cni(self, command: str, cid: str, netns: str, conf: dict, path: str | None = None) -> dict | None:
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(conf).encode(),
                              env=self.env(command, cid, netns, path), capture_output=True)
        assert proc.returncode == 0, f"{command}: {proc.stdout.decode()} {proc.stderr.decode()[-2000:]}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def leases(self) -> list[str]:
        return sorted(p.name for p in self.ipam.rglob("10.252.*")) if self.ipam.exists() else []

    def journals(self) -> list[str]:
        d = self.state / "attachments"
        return sorted(p.name for p in d.glob("*.json")) if d.exists() else []

    def host_veths_on_bridge(self) -> list[str]:
        out = []
        for link in self.lab.host_links():
            master = Path(f"/sys/class/net/{link}/master")
            if master.exists() and master.resolve().name == self.bridge:
                out.append(link)
        return out

    def ptp_host_routes(self) -> str:
        return ip("route", "show", "10.252.2.0/24") + ip("-o", "addr", "show", "to", "10.252.2.0/24")


@pytest.fixture
def node(netlab, tmp_path):
    cni_dir = require_cni_plugins("bridge", "ptp", "macvlan", "host-device", "host-local")
    require_binary("ping")
    return Node(netlab, tmp_path, cni_dir)


def test_four_kinds_of_networks_and_macvlan_ping(node, netlab) -> None:
    pods = {}
    for cid, annotation in (("pod-a", "ptp-net,macvlan-net,hostdev-net@vf0"), ("pod-b", "macvlan-net")):
        ns = netlab.add_netns()
        conf = node.conf(annotation)
        node.cni("ADD", cid, ns, conf)
        pods[cid] = (ns, conf)
    ns_a, conf_a = pods["pod-a"]
    ns_b, conf_b = pods["pod-b"]
    assert set(netlab.links_in(ns_a)) == {"lo", "eth0", "net1", "net2", "vf0"}
    for ifname, prefix in (("eth0", "10.252.1."), ("net1", "10.252.2."), ("net2", "10.252.3."), ("vf0", "10.252.4.")):
        assert netlab.addrs_in(ns_a, ifname)[0].startswith(prefix), ifname
    assert node.hostdev_peer not in netlab.host_links(), "host-device did not take the veth end"
    status = json.loads((node.state / "status" / "default_pod-a.json").read_text())["networkStatus"]
    assert [(s["name"], s["interface"]) for s in status] == [
        ("cluster", "eth0"), ("default/ptp-net", "net1"), ("default/macvlan-net", "net2"), ("default/hostdev-net", "vf0")]
    node.cni("CHECK", "pod-a", ns_a, conf_a)

    b_addr = netlab.addrs_in(ns_b, "net1")[0].split("/")[0]
    ping = subprocess.run(["ip", "netns", "exec", ns_a, "ping", "-c", "2", "-W", "2", "-I", "net2", b_addr],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    for cid, (ns, conf) in pods.items():
        node.cni("DEL", cid, ns, conf)
        node.cni("DEL", cid, ns, conf)
        assert set(netlab.links_in(ns)) == {"lo"}
    assert node.hostdev_peer in netlab.host_links(), "host-device did not give the veth end back"
    assert node.leases() == [] and node.journals() == []
    assert node.host_veths_on_bridge() == []
    assert "10.252.2." not in node.ptp_host_routes()


# Like every plugin, the gate acts only once it has its configuration (a delegate's process
# may be started ahead while the one before it runs: chain/runner.py).
GATE = """#!/bin/sh
if [ "$CNI_COMMAND" = ADD ]; then
  cat > /dev/null
  echo $$ > {marker}
  exec sleep 600
fi
exec {real} "$@"
"""


@pytest.mark.parametrize("boundary", range(4))
def test_sigkill_between_delegates_then_del_cleans_everything(node, netlab, tmp_path, boundary) -> None:
    """The ADD process is SIGKILLed while delegate `boundary` is starting (all before it done);
    a later DEL removes links, leases and the journal."""
    types = ["bridge", "ptp", "macvlan", "host-device"]
    gated = types[boundary]
    path = tmp_path / "cni-bin"
    path.mkdir()
    for plugin in ("bridge", "ptp", "macvlan", "host-device", "host-local"):
        target = path / plugin
        if plugin == gated:
            target.write_text(GATE.format(marker=tmp_path / "gate.pid", real=f"{node.cni_dir}/{plugin}"))
            target.chmod(0o755)
        else:
            target.symlink_to(f"{node.cni_dir}/{plugin}")
    ns = netlab.add_netns()
    conf = node.conf("ptp-net,macvlan-net,hostdev-net", parallel=False)
    proc = subprocess.Popen([sys.executable, "-m", "multus_dp", "cni"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=node.env("ADD", "crash1", ns, str(path)))
    proc.stdin.write(json.dumps(conf).encode())
    proc.stdin.close()
    marker = tmp_path / "gate.pid"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), proc.stdout.read().decode() if proc.poll() is not None else "gate never reached"
    proc.kill()
    proc.wait()
    os.kill(int(marker.read_text()), signal.SIGKILL)
    journal = JournalStore(str(node.state)).load("crash1")   # the plan and the steps appended to it
    assert journal is not None
    states = [e.state for e in journal.entries]
    assert states == ["added"] * boundary + ["planned"] * (4 - boundary)
    assert len(node.leases()) == boundary

    node.cni("DEL", "crash1", ns, conf, str(path))
    assert set(netlab.links_in(ns)) == {"lo"}
    assert node.leases() == [] and node.journals() == []
    assert node.host_veths_on_bridge() == []
    assert node.hostdev_peer in netlab.host_links()
    assert "10.252.2." not in node.ptp_host_routes()


def test_default_route_request_moves_the_pods_default_route(node, netlab) -> None:
    ns = netlab.add_netns()
    conf = node.conf(json.dumps([{"name": "ptp-net", "default-route": ["10.252.2.1"]}]))
    conf["clusterNetwork"] = str(node.tmp / "cluster-gw.conflist")
    cluster = json.loads((node.tmp / "cluster.conflist").read_text())
    cluster["plugins"][0]["ipam"]["routes"] = [{"dst": "0.0.0.0/0"}]
    (node.tmp / "cluster-gw.conflist").write_text(json.dumps(cluster))
    node.cni("ADD", "dr1", ns, conf)
    routes = ip("-n", ns, "-4", "route", "show", "default")
    assert routes.splitlines() and all(line.split()[:5] == ["default", "via", "10.252.2.1", "dev", "net1"]
                                      for line in routes.splitlines()), routes
    status = json.loads((node.state / "status" / "default_dr1.json").read_text())["networkStatus"]
    assert status[1]["default-route"] == ["10.252.2.1"]
    node.cni("DEL", "dr1", ns, conf)
    assert set(netlab.links_in(ns)) == {"lo"} and node.leases() == []


def test_unreachable_default_route_fails_add_and_rolls_back(node, netlab) -> None:
    ns = netlab.add_netns()
    conf = node.conf(json.dumps([{"name": "ptp-net", "default-route": ["192.0.2.1"]}]))
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(conf).encode(),
                          env=node.env("ADD", "dr2", ns), capture_output=True)
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and "192.0.2.1" in err["msg"] and "interface net1" in err["msg"]
    assert set(netlab.links_in(ns)) == {"lo"} and node.leases() == [] and node.journals() == []
