"""multus-dp as a node runs it, inside the lab guest: one `multus-dp daemon` subprocess, the
shim exec'd the way a runtime execs a CNI plugin, standalone NADs in a networks dir, and a
bridge + host-local cluster network for eth0 (Debian's plugins in /usr/lib/cni).

`SriovLab` (one per test module: the daemon's start is slow under TCG) holds the daemon and
the NADs; `SriovNode` (one per test) gives each test its own state, device-info and lease
directories, so a failed test cannot leave an allocation that the next one trips over.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemonproc import DaemonProcess, require_shim, run_shim
from tests.support.prereq import require_cni_plugins

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
CNI_VERSION = "1.1.0"
BRIDGE = "mdplab0"
CLUSTER_SUBNET = "10.56.0.0/24"
DAEMON_START_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_DAEMON_START_TIMEOUT", "180"))
CNI_CALL_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_CNI_TIMEOUT", "180"))


# the guest's writable overlay; gone with the guest
VETH_LINK_FILE = Path("/etc/systemd/network/00-multus-dp-lab-veth.link")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def keep_veth_macs() -> None:
    """systemd-udevd's default MACAddressPolicy=persistent rewrites a new veth's MAC after the
    bridge plugin recorded it, and the bridge plugin's CHECK then fails. Nodes running CNI
    plugins turn that off for veths (as flannel's and calico's docs say); so does the guest."""
    VETH_LINK_FILE.parent.mkdir(parents=True, exist_ok=True)
    VETH_LINK_FILE.write_text("[Match]\nDriver=veth\n\n[Link]\nMACAddressPolicy=none\n")
    subprocess.run(["udevadm", "control", "--reload"], check=False, capture_output=True)


@dataclass(frozen=True)
class LabPod:
    name: str

    @property
    def netns_name(self) -> str:
        return f"pod-{self.name}"

    @property
    def netns(self) -> str:
        return f"/run/netns/{self.netns_name}"

    @property
    def container_id(self) -> str:
        return f"lab-{self.name}"

    def links(self) -> dict[str, dict[str, Any]]:
        """The pod's netdevs as `ip -j addr` shows them, by name."""
        out = ip("-n", self.netns_name, "-j", "addr", "show").stdout
        return {link["ifname"]: link for link in json.loads(out)}

    def addresses(self, ifname: str) -> list[str]:
        return [f"{a['local']}/{a['prefixlen']}" for a in self.links()[ifname].get("addr_info", [])
                if a.get("family") == "inet"]


