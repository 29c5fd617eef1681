"""A node for fault tests: the daemon as a subprocess (killable), the real shim, a bridge
cluster network (real bridge + host-local) and a simulated SR-IOV NIC whose kernel-mode VF
netdevs are real veth ends (multus_dp.sriov.simulated: a sysfs tree + the PF's VF table in a
file, shared by every daemon incarnation), plus the checks that nothing was left behind."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus_dp.netops.types import VfState
from multus_dp.sriov.simulated import SimulatedPf, build_sysfs
from tests.support.daemonproc import DaemonProcess, run_shim
from tests.support.netns import NetLab, ip
from tests.support.world import nad

PF_BDF = "0000:5e:00.0"
ANN = "k8s.v1.cni.cncf.io/networks"
NAMESPACE = "chaos"
# what a VF pod asks for: every field the delegate sets and DEL must restore
VF_SETTINGS = {"vlan": 100, "vlanQoS": 2, "mac": "02:aa:00:00:00:01", "spoofchk": "off", "trust": "on",
               "min_tx_rate": 10, "max_tx_rate": 100, "mtu": 1400}


@dataclass(frozen=True)
class HostLink:
    name: str
    mac: str
    mtu: int


def host_link(name: str) -> HostLink | None:
    out = ip("-j", "link", "show", "dev", name, check=False)
    links = json.loads(out) if out.strip() else []
    return HostLink(links[0]["ifname"], links[0]["address"], links[0]["mtu"]) if links else None


def host_links() -> dict[str, dict[str, Any]]:
    return {link["ifname"]: link for link in json.loads(ip("-j", "link", "show"))}


class DaemonNode:
    def __init__(self, lab: NetLab, root: Path, cni_dir: str, shim: str, *, vfs: int = 4,
                 extra_plugins: Path | None = None, state: Path | None = None, **daemon_keys: Any) -> None:
        self.lab = lab
        self.root = root
        self.shim = shim
        self.cni_path = f"{cni_dir}:{extra_plugins}" if extra_plugins else cni_dir
        self.state = state or root / "state"
        self.ipam = root / "ipam"
        self.networks = root / "networks.d"
        self.networks.mkdir(parents=True, exist_ok=True)
        self.bridge = lab.name("br")
        lab.track_link(self.bridge)
        self.pf = lab.name("pf")   # exists only in the sysfs tree and the VF table
        self.vf_netdevs: list[str] = []
        for _ in range(vfs):
            _wire, vf = lab.add_veth()   # the wire end stays up on the host: the VF's "port"
            self.vf_netdevs.append(vf)
        self.sysfs = root / "sysfs"
        self.pf_state = root / "simulated-pf.json"
        self.bdfs = build_sysfs(str(self.sysfs), pf_bdf=PF_BDF, pf_netdev=self.pf, vf_netdevs=list(self.vf_netdevs))
        self.vf_table = SimulatedPf(str(self.pf_state))
        self.vf_table.add_pf(self.pf, len(self.bdfs))
        ipam = {"type": "host-local", "dataDir": str(self.ipam)}
        self.cluster = root / "cluster.conflist"
        self.cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": self.bridge, "ipam": {**ipam, "subnet": "10.250.0.0/22"}}]}))
        self._nads = [nad("vf-net", {"cniVersion": "1.0.0", "type": "sriov", **VF_SETTINGS,
                                     "ipam": {**ipam, "subnet": "10.250.8.0/24"}}, namespace=NAMESPACE)]
        self.write_nads()
        # the node's keys are the daemon's own: its sysfs and the simulated PF's VF table
        self.daemon = DaemonProcess(root / "daemon", stateDir=str(self.state), sysfsRoot=str(self.sysfs),
                                    sriovSimulatedPf=str(self.pf_state), **daemon_keys)
        self.original_links = {name: host_link(name) for name in self.vf_netdevs}
        self.original_vfs = self.vf_states()

    # ---- set-up ---------------------------------------------------------------------------
    def add_nad(self, name: str, config: dict[str, Any]) -> None:
        self._nads.append(nad(name, config, namespace=NAMESPACE))
        self.write_nads()

    def write_nads(self) -> None:
        (self.networks / "nads.json").write_text(json.dumps({"kind": "List", "items": self._nads}))

    def vf_states(self) -> list[VfState]:
        return self.vf_table.get_vfs(self.pf)

    def body(self, networks: list[dict[str, Any]] | str, **extra: Any) -> dict[str, Any]:
        annotation = networks if isinstance(networks, str) else json.dumps(networks)
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "socketPath": self.daemon.socket,
                "stateDir": str(self.state), "networksDir": str(self.networks), "clusterNetwork": str(self.cluster),
                "sysfsRoot": str(self.sysfs), "sriovSimulatedPf": str(self.pf_state),
                "deviceInfoDir": str(self.root / "devinfo"), "binDir": "",
                "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {ANN: annotation}}, **extra}

    # ---- calls ----------------------------------------------------------------------------
    def call(self, command: str, container: str, netns_path: str, body: dict[str, Any],
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_shim(self.shim, command, body, container=container, netns=netns_path, cni_path=self.cni_path,
                        args=f"IgnoreUnknown=1;K8S_POD_NAMESPACE={NAMESPACE};K8S_POD_NAME={container}", timeout=timeout)

    def restart_daemon(self) -> None:
        self.daemon.kill()
        self.daemon.start()

    # ---- what must be left: nothing -------------------------------------------------------
    def leftovers(self, netns: list[str] = ()) -> list[str]:
        """Everything a pod could have left behind, as readable strings ([] = clean)."""
        found: list[str] = []
        links = host_links()
        for name in self.vf_netdevs:
            now = host_link(name)
            before = self.original_links[name]
            if now is None:
                found.append(f"VF netdev {name} is not on the host under its name")
            elif before is not None and (now.mac, now.mtu) != (before.mac, before.mtu):
                found.append(f"VF netdev {name} not restored: {now} != {before}")
        found += [f"host link {n} (temporary move name)" for n in links if n.startswith("mdpt")]
        found += [f"bridge port {n}" for n, link in links.items() if link.get("master") == self.bridge]
        for path in netns:
            extra = [n for n in _links_in(path) if n != "lo"]
            if extra:
                found.append(f"links {extra} in {path}")
        for before, now in zip(self.original_vfs, self.vf_states()):
            if before != now:
                found.append(f"VF {now.index} settings not restored: {now} != {before}")
        if self.ipam.exists():
            found += [f"IP lease {p.name}" for p in self.ipam.rglob("10.250.*")]
        for sub, pattern in (("attachments", "*"), ("vf", "*.json"), ("status", "*"), ("devinfo", "*"),
                             ("locks", "*")):
            found += [f"state file {p}" for p in (self.state / sub).glob(pattern)]
        found += [f"temp file {p}" for p in self.state.rglob("*.tmp")]
        return found


def _links_in(netns_path: str) -> list[str]:
    proc = subprocess.run(["ip", "-j", "-n", Path(netns_path).name, "link", "show"], capture_output=True, text=True)
    return [link["ifname"] for link in json.loads(proc.stdout)] if proc.stdout.strip() else []
