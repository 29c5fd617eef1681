"""deploy/multus-dp/daemonset.yaml run for real on this machine, from the image
scripts/build-image.sh builds offline.

The manifest's init containers (node-prep, kubeconfig, install) and containers (daemon,
conf-watch) run with podman exactly as written — host network and PID, privileges, env,
commands, mounts — against an API server (the kmock emulator behind TLS, reached the way the
kubeconfig init step writes it: service IP, service-account CA and token file). Host paths that
are unsafe to touch on a test machine (/opt/cni/bin, /etc/cni/net.d, /var/lib/...) are private
dirs; /run/multus-dp, /run/netns, /sys and / (chrootDir /hostroot) are the real ones. Pods are
then created through containerd's CRI, whose CNI config is the one the install step wrote.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import yaml

from tests.e2e.support.daemonset import DaemonSetPod, configmaps_in, daemonset_in, podman
from tests.e2e.support.node import OUR_CONFLIST, Node
from tests.e2e.support.prereq import require_containerd, require_e2e_basics
from tests.e2e.support.sandbox import ifaces_in
from tests.e2e.support.simnic import SimulatedNic
from tests.e2e.support.tlsproxy import TlsProxy, make_ca_and_cert
from tests.support.netns import NetLab
from tests.support.prereq import require_binary
from tests.support.world import legacy_network, nad
from tests.unit.k8s.emulator import Emulator, pod

if TYPE_CHECKING:
    from tests.e2e.support.containerd import CRI, Containerd

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NODE = "e2e-ds-node"
NAMESPACE = "e2e"
SOCKET = Path("/run/multus-dp/daemon.sock")
PAUSE_REF = "localhost/multus-dp-e2e-pause:1"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
# node paths the test must not touch for real: each gets a private dir
PRIVATE = ("/opt/cni/bin", "/etc/cni/net.d", "/var/lib/multus-dp", "/var/lib/cni", "/var/lib/kubelet/device-plugins",
           "/var/lib/kubelet/pod-resources", "/var/run/k8s.cni.cncf.io/devinfo", "/run/flannel")


def image_tag() -> str:
    config = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["images"][0]
    return f"{config['newName']}:{config['newTag']}"


@pytest.fixture(scope="module")
def image() -> str:
    require_binary("podman")
    require_binary("mmdebstrap")
    proc = subprocess.run([str(REPO / "scripts" / "build-image.sh"), "--no-containerd"], capture_output=True,
                          text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return image_tag()


@dataclass
class Cluster:
    node: Node
    nic: SimulatedNic
    emu: Emulator
    ds: DaemonSetPod
    containerd: Containerd
    cri: CRI
    init_logs: dict[str, str]
    before: dict[str, list[str]]


def socket_in_use(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def snapshot(node: Node) -> dict[str, list[str]]:
    """What an operator would compare before install and after uninstall."""
    return {"bin": sorted(p.name for p in node.bin_dir.iterdir()),
            "conf": sorted(p.name for p in node.conf_dir.iterdir()),
            "journals": node.journals(), "leases": node.leases(),
            "bridge ports": node.host_links_on(node.bridge) + node.host_links_on(node.legacy_bridge)}


OUTSIDE_MAC = "02:e2:d5:00:00:01"


def seed_networks(emu: Emulator, node: Node) -> None:
    from multus_dp.k8s.kinds import NADS, NETWORKS

    def sriov(name: str, **config: Any) -> dict[str, Any]:
        return nad(name, {"cniVersion": "1.0.0", "type": "sriov", **config}, namespace=NAMESPACE)

    for obj in (sriov("vf-outside", vlan=100, mac=OUTSIDE_MAC, spoofchk="on", trust="off", mtu=1400,
                      ipam=node._ipam(6)),
                sriov("vf-inside", vlan=200, trust="on", ipam=node._ipam(7)),
                sriov("vf-dpdk", vlan=300)):
        emu.seed(NADS, obj)

    emu.seed(NADS, nad("ptp-net", {"cniVersion": "0.4.0", "type": "ptp", "ipam": node._ipam(2)}, namespace=NAMESPACE))
    emu.seed(NETWORKS, legacy_network("legacy-bridge", "bridge", [{"bridge": node.legacy_bridge, "isGateway": True,
                                                                   "ipam": node._ipam(4)}], namespace=NAMESPACE))
    emu.seed(NETWORKS, legacy_network("legacy-ptp", "ptp", [{"ipam": node._ipam(5)}], namespace=NAMESPACE))


def daemon_config(text: str, nic: SimulatedNic) -> str:
    """The ConfigMap's daemon.yaml as shipped, with the metrics listener off (port 9192 may be
    taken on a test machine), API timeouts a test can wait for, and the node's hardware: a
    simulated NIC (its sysfs tree and VF table on the host, seen by the daemon under chrootDir)."""
    config = yaml.safe_load(text)
    config.update(metricsAddress="", kubeBackoffMax=2)
    config.update({key: config["chrootDir"] + value for key, value in nic.daemon_keys().items()})
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def cluster(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cni_dir = require_e2e_basics()
    require_containerd()
    from tests.e2e.support.containerd import Containerd
    from tests.e2e.support.images import busybox_rootfs, docker_archive

    assert not socket_in_use(SOCKET), f"a multus-dp daemon already serves {SOCKET} on this machine"
    root = tmp_path_factory.mktemp("ds")
    lab = NetLab()
    node = Node(root / "node", lab, cni_dir, os.environ.get("MULTUS_DP_E2E_NET_DS", "10.243"))
    node.link_plugins()
    node.write_primary()
    before = snapshot(node)
    emu = Emulator()
    proxy = None
    ds = None
    containerd = None
    try:
        nic = SimulatedNic(root / "nic", lab)
        ca, cert, key = make_ca_and_cert(root / "pki")
        proxy = TlsProxy(emu.port, cert, key)
        service_account = root / "serviceaccount"
        service_account.mkdir()
        shutil.copy(ca, service_account / "ca.crt")
        (service_account / "token").write_text("e2e-token\n")
        (service_account / "namespace").write_text("kube-system\n")
        seed_networks(emu, node)
        redirect = {path: root / "host" / path.strip("/") for path in PRIVATE}
        redirect.update({"/opt/cni/bin": node.bin_dir, "/etc/cni/net.d": node.conf_dir, "/var/lib/multus-dp": node.state})
        if not Path("/lib/modules").is_dir():   # a container-built test machine has no modules tree
            redirect["/lib/modules"] = root / "host" / "lib" / "modules"
            redirect["/lib/modules"].mkdir(parents=True)
        configmaps = configmaps_in(DEPLOY / "multus-dp" / "configmap.yaml", DEPLOY / "uninstall" / "cleanup.yaml")
        configmaps["multus-dp-daemon"]["daemon.yaml"] = daemon_config(configmaps["multus-dp-daemon"]["daemon.yaml"], nic)
        ds = DaemonSetPod(daemonset_in(DEPLOY / "multus-dp" / "daemonset.yaml"), image, root / "pod", node_name=NODE,
                          pod_ip="127.0.0.1", redirect=redirect, configmaps=configmaps,
                          service_account=service_account,
                          kube_env={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                    "KUBERNETES_SERVICE_PORT": str(proxy.port)})
        init_logs = {}
        for name in ds.init_names:
            proc = ds.run_init(name)
            init_logs[name] = proc.stdout + proc.stderr
            assert proc.returncode == 0, f"init container {name} failed: {init_logs[name]}"
        for name in ds.names:
            ds.start(name)
        deadline = time.monotonic() + 120
        while ds.probe("daemon", "readinessProbe").returncode != 0:
            assert ds.running("daemon"), f"the daemon exited: {ds.logs('daemon')[-3000:]}"
            assert time.monotonic() < deadline, f"never ready: {ds.logs('daemon')[-3000:]}"
            time.sleep(0.5)
        archive = docker_archive(busybox_rootfs(root / "rootfs"), root / "pause.tar", PAUSE_REF)
        containerd = Containerd(root / "c", cni_bin_dir=node.bin_dir, cni_conf_dir=node.conf_dir,
                                sandbox_image=PAUSE_REF)
        cri = containerd.start()
        containerd.import_image(archive)
        assert cri.network_ready(), f"CNI config not loaded: {containerd.log_tail()}"
        yield Cluster(node, nic, emu, ds, containerd, cri, init_logs, before)
    finally:
        if containerd is not None:
            containerd.stop()
        if ds is not None:
            ds.stop()
        if proxy is not None:
            proxy.close()
        emu.close()
        lab.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def k8s_pod(cluster: Cluster, name: str, annotations: dict[str, str]) -> Iterator[str]:
    """The pod in the API (scheduled to our node), then its sandbox through CRI, as the kubelet
    does; stopped and removed whatever the test does."""
    from multus_dp.k8s.kinds import PODS

    uid = str(uuid.uuid4())
    cluster.emu.seed(PODS, pod(name, namespace=NAMESPACE, uid=uid, node=NODE, annotations=annotations))
    pod_id = cluster.cri.run_pod(name, NAMESPACE, uid, annotations, cluster.node.root / "logs")
    try:
        yield pod_id
    finally:
        with contextlib.suppress(grpc.RpcError):
            cluster.cri.stop_pod(pod_id)
            cluster.cri.remove_pod(pod_id)


def network_status(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    from multus_dp.k8s.kinds import PODS

    deadline = time.monotonic() + 30   # published in the background after the ADD returned
    while True:
        obj = cluster.emu.get(PODS, NAMESPACE, name)
        text = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(NETWORK_STATUS)
        if text or time.monotonic() > deadline:
            return json.loads(text) if text else []
        time.sleep(0.2)


def test_init_steps_install_the_shim_and_our_conflist(cluster: Cluster) -> None:
    from multus_dp.hardware.nodeprep_state import read

    # node-prep runs beside the daemon: its record says how it went (default.yaml: nothing to do)
    deadline = time.monotonic() + 60
    while (state := read(str(cluster.node.state))) is None or state.state == "running":
        assert time.monotonic() < deadline, cluster.ds.logs("node-prep")
        time.sleep(0.2)
    assert state.state == "ok" and state.config == "/etc/multus-dp/node-prep/default.yaml"
    assert "node-prep: e2e-ds-node: /etc/multus-dp/node-prep/default.yaml" in cluster.ds.logs("node-prep")
    assert os.access(cluster.node.bin_dir / "multus-dp", os.X_OK)
    conflist = json.loads((cluster.node.conf_dir / OUR_CONFLIST).read_text())
    plugin = conflist["plugins"][0]
    assert plugin["type"] == "multus-dp" and plugin["socketPath"] == str(SOCKET)
    assert plugin["clusterNetwork"] == "/etc/cni/net.d/10-cluster.conflist"   # the daemon's view of it
    assert SOCKET.is_socket() and (SOCKET.stat().st_mode & 0o777) == 0o600


def test_probes_pass_as_the_kubelet_runs_them(cluster: Cluster) -> None:
    for kind in ("readinessProbe", "livenessProbe"):
        proc = cluster.ds.probe("daemon", kind)
        assert proc.returncode == 0, f"{kind}: {proc.stdout}{proc.stderr}"
    status = cluster.ds.exec("daemon", ["multus-dp", "status", "--json"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["daemon"]["ready"] is True


def test_the_seed_pod_gets_eth0_and_net0_from_network_objects(cluster: Cluster) -> None:
    annotations = {"networks": json.dumps([{"name": "legacy-bridge"}, {"name": "legacy-ptp"}])}
    with k8s_pod(cluster, "seed", annotations) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        assert sandbox.ready
        ifaces = ifaces_in(sandbox.netns)
        assert ifaces["eth0"].ipv4[0].startswith(cluster.node.prefix(4))
        assert ifaces["net0"].ipv4[0].startswith(cluster.node.prefix(5))
        status = network_status(cluster, "seed")
        assert [(s["name"], s["interface"]) for s in status] == [
            (f"{NAMESPACE}/legacy-bridge", "eth0"), (f"{NAMESPACE}/legacy-ptp", "net0")]
    assert cluster.node.journals() == [] and cluster.node.leases() == []


def test_an_npwg_pod_gets_the_cluster_network_and_its_nad(cluster: Cluster) -> None:
    """The primary config runs with the host's root (chrootDir): bridge and host-local come from
    the host's CNI bin dir, which the daemon's container never mounts at that path."""
    with k8s_pod(cluster, "npwg", {"k8s.v1.cni.cncf.io/networks": "ptp-net@data0"}) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        assert sandbox.ready and sandbox.ip.startswith(cluster.node.prefix(1))
        ifaces = ifaces_in(sandbox.netns)
        assert ifaces["data0"].ipv4[0].startswith(cluster.node.prefix(2))
        status = network_status(cluster, "npwg")
        assert [(s["name"], s["interface"], s.get("default", False)) for s in status] == [
            ("cluster", "eth0", True), (f"{NAMESPACE}/ptp-net", "data0", False)]
    assert cluster.node.journals() == [] and cluster.node.leases() == []
    assert cluster.node.host_links_on(cluster.node.bridge) == []


def test_a_vfw_pod_gets_kernel_and_dpdk_mode_vfs_from_the_daemon_in_its_container(cluster: Cluster) -> None:
    """The SR-IOV built-in runs inside the daemon's container (privileged, host network): VF
    netdevs move into the pod, the VF table is set through the PF, the DPDK VF gets device-info;
    after the pod every VF is exactly as before."""
    nic = cluster.nic
    table_before = nic.vf_table()
    links_before = {vf: nic.host_link(vf) for vf in nic.vf_netdevs}
    selection = json.dumps([{"name": "vf-outside", "deviceID": nic.bdfs[0], "interface": "outside"},
                            {"name": "vf-inside", "deviceID": nic.bdfs[1], "interface": "inside"},
                            {"name": "vf-dpdk", "deviceID": nic.bdfs[2]}])
    with k8s_pod(cluster, "vfw", {"k8s.v1.cni.cncf.io/networks": selection}) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        assert sandbox.ready
        ifaces = ifaces_in(sandbox.netns)
        assert set(ifaces) == {"lo", "eth0", "outside", "inside"}
        assert (ifaces["outside"].mac, ifaces["outside"].mtu) == (OUTSIDE_MAC, 1400)
        assert ifaces["inside"].ipv4[0].startswith(cluster.node.prefix(7))
        vf0, vf1, vf2 = nic.vf_table()
        assert (vf0.mac, vf0.vlan, vf0.spoofchk, vf0.trust, vf1.vlan, vf1.trust, vf2.vlan) == (
            OUTSIDE_MAC, 100, True, False, 200, True, 300)
        status = network_status(cluster, "vfw")
        dpdk = status[3]
        assert dpdk["name"] == f"{NAMESPACE}/vf-dpdk" and dpdk["device-info"]["pci"]["pci-address"] == nic.bdfs[2]
    assert nic.vf_table() == table_before, "a VF kept pod settings"
    assert {vf: nic.host_link(vf) for vf in nic.vf_netdevs} == links_before, "VF netdev name/MAC/MTU changed"
    assert cluster.node.journals() == [] and cluster.node.leases() == []


def test_zz_deleting_the_daemonset_and_running_the_cleanup_leaves_the_node_as_it_was(cluster: Cluster) -> None:
    """Last in the module: the uninstall path. The DaemonSet's containers are stopped as the
    kubelet stops them (SIGTERM, grace period), then deploy/uninstall/cleanup.yaml's steps run."""
    cluster.ds.stop()
    assert not SOCKET.exists(), "the daemon left its socket behind"
    cleanup = DaemonSetPod(daemonset_in(DEPLOY / "uninstall" / "cleanup.yaml"), cluster.ds.image,
                           cluster.ds.root / "cleanup", node_name=NODE, pod_ip="127.0.0.1",
                           redirect=cluster.ds.redirect,
                           configmaps=configmaps_in(DEPLOY / "uninstall" / "cleanup.yaml"),
                           service_account=cluster.ds.service_account, kube_env=cluster.ds.kube_env)
    for name in cleanup.init_names:
        proc = cleanup.run_init(name)
        assert proc.returncode == 0, f"cleanup step {name}: {proc.stdout}{proc.stderr}"
    assert snapshot(cluster.node) == cluster.before
    assert podman("ps", "-a", "--filter", f"name={cluster.ds.prefix}", "--format", "{{.Names}}").stdout.strip() == ""
