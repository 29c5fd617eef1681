"""Run the embedded demo: the seed document's pod (Network objects flannel-conf and ptp-conf:
eth0 + net0), an NPWG pod with three networks and a vFW pod with SR-IOV VFs on a simulated
NIC (two kernel-mode VLAN VFs, one DPDK-mode VF) are attached through the native shim and
a `multus-dp daemon` on a temp socket (thick mode, as a runtime would), their interfaces and
network-status are shown, then DEL removes everything and the demo proves nothing is left."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from multus_dp.base import defaults

DEFAULT_CNI_PATH = f"/usr/lib/cni:{defaults.CNI_BIN_DIR}"


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
        self.bridge_b = f"{self.tag}br1"
        self.uplink = f"{self.tag}up0"
        self.uplink_peer = f"{self.tag}up1"
        self.networks_dir = self.tmp / "networks.d"
        self.conf_dir = self.tmp / "net.d"
        self.netns: list[str] = []
        self.socket = str(self.tmp / "run" / "daemon.sock")
        # the simulated SR-IOV NIC: two kernel-mode VFs (veth ends) and one on vfio-pci
        self.sysfs_root = self.tmp / "sys"
        self.pf_state = self.tmp / "pf-vfs.json"
        self.pf_netdev = f"{self.tag}pf0"
        self.vf_netdevs = [f"{self.tag}vf0", f"{self.tag}vf1"]
        self.vf_wires = [f"{self.tag}w0", f"{self.tag}w1"]
        self.vf_bdfs: list[str] = []
        self.daemon: subprocess.Popen[bytes] | None = None

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
        """Exec the shim exactly as a runtime execs a CNI plugin; the daemon does the work."""
        shim = self.start_daemon()
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
               "CNI_PATH": self.cni_path, "MULTUS_DP_SOCKET": self.socket}
        if args:
            env["CNI_ARGS"] = args
        proc = subprocess.run([shim], input=json.dumps(conf).encode(), env=env, capture_output=True)
        out = proc.stdout.decode().strip()
        if proc.returncode != 0:
            raise RuntimeError(f"multus-dp shim {command} failed (exit {proc.returncode}): {out or proc.stderr.decode()}"
                               f"; daemon log: {self.tmp / 'daemon.log'}")
        return json.loads(out) if out else None

    def start_daemon(self) -> str:
        """A daemon on a temp socket for the demo's lifetime; returns the shim's path."""
        from multus_dp.daemon.install import built_shim
        from multus_dp.daemon.protocol import DaemonClient

        shim = str(built_shim())
        if self.daemon is not None:
            return shim
        config = self.tmp / "daemon.json"
        # the node's keys belong to the daemon: its hardware inventory is the simulated NIC's sysfs
        config.write_text(json.dumps({"socketPath": self.socket, "stateDir": str(self.state_dir),
                                      "metricsAddress": "", "logFile": str(self.tmp / "daemon.log"),
                                      "sysfsRoot": str(self.sysfs_root), "sriovSimulatedPf": str(self.pf_state)}))
        errors = self.tmp / "daemon.stderr"
        with errors.open("wb") as stderr:  # a file, not a pipe nobody drains
            self.daemon = subprocess.Popen([sys.executable, "-m", "multus_dp", "daemon", "--config", str(config)],
                                           stdout=subprocess.DEVNULL, stderr=stderr)
        client = DaemonClient(self.socket, timeout=2.0)
        for _ in range(600):
            if self.daemon.poll() is not None:
                raise RuntimeError(f"multus-dp daemon exited: {errors.read_text()}")
            try:
                if client.healthy():
                    print(f"== multus-dp daemon pid {self.daemon.pid} on {self.socket}; "
                          f"each CNI call execs the shim {shim}")
                    return shim
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"multus-dp daemon did not answer on {self.socket}")

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    # ---- the scenario ---------------------------------------------------------------
    def write_objects(self) -> None:
        """The seed document's Network objects (a bridge stands in for flannel, which cannot run
        here), plus NetworkAttachmentDefinitions for an NPWG pod, in a standalone networks dir."""
        ipam = {"type": "host-local", "dataDir": str(self.ipam_dir)}
        objects = [
            {"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": "flannel-conf"},
             "plugin": "bridge", "args": json.dumps([{"bridge": self.bridge, "isGateway": True,
                                                      "ipam": {**ipam, "subnet": "10.250.10.0/24"}}])},
            {"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": "ptp-conf"},
             "plugin": "ptp", "args": json.dumps([{"ipam": {**ipam, "subnet": "10.168.1.0/24",
                                                            "rangeStart": "10.168.1.11", "rangeEnd": "10.168.1.20",
                                                            "routes": [{"dst": "0.0.0.0/0"}], "gateway": "10.168.1.1"}}])},
            _nad("macvlan-conf", {"cniVersion": "1.0.0", "type": "macvlan", "master": self.uplink,
                                  "mode": "bridge", "ipam": {**ipam, "subnet": "10.250.30.0/24"}}),
            _nad("ptp-data", {"cniVersion": "1.0.0", "type": "ptp",
                              "ipam": {**ipam, "subnet": "10.250.40.0/24"}}),
            _nad("bridge-b", {"cniVersion": "1.0.0", "type": "bridge", "bridge": self.bridge_b,
                              "ipam": {**ipam, "subnet": "10.250.50.0/24"}}),
            _nad("sriov-untrust", {"cniVersion": "1.0.0", "type": "sriov", "vlan": 100, "vlanQoS": 3,
                                   "spoofchk": "on", "trust": "off", "max_tx_rate": 1000,
                                   "ipam": {**ipam, "subnet": "10.250.60.0/24"}}),
            _nad("sriov-trust", {"cniVersion": "1.0.0", "type": "sriov", "vlan": 200, "mac": "02:fe:00:00:02:00",
                                 "spoofchk": "off", "trust": "on", "mtu": 1400,
                                 "ipam": {**ipam, "subnet": "10.250.70.0/24"}}),
            _nad("sriov-dpdk", {"cniVersion": "1.0.0", "type": "sriov", "vlan": 300, "spoofchk": "on"}),
        ]
        self.networks_dir.mkdir(parents=True, exist_ok=True)
        (self.networks_dir / "demo.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                                  "items": objects}, indent=1))
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "10-cluster.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "cluster", "plugins": [{
                "type": "bridge", "bridge": self.bridge, "isGateway": True,
                "ipam": {**ipam, "subnet": "10.250.10.0/24", "routes": [{"dst": "0.0.0.0/0"}]}}]}))

    def conf(self, annotations: dict[str, str]) -> dict[str, Any]:
        """What the runtime hands multus-dp: our conflist entry plus the pod's annotations in
        runtimeConfig (containerd fills `io.kubernetes.cri.pod-annotations` in)."""
        return {
            "cniVersion": "1.0.0", "name": "multus-dp-demo", "type": "multus-dp",
            "capabilities": {"io.kubernetes.cri.pod-annotations": True},
            "stateDir": str(self.state_dir), "networksDir": str(self.networks_dir),
            "clusterNetwork": str(self.conf_dir / "10-cluster.conflist"),
            "deviceInfoDir": str(self.tmp / "devinfo"),
            "runtimeConfig": {"io.kubernetes.cri.pod-annotations": annotations},
        }

    def pod(self, title: str, name: str, annotations: dict[str, str]) -> tuple[str, dict[str, Any]]:
        netns_name = f"{self.tag}-{name[:6]}"
        netns = self.add_netns(netns_name)
        conf = self.conf(annotations)
        print(f"== {title}")
        for key, value in annotations.items():
            print(f"   annotation {key}: {value}")
        result = self.cni("ADD", conf, f"{self.tag}-{name}", netns,
                          args=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={name}")
        ips = ", ".join(ip["address"] for ip in (result or {}).get("ips", []))
        print(f"   result to the runtime (cluster network): {ips}")
        print(f"-- the pod's interfaces (ip -n {netns_name} addr):")
        print(self.ip("-n", netns_name, "addr"))
        self.cni("CHECK", conf, f"{self.tag}-{name}", netns)
        print("   CHECK passed for every attachment")
        status_file = self.state_dir / "status" / f"default_{name}.json"
        status = json.loads(status_file.read_text())["networkStatus"]
        print("-- network-status:")
        for entry in status:
            print(f"   {entry['name']:<24} {entry.get('interface', ''):<6} {','.join(entry.get('ips', [])):<16}"
                  f" {'default' if entry.get('default') else ''}")
        return netns, conf

    def run(self, keep: bool) -> int:
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        try:
            self.ip("link", "add", self.uplink, "type", "veth", "peer", "name", self.uplink_peer)
            self.ip("link", "set", self.uplink, "up")
            self.ip("link", "set", self.uplink_peer, "up")
            self.setup_nic()
            self.write_objects()
            pods = [
                ("multus-multi-net-poc", *self.pod(
                    "the seed's pod multus-multi-net-poc: Network objects flannel-conf and ptp-conf",
                    "multus-multi-net-poc", {"networks": '[{"name":"flannel-conf"},{"name":"ptp-conf"}]'})),
                ("npwg-pod", *self.pod(
                    "an NPWG pod with three networks (macvlan over a veth, ptp as data0, a second bridge)",
                    "npwg-pod", {"k8s.v1.cni.cncf.io/networks": "macvlan-conf,ptp-data@data0,bridge-b"})),
            ]
            before = self.show_vfs("the simulated NIC's VFs before the vFW pod")
            pods.append(("vfw", *self.pod(
                "a vFW pod: management eth0 + two kernel-mode VFs (VLANs 100, 200) + one DPDK-mode VF",
                "vfw", {"k8s.v1.cni.cncf.io/networks": json.dumps([
                    {"name": "sriov-untrust", "interface": "wan0", "deviceID": self.vf_bdfs[0]},
                    {"name": "sriov-trust", "interface": "lan0", "deviceID": self.vf_bdfs[1]},
                    {"name": "sriov-dpdk", "interface": "dpdk0", "deviceID": self.vf_bdfs[2]}])})))
            self.show_vfs("the VFs as the PF reports them while the vFW pod runs")
            self.show_device_info("vfw")
            if keep:
                print(f"kept: state in {self.state_dir}")
                return 0
            for name, netns, conf in pods:
                self.cni("DEL", conf, f"{self.tag}-{name}", netns)
                self.cni("DEL", conf, f"{self.tag}-{name}", netns)
            print("== DEL done for every pod (twice: DEL is idempotent)")
            after = self.show_vfs("the VFs after DEL")
            restored = before == after and all(self._link_exists(n) for n in self.vf_netdevs)
            print("== every VF restored exactly (PF settings, netdev name/MAC/MTU)" if restored
                  else "!! a VF was not restored")
            return self.prove_clean() or (0 if restored else 1)
        finally:
            self.stop_daemon()
            if not keep:
                self.cleanup(forward)

    def setup_nic(self) -> None:
        from multus_dp.sriov.simulated import SimulatedPf, build_sysfs

        for vf, wire in zip(self.vf_netdevs, self.vf_wires):
            self.ip("link", "add", vf, "type", "veth", "peer", "name", wire)
            self.ip("link", "set", wire, "up")
        self.vf_bdfs = build_sysfs(str(self.sysfs_root), pf_bdf="0000:5e:00.0", pf_netdev=self.pf_netdev,
                                   vf_netdevs=[*self.vf_netdevs, None])
        SimulatedPf(str(self.pf_state)).add_pf(self.pf_netdev, len(self.vf_bdfs))

    def show_vfs(self, title: str) -> list[Any]:
        from multus_dp.sriov.simulated import SimulatedPf

        vfs = SimulatedPf(str(self.pf_state)).get_vfs(self.pf_netdev)
        links = {name: self._link(name) for name in self.vf_netdevs}
        print(f"-- {title}:")
        print(f"   {'VF':<14} {'MAC':<18} {'VLAN':>4} {'QOS':>3} {'SPOOF':<5} {'TRUST':<5} {'MAXRATE':>7}  HOST NETDEV")
        for vf, bdf in zip(vfs, self.vf_bdfs):
            name = self.vf_netdevs[vf.index] if vf.index < len(self.vf_netdevs) else None
            link = links.get(name) if name is not None else None
            host = "(vfio-pci)" if name is None else (
                f"{name} {link['address']} mtu {link['mtu']}" if link else "(in the pod)")
            print(f"   {bdf:<14} {vf.mac:<18} {vf.vlan:>4} {vf.qos:>3} {'on' if vf.spoofchk else 'off':<5} "
                  f"{'on' if vf.trust else 'off':<5} {vf.max_tx_rate:>7}  {host}")
        return [vfs, links]

    def show_device_info(self, pod: str) -> None:
        status = json.loads((self.state_dir / "status" / f"default_{pod}.json").read_text())["networkStatus"]
        for entry in status:
            if entry.get("device-info"):
                print(f"-- device-info of {entry['name']} ({entry['interface']}): {json.dumps(entry['device-info'])}")

    def _link(self, name: str) -> dict[str, Any] | None:
        out = self.ip("-j", "link", "show", "dev", name, check=False)
        return json.loads(out)[0] if out.strip() else None

    def _link_exists(self, name: str) -> bool:
        return self._link(name) is not None

    def prove_clean(self) -> int:
        leftovers = []
        # the demo's own links, removed at cleanup (the VF netdevs are back on the host: that is the point)
        ours = {self.bridge, self.bridge_b, self.uplink, self.uplink_peer, *self.vf_netdevs, *self.vf_wires}
        host = [line.split(":")[1].strip().split("@")[0] for line in self.ip("-o", "link", "show").splitlines()]
        veths = [name for name in host if name.startswith("veth") and self._on_demo_bridge(name)]
        if veths:
            leftovers.append(f"host veths on the demo bridges: {veths}")
        if [name for name in host if name.startswith(self.tag) and name not in ours]:
            leftovers.append("host links with the demo's prefix")
        for ns in self.netns:
            pod_links = [line.split(":")[1].strip().split("@")[0]
                         for line in self.ip("-n", ns, "-o", "link").splitlines()]
            if [name for name in pod_links if name != "lo"]:
                leftovers.append(f"links in {ns}: {pod_links}")
        leases = [p.name for p in self.ipam_dir.rglob("*") if p.is_file() and p.name[0].isdigit()] \
            if self.ipam_dir.exists() else []
        if leases:
            leftovers.append(f"IP leases: {leases}")
        journals = list((self.state_dir / "attachments").glob("*.json"))
        if journals:
            leftovers.append(f"journals: {journals}")
        statuses = list((self.state_dir / "status").glob("*.json"))
        if statuses:
            leftovers.append(f"status files: {statuses}")
        if leftovers:
            print("!! left behind: " + "; ".join(leftovers))
            return 1
        print("== nothing left: no pod links, no veth on the host, no IP lease, no journal, no status file")
        return 0

    def _on_demo_bridge(self, link: str) -> bool:
        master = Path(f"/sys/class/net/{link}/master")
        return master.exists() and master.resolve().name in (self.bridge, self.bridge_b)

    def cleanup(self, forward: str) -> None:
        for name in self.netns:
            self.ip("netns", "del", name, check=False)
        for link in (self.bridge, self.bridge_b, self.uplink, *self.vf_netdevs):
            self.ip("link", "del", link, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _nad(name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"config": json.dumps(config)}}


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
