"""The seed's example objects, loaded from deploy/ unchanged, give pod multus-multi-net-poc eth0
(flannel-conf) and net0 (ptp-conf) through the standalone path: `multus-dp cni` with the pod's
`networks` annotation, real Debian plugins, a real netns.

Debian ships no flannel plugin. When /usr/lib/cni has none, a stand-in named `flannel` does
what flannel's CNI plugin does (read subnet.env, build a bridge delegate with host-local IPAM
from it, honour the Network's `delegate` keys, remember the delegate for DEL) and runs the real
bridge plugin; it names the bridge and IPAM dir per test instead of flannel's cni0 and
/var/lib/cni, so it cannot touch a real cluster's.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.netns import ip
from tests.support.prereq import CNI_PLUGIN_DIR, require_cni_plugins

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
FLANNEL_NETWORK, FLANNEL_SUBNET = "10.244.0.0/16", "10.244.213.1/24"

STAND_IN = r'''#!/usr/bin/python3 -IS
# a stand-in for flannel's CNI plugin (see the test module's docstring)
import ipaddress, json, os, subprocess, sys
SUBNET_FILE, DATA_DIR, BRIDGE, IPAM_DIR, BIN = {subnet!r}, {data!r}, {bridge!r}, {ipam!r}, {bin!r}
command = os.environ.get("CNI_COMMAND", "")
if command == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]}}))
    sys.exit(0)
conf = json.load(sys.stdin)
saved = os.path.join(DATA_DIR, os.environ["CNI_CONTAINERID"])
if command == "ADD":
    env = dict(line.split("=", 1) for line in open(SUBNET_FILE).read().split())
    delegate = dict(conf.get("delegate") or {{}})
    delegate.setdefault("type", "bridge")
    delegate.setdefault("bridge", BRIDGE)
    delegate.setdefault("ipMasq", env.get("FLANNEL_IPMASQ") != "true")
    delegate.setdefault("mtu", int(env["FLANNEL_MTU"]))
    delegate.setdefault("isGateway", True)
    delegate.update(name=conf["name"], cniVersion=conf.get("cniVersion", "0.3.1"))
    # flannel parses FLANNEL_SUBNET as a network (10.244.213.1/24 -> 10.244.213.0/24)
    delegate["ipam"] = {{"type": "host-local", "dataDir": IPAM_DIR, "ranges": [[{{"subnet": str(ipaddress.ip_network(env["FLANNEL_SUBNET"], strict=False))}}]],
                        "routes": [{{"dst": env["FLANNEL_NETWORK"]}}]}}
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(saved, "w") as fh:
        json.dump(delegate, fh)
elif os.path.exists(saved):
    delegate = json.load(open(saved))
else:
    sys.exit(0)
if "prevResult" in conf:
    delegate["prevResult"] = conf["prevResult"]
proc = subprocess.run([os.path.join(BIN, delegate["type"])], input=json.dumps(delegate).encode(),
                      capture_output=True)
sys.stdout.buffer.write(proc.stdout)
sys.stderr.buffer.write(proc.stderr)
if command == "DEL" and proc.returncode == 0:
    os.unlink(saved)
sys.exit(proc.returncode)
'''


class SeedNode:
    def __init__(self, netlab, tmp: Path) -> None:
        self.lab = netlab
        self.tmp = tmp
        self.state = tmp / "state"
        self.cni_path = CNI_PLUGIN_DIR
        self.flannel_data = tmp / "flannel"
        self.flannel_ipam = tmp / "flannel-ipam"
        self.bridge = netlab.name("cni")
        netlab.track_link(self.bridge)
        if not os.access(os.path.join(CNI_PLUGIN_DIR, "flannel"), os.X_OK):
            self.cni_path = f"{self._stand_in()}:{CNI_PLUGIN_DIR}"

    def _stand_in(self) -> Path:
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        subnet_env = self.tmp / "subnet.env"
        subnet_env.write_text(f"FLANNEL_NETWORK={FLANNEL_NETWORK}\nFLANNEL_SUBNET={FLANNEL_SUBNET}\n"
                              "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n")
        script = plugins / "flannel"
        script.write_text(STAND_IN.format(subnet=str(subnet_env), data=str(self.flannel_data), bridge=self.bridge,
                                          ipam=str(self.flannel_ipam), bin=CNI_PLUGIN_DIR))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return plugins

    def conf(self, annotations: dict[str, str]) -> dict:
        # networksDir is deploy/network-obj itself: the objects exactly as users `kubectl create` them
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp",
                "capabilities": {"io.kubernetes.cri.pod-annotations": True},
                "stateDir": str(self.state), "networksDir": str(DEPLOY / "network-obj"),
                "runtimeConfig": {"io.kubernetes.cri.pod-annotations": annotations}}

    def cni(self, command: str, cid: str, netns: str, conf: dict) -> dict | None:
        env = {"PATH": os.environ["PATH"], "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
               "CNI_NETNS": self.lab.path(netns), "CNI_IFNAME": "eth0", "CNI_PATH": self.cni_path,
               "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=multus-multi-net-poc"}
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(conf).encode(), env=env,
                              capture_output=True)
        assert proc.returncode == 0, f"{command}: {proc.stdout.decode()} {proc.stderr.decode()[-2000:]}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None


@pytest.fixture
def seed(netlab, tmp_path) -> SeedNode:
    require_cni_plugins("bridge", "ptp", "host-local")
    return SeedNode(netlab, tmp_path)


def ptp_leases() -> list[str]:
    d = Path("/var/lib/cni/networks/ptp-conf")  # the seed's ptp-conf keeps host-local's default dataDir
    return sorted(p.name for p in d.glob("10.168.1.*")) if d.exists() else []


def test_seed_pod_gets_eth0_from_flannel_conf_and_net0_from_ptp_conf(seed, netlab) -> None:
    pod = yaml.safe_load((DEPLOY / "pod" / "pod-multi-network.yaml").read_text())
    assert pod["metadata"]["name"] == "multus-multi-net-poc"
    annotations = pod["metadata"]["annotations"]
    ns = netlab.add_netns()
    cid = f"{netlab.prefix}seed"
    leases_before = ptp_leases()
    conf = seed.conf(annotations)

    seed.cni("ADD", cid, ns, conf)

    assert set(netlab.links_in(ns)) == {"lo", "eth0", "net0"}
    eth0 = netlab.addrs_in(ns, "eth0")[0]
    net0 = netlab.addrs_in(ns, "net0")[0]
    assert eth0.startswith("10.244.213.") and eth0.endswith("/24")
    host, _, _ = net0.partition("/")
    assert host.startswith("10.168.1.") and 11 <= int(host.rsplit(".", 1)[1]) <= 20
    # flannel-conf's `delegate: {isDefaultGateway: true}` made eth0 the default route
    assert "default via 10.244.213.1 dev eth0" in ip("-n", ns, "route", "show", "default")
    status = json.loads((seed.state / "status" / "default_multus-multi-net-poc.json").read_text())["networkStatus"]
    assert [(s["name"].rsplit("/", 1)[-1], s["interface"], s["ips"][0]) for s in status] == [
        ("flannel-conf", "eth0", eth0.split("/")[0]), ("ptp-conf", "net0", host)]
    assert status[0].get("default") is True
    seed.cni("CHECK", cid, ns, conf)

    seed.cni("DEL", cid, ns, conf)
    seed.cni("DEL", cid, ns, conf)
    assert set(netlab.links_in(ns)) == {"lo"}
    assert ptp_leases() == leases_before, "ptp-conf's lease was not released"
    assert not list(seed.flannel_ipam.rglob("10.244.*")), "flannel-conf's lease was not released"
    assert not list((seed.state / "attachments").glob("*.json"))
