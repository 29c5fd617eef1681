"""Debian's bridge (+host-local) as master and ptp as second delegate, into a real netns,
through `multus-dp cni` exactly as a runtime execs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.prereq import require_cni_plugins, require_root


def run_cni(command: str, stdin: dict, netns: str, cni_dir: str, cid: str = "itest1") -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": "eth0", "CNI_PATH": cni_dir, "CNI_ARGS": "K8S_POD_NAMESPACE=it;K8S_POD_NAME=p1"}
    return subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(stdin).encode(),
                          env=env, capture_output=True)


def test_bridge_and_ptp_add_check_del(netlab, tmp_path: Path) -> None:
    cni_dir = require_cni_plugins("bridge", "ptp", "host-local")
    ns = netlab.add_netns()
    bridge = netlab.name("br")
    netlab.track_link(bridge)
    ipam = tmp_path / "ipam"
    conf = {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state"),
            "delegates": [
                {"cniVersion": "1.0.0", "name": "cluster", "plugins": [
                    {"type": "bridge", "bridge": bridge, "isGateway": True,
                     "ipam": {"type": "host-local", "subnet": "10.251.1.0/24", "dataDir": str(ipam)}}]},
                {"cniVersion": "0.4.0", "name": "second", "type": "ptp",
                 "ipam": {"type": "host-local", "subnet": "10.251.2.0/24", "dataDir": str(ipam)}}]}
    add = run_cni("ADD", conf, netlab.path(ns), cni_dir)
    assert add.returncode == 0, add.stdout + add.stderr
    result = json.loads(add.stdout)
    assert result["cniVersion"] == "1.0.0" and result["ips"][0]["address"].startswith("10.251.1.")
    assert {"eth0", "net1"} <= set(netlab.links_in(ns))
    assert netlab.addrs_in(ns, "eth0")[0].startswith("10.251.1.")
    assert netlab.addrs_in(ns, "net1")[0].startswith("10.251.2.")
    leases = [p for p in ipam.rglob("10.251.*")]
    assert len(leases) == 2

    check = run_cni("CHECK", conf, netlab.path(ns), cni_dir)
    assert check.returncode == 0, check.stdout

    for _ in range(2):
        delete = run_cni("DEL", conf, netlab.path(ns), cni_dir)
        assert delete.returncode == 0, delete.stdout
    assert set(netlab.links_in(ns)) == {"lo"}
    assert not list(ipam.rglob("10.251.*"))
    assert not list((tmp_path / "state" / "attachments").glob("*.json"))
    host_veths = [link for link in netlab.host_links() if link.startswith("veth")]
    ptp_left = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.251.2." not in ptp_left, "ptp host side left behind"
    assert all(bridge not in link for link in host_veths)


def test_demo_runs_and_leaves_nothing() -> None:
    require_root()
    require_cni_plugins("bridge", "ptp", "host-local")
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "demo"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "eth0" in proc.stdout and "net1" in proc.stdout and "nothing left" in proc.stdout
    assert "every VF restored exactly" in proc.stdout
    demo_ns = [line.split()[0] for line in
               subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
               if line.startswith("mdp")]
    assert demo_ns == [], f"the demo left network namespaces behind: {demo_ns}"