class SriovLab:
    """The daemon and the NADs a test module shares."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cni_dir = require_cni_plugins("bridge", "host-local")
        self.shim = require_shim()
        self.nads: dict[str, dict[str, Any]] = {}
        # the node's keys are the daemon's: real sysfs, no kubelet (VFs by deviceID)
        self.daemon = DaemonProcess(root / "daemon", sysfsRoot="/sys",
                                    kubeletCheckpoint=str(root / "no-kubelet-checkpoint"))

    def start(self) -> SriovLab:
        keep_veth_macs()
        self.daemon.start(timeout=DAEMON_START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        try:
            self.daemon.terminate(60)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
        ip("link", "del", BRIDGE, check=False)
        VETH_LINK_FILE.unlink(missing_ok=True)

    def add_nad(self, name: str, *, subnet: str | None = None, **config: Any) -> None:
        """A NetworkAttachmentDefinition of `"type": "sriov"` (sriov-cni's keys + mtu, bindVfio);
        `subnet`: host-local IPAM in it (each node keeps its own leases), `routes` (with a subnet):
        host-local's routes; `resource`: its k8s.v1.cni.cncf.io/resourceName annotation."""
        self.nads[name] = {"cniVersion": "1.0.0", "name": name, "type": "sriov", **config,
                           **({"subnet": subnet} if subnet else {})}


class SriovNode:
    """One test's view of the node: its own state dir, device-info dir and lease dir."""

    def __init__(self, lab: SriovLab, tmp: Path) -> None:
        self.lab = lab
        self.tmp = tmp
        self.state = tmp / "state"
        self.devinfo = tmp / "devinfo"
        self.leases = tmp / "leases"
        tmp.mkdir(parents=True, exist_ok=True)
        self.cluster = tmp / "cluster.conflist"
        self.cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "ipam": self.ipam(CLUSTER_SUBNET)}]}))
        self.networks = tmp / "networks.d"
        self.networks.mkdir(parents=True, exist_ok=True)
        (self.networks / "nads.json").write_text(json.dumps({"kind": "List", "items": [
            self._nad(name, config) for name, config in lab.nads.items()]}))
        self.pods: list[LabPod] = []

    def _nad(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        conf = {k: v for k, v in config.items() if k not in ("subnet", "resource", "routes")}
        if "subnet" in config:
            conf["ipam"] = self.ipam(config["subnet"], config.get("routes"))
        metadata: dict[str, Any] = {"name": name, "namespace": "default"}
        if "resource" in config:   # the NAD's k8s.v1.cni.cncf.io/resourceName annotation
            metadata["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": config["resource"]}
        return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": metadata, "spec": {"config": json.dumps(conf)}}

    def ipam(self, subnet: str, routes: list[dict[str, str]] | None = None) -> dict[str, Any]:
        return {"type": "host-local", "subnet": subnet, "dataDir": str(self.leases),
                **({"routes": routes} if routes else {})}

    def pod(self, name: str) -> LabPod:
        pod = LabPod(name)
        ip("netns", "add", pod.netns_name)
        ip("-n", pod.netns_name, "link", "set", "lo", "up")
        self.pods.append(pod)
        return pod

    def conf(self, networks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """What the runtime hands multus-dp: our config plus the pod's annotations (as containerd's
        `io.kubernetes.cri.pod-annotations` capability passes them)."""
        conf: dict[str, Any] = {
            "cniVersion": CNI_VERSION, "name": "multus-dp", "type": "multus-dp",
            "capabilities": {"io.kubernetes.cri.pod-annotations": True},
            "stateDir": str(self.state), "networksDir": str(self.networks),
            "clusterNetwork": str(self.cluster), "deviceInfoDir": str(self.devinfo), **extra}
        if networks is not None:
            conf["runtimeConfig"] = {"io.kubernetes.cri.pod-annotations": {NETWORKS_ANNOTATION: json.dumps(networks)}}
        return conf

    def call(self, command: str, pod: LabPod | None, conf: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """Exec the shim as a runtime does; the daemon does the work."""
        return run_shim(self.lab.shim, command, conf, container=pod.container_id if pod else "",
                        netns=pod.netns if pod else "", cni_path=self.lab.cni_dir,
                        args=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod.name}" if pod else "",
                        extra_env={"MULTUS_DP_SOCKET": self.lab.daemon.socket}, timeout=CNI_CALL_TIMEOUT_S)

    def ok(self, command: str, pod: LabPod | None, conf: dict[str, Any]) -> dict[str, Any] | None:
        reply = self.call(command, pod, conf)
        assert reply.returncode == 0, (f"{command} {pod.name if pod else ''} exited {reply.returncode}: "
                                       f"{reply.stdout}{reply.stderr}\n--- daemon log (tail) ---\n"
                                       f"{self.lab.daemon.log_text()[-3000:]}")
        return json.loads(reply.stdout) if reply.stdout.strip() else None

    def allocations(self) -> list[str]:
        """PCI addresses of the VFs with an allocation record."""
        vf_dir = self.state / "vf"
        return sorted(p.stem for p in vf_dir.glob("*.json")) if vf_dir.is_dir() else []

    def journals(self) -> list[str]:
        attachments = self.state / "attachments"
        return sorted(p.stem for p in attachments.glob("*.json")) if attachments.is_dir() else []

    def leases_in(self, subnet_prefix: str) -> list[str]:
        """host-local lease files for addresses starting with `subnet_prefix` (e.g. "10.56.1.")."""
        return sorted(p.name for p in self.leases.rglob(f"{subnet_prefix}*")) if self.leases.is_dir() else []

    def network_status(self, pod: LabPod) -> list[dict[str, Any]]:
        return json.loads((self.state / "status" / f"default_{pod.name}.json").read_text())["networkStatus"]


@pytest.fixture
def node(lab: SriovLab, tmp_path: Path) -> SriovNode:
    """A node (daemon + shim) on the test module's `lab` (each lab module defines its NADs)."""
    return SriovNode(lab, tmp_path)
