"""A node's CNI layout in temp dirs, set up the way an operator would with multus-dp:

- a CNI bin dir holding links to Debian's plugins and the shim put there by `multus-dp install`;
- a CNI conf dir holding the primary (a bridge conflist) and the `00-multus-dp.conflist` that
  `multus-dp install` generated from it (its `socketPath` points at our daemon);
- a standalone networks dir with NetworkAttachmentDefinitions and legacy `Network` objects;
- `multus-dp daemon` on a temp socket.

Names (bridge, veths) carry a unique prefix; subnets are per node so modules never overlap.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.daemonproc import DaemonProcess
from tests.support.netns import NetLab, ip
from tests.support.world import legacy_network, nad

ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"
OUR_CONFLIST = "00-multus-dp.conflist"


class Node:
    def __init__(self, root: Path, lab: NetLab, cni_plugins: str, net: str) -> None:
        """`net` is the first two octets of this node's subnets, e.g. "10.231"."""
        self.root = root
        self.lab = lab
        self.cni_plugins = Path(cni_plugins)
        self.net = net
        self.bin_dir = root / "cni-bin"
        self.conf_dir = root / "net.d"
        self.networks = root / "networks.d"
        self.ipam = root / "ipam"
        self.state = root / "state"
        self.bridge = lab.name("br")
        lab.track_link(self.bridge)
        self.legacy_bridge = lab.name("lb")
        lab.track_link(self.legacy_bridge)
        self.uplink, uplink_peer = lab.add_veth()
        ip("link", "set", uplink_peer, "up")  # macvlan children have no carrier while the veth is half down
        self.daemon = DaemonProcess(root / "d", stateDir=str(self.state))
        self.install_args: tuple[str, ...] = ()
        for directory in (self.bin_dir, self.conf_dir, self.networks):
            directory.mkdir(parents=True, exist_ok=True)

    def subnet(self, n: int) -> str:
        return f"{self.net}.{n}.0/24"

    def prefix(self, n: int) -> str:
        return f"{self.net}.{n}."

    def _ipam(self, n: int) -> dict[str, Any]:
        return {"type": "host-local", "dataDir": str(self.ipam), "subnet": self.subnet(n)}

    # -- the node's files ------------------------------------------------------------------

    def link_plugins(self) -> None:
        """containerd takes one bin dir: link every Debian plugin into ours (loopback included)."""
        for plugin in self.cni_plugins.iterdir():
            target = self.bin_dir / plugin.name
            if not target.exists():
                target.symlink_to(plugin)

    def write_primary(self) -> Path:
        path = self.conf_dir / "10-cluster.conflist"
        path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipam": self._ipam(1)}]}, indent=2))
        return path

    def write_networks(self) -> None:
        """NADs (cluster subnet .1, ptp .2, macvlan .3) and the legacy flow's Networks (.4, .5)."""
        objects = [
            nad("ptp-net", {"cniVersion": "0.4.0", "type": "ptp", "ipam": self._ipam(2)}, namespace="e2e"),
            nad("macvlan-net", {"cniVersion": "1.0.0", "type": "macvlan", "master": self.uplink, "mode": "bridge",
                                "ipam": self._ipam(3)}, namespace="e2e"),
            legacy_network("legacy-bridge", "bridge", [{"bridge": self.legacy_bridge, "isGateway": True,
                                                        "ipam": self._ipam(4)}], namespace="e2e"),
            legacy_network("legacy-ptp", "ptp", [{"ipam": self._ipam(5)}], namespace="e2e"),
        ]
        (self.networks / "e2e.json").write_text(json.dumps({"kind": "List", "items": objects}, indent=2))

    def install_argv(self, *extra: str) -> list[str]:
        """`multus-dp install` into our dirs, pointed at our daemon, state and networks."""
        return [sys.executable, "-m", "multus_dp", "install", "--bin-dir", str(self.bin_dir),
                "--conf-dir", str(self.conf_dir), "--socket", self.daemon.socket,
                "--set", f"stateDir={json.dumps(str(self.state))}",
                "--set", f"networksDir={json.dumps(str(self.networks))}", *extra]

    def install(self, *extra: str) -> dict[str, Any]:
        """Run `multus-dp install` once; returns the conflist it generated."""
        proc = subprocess.run([*self.install_argv(*extra), "--json"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"multus-dp install failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return json.loads((self.conf_dir / OUR_CONFLIST).read_text())

    def stop_daemon(self) -> None:
        """SIGTERM (in-flight work finishes), SIGKILL if it does not exit in time."""
        self.daemon.__exit__(None, None, None)

    def prepare(self, *install_args: str) -> dict[str, Any]:
        self.install_args = install_args  # to regenerate the same conflist later
        self.link_plugins()
        self.write_primary()
        self.write_networks()
        return self.install(*install_args)

    # -- what a user would look at ---------------------------------------------------------

    def leases(self) -> list[str]:
        """host-local's lease files (one per IP handed out)."""
        if not self.ipam.exists():
            return []
        return sorted(str(p.relative_to(self.ipam)) for p in self.ipam.rglob(f"{self.net}.*"))

    def journals(self) -> list[str]:
        return sorted(p.name for p in (self.state / "attachments").glob("*.json"))

    def status_files(self) -> list[str]:
        return sorted(p.name for p in (self.state / "status").glob("*.json"))

    def network_status(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        """The pod's network-status through the user's command, `multus-dp status ns/pod --json`."""
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "status", f"{namespace}/{pod}", "--json",
                               "--state-dir", str(self.state), "--socket", self.daemon.socket],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"multus-dp status {namespace}/{pod}: {proc.stdout}{proc.stderr}")
        status = json.loads(proc.stdout)
        assert isinstance(status, list), status
        return status

    def host_links_on(self, bridge: str) -> list[str]:
        out = []
        for link in self.lab.host_links():
            master = Path(f"/sys/class/net/{link}/master")
            if master.exists() and master.resolve().name == bridge:
                out.append(link)
        return out

    def host_addresses_in(self, *subnets: int) -> list[str]:
        """Host addresses inside our pod subnets other than the bridges' gateways (ptp's host ends)."""
        out = ip("-o", "-4", "addr", "show")
        gateways = {f"{self.net}.{n}.1" for n in subnets}
        found = []
        for line in out.splitlines():
            address = line.split()[3].split("/")[0]
            if any(address.startswith(self.prefix(n)) for n in subnets) and address not in gateways:
                found.append(line.split()[1] + " " + address)
        return found

    def host_routes_in(self, subnets: Iterable[int]) -> list[str]:
        """Host routes to single pod addresses (ptp adds one per pod)."""
        out = ip("-4", "route", "show")
        return [line for line in out.splitlines()
                if any(line.startswith(self.prefix(n)) and "/" not in line.split()[0] for n in subnets)]
