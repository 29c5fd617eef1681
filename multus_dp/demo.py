"""Run the embedded demo: a pod netns gets a bridge eth0 and a ptp net1 through
`multus-dp cni`, its interfaces are shown, then DEL removes everything and the demo
proves nothing is left."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cni-path", default=os.environ.get("CNI_PATH", DEFAULT_CNI_PATH),
                        help=f"where the delegate plugins are (default {DEFAULT_CNI_PATH})")
    parser.add_argument("--keep", action="store_true", help="leave the pod attached (no DEL, no cleanup)")


class Demo:
    def __init__(self, cni_path: str) -> None:
        self.cni_path = cni_path
        self.tag = f"mdp{os.getpid() % 100000}"
        self.tmp = Path(tempfile.mkdtemp(prefix="multus-dp-demo-"))
        self.state_dir = self.tmp / "state"
        self.ipam_dir = self.tmp / "ipam"
        self.bridge = f"{self.tag}br0"
        self.netns: list[str] = []

    # ---- plumbing ------------------------------------------------------------------
    def ip(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def add_netns(self, name: str) -> str:
        self.ip("netns", "add", name)
        self.netns.append(name)
        self.ip("-n", name, "link", "set", "lo", "up")
        return f"/run/netns/{name}"

    def cni(self, command: str, conf: dict[str, Any], container_id: str, netns: str, ifname: str = "eth0",
            args: str = "") -> dict[str, Any] | None:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
               "CNI_PATH": self.cni_path}
        if args:
            env["CNI_ARGS"] = args
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(conf).encode(),
                              env=env, capture_output=True)
        out = proc.stdout.decode().strip()
        if proc.returncode != 0:
            raise RuntimeError(f"multus-dp cni {command} failed (exit {proc.returncode}): {out or proc.stderr.decode()}")
        return json.loads(out) if out else None

    # ---- the scenario ---------------------------------------------------------------
    def conf(self) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0", "name": "multus-dp-demo", "type": "multus-dp",
            "stateDir": str(self.state_dir),
            "delegates": [
                {"cniVersion": "1.0.0", "name": "demo-cluster", "plugins": [{
                    "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                    "ipam": {"type": "host-local", "subnet": "10.250.10.0/24", "dataDir": str(self.ipam_dir),
                             "routes": [{"dst": "0.0.0.0/0"}]}}]},
                {"cniVersion": "1.0.0", "name": "demo-ptp", "type": "ptp", "ipMasq": False,
                 "ipam": {"type": "host-local", "subnet": "10.250.20.0/24", "dataDir": str(self.ipam_dir)}},
            ],
        }

    def run(self, keep: bool) -> int:
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        try:
            netns = self.add_netns(f"{self.tag}-pod")
            conf = self.conf()
            print(f"== pod netns {netns}: ADD through `multus-dp cni` (bridge eth0 + ptp net1)")
            result = self.cni("ADD", conf, f"{self.tag}-c1", netns, args="K8S_POD_NAMESPACE=demo;K8S_POD_NAME=pod1")
            ips = ", ".join(ip["address"] for ip in (result or {}).get("ips", []))
            print(f"   result (cluster network, as the runtime sees it): {ips}")
            print(f"== the pod's interfaces (ip -n {self.tag}-pod addr)")
            print(self.ip("-n", f"{self.tag}-pod", "addr"))
            self.cni("CHECK", conf, f"{self.tag}-c1", netns)
            print("== CHECK passed for every attachment")
            if keep:
                print(f"kept: netns {self.tag}-pod, state in {self.state_dir}")
                return 0
            self.cni("DEL", conf, f"{self.tag}-c1", netns)
            self.cni("DEL", conf, f"{self.tag}-c1", netns)
            print("== DEL done (twice: DEL is idempotent)")
            return self.prove_clean()
        finally:
            if not keep:
                self.cleanup(forward)

    def prove_clean(self) -> int:
        leftovers = []
        links = self.ip("-o", "link", "show")
        if f"{self.tag}" in links.replace(self.bridge, ""):
            leftovers.append("host links with the demo's prefix")
        pod_links = [line.split(":")[1].strip() for line in self.ip("-n", f"{self.tag}-pod", "-o", "link").splitlines()]
        if [name for name in pod_links if name != "lo"]:
            leftovers.append(f"links in the pod: {pod_links}")
        leases = [p.name for p in self.ipam_dir.rglob("*") if p.is_file() and p.name[0].isdigit()] \
            if self.ipam_dir.exists() else []
        if leases:
            leftovers.append(f"IP leases: {leases}")
        journals = list((self.state_dir / "attachments").glob("*.json"))
        if journals:
            leftovers.append(f"journals: {journals}")
        if leftovers:
            print("!! left behind: " + "; ".join(leftovers))
            return 1
        print("== nothing left: no pod links, no veth on the host, no IP lease, no journal")
        return 0

    def cleanup(self, forward: str) -> None:
        for name in self.netns:
            self.ip("netns", "del", name, check=False)
        self.ip("link", "del", self.bridge, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("multus-dp demo needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    for plugin in ("bridge", "ptp", "host-local"):
        if not any(os.access(os.path.join(d, plugin), os.X_OK) for d in args.cni_path.split(":")):
            print(f"CNI plugin {plugin!r} not found in {args.cni_path}; install containernetworking-plugins",
                  file=sys.stderr)
            return 1
    return Demo(args.cni_path).run(args.keep)
