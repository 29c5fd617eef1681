"""containerd 1.6's CRI plugin execs multus-dp's installed shim, as on a Kubernetes node.

The module starts one containerd (temp root/state/socket, CNI bin dir = the shim installed by
`multus-dp install` + links to Debian's plugins, conf dir = the bridge primary + the generated
`00-multus-dp.conflist`), one `multus-dp daemon`, and imports an offline-built pause image.
Each test then talks CRI to it as kubelet would: RunPodSandbox with the pod's annotations
(which containerd hands to multus-dp through the `io.kubernetes.cri.pod-annotations`
capability; no API server), PodSandboxStatus, StopPodSandbox, RemovePodSandbox.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from tests.e2e.support.node import ANNOTATIONS_CAPABILITY, OUR_CONFLIST, Node
from tests.e2e.support.prereq import require_containerd, require_e2e_basics
from tests.e2e.support.sandbox import Iface, ifaces_in, parse_ip_addr, ping_from
from tests.e2e.support.simnic import SimulatedNic
from tests.support.world import nad
from tests.support.netns import NetLab

if TYPE_CHECKING:  # imported lazily below: cri_api may be missing on a laptop (the test skips)
    from tests.e2e.support.containerd import CRI, Containerd

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
LEGACY = "networks"
PAUSE_REF = "localhost/multus-dp-e2e-pause:1"


@dataclass
class Cluster:
    node: Node
    nic: SimulatedNic
    containerd: Containerd
    cri: CRI
    conflist: dict[str, Any]


OUTSIDE_MAC = "02:e2:e0:00:00:01"


def write_sriov_nads(node: Node) -> None:
    """sriov-cni NADs for a vFW pod: two kernel-mode VFs (subnets .6, .7) and a DPDK one."""
    def sriov(name: str, **config: Any) -> dict[str, Any]:
        return nad(name, {"cniVersion": "1.0.0", "type": "sriov", **config}, namespace="e2e")

    ipam = {"type": "host-local", "dataDir": str(node.ipam)}
    objects = [sriov("vf-outside", vlan=100, vlanQoS=2, mac=OUTSIDE_MAC, spoofchk="on", trust="off",
                     max_tx_rate=1000, mtu=1400, ipam={**ipam, "subnet": node.subnet(6)}),
               sriov("vf-inside", vlan=200, trust="on", ipam={**ipam, "subnet": node.subnet(7)}),
               sriov("vf-dpdk", vlan=300)]
    node.networks.mkdir(parents=True, exist_ok=True)
    (node.networks / "sriov.json").write_text(json.dumps({"kind": "List", "items": objects}, indent=2))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cni_dir = require_e2e_basics()
    require_containerd()
    from tests.e2e.support.containerd import Containerd
    from tests.e2e.support.images import busybox_rootfs, docker_archive

    root = tmp_path_factory.mktemp("cri")
    lab = NetLab()
    node = Node(root / "node", lab, cni_dir, os.environ.get("MULTUS_DP_E2E_NET_CRI", "10.241"))
    containerd = None
    try:
        nic = SimulatedNic(root / "nic", lab)
        write_sriov_nads(node)
        conflist = node.prepare("--set", f'capabilities={{"{ANNOTATIONS_CAPABILITY}": true}}', *nic.install_args())
        node.daemon.keys.update(nic.daemon_keys())
        node.daemon.start()
        archive = docker_archive(busybox_rootfs(root / "rootfs"), root / "pause.tar", PAUSE_REF)
        containerd = Containerd(root / "c", cni_bin_dir=node.bin_dir, cni_conf_dir=node.conf_dir,
                                sandbox_image=PAUSE_REF)
        cri = containerd.start()
        containerd.import_image(archive)
        assert cri.image_present(PAUSE_REF), containerd.log_tail()
        assert cri.network_ready(), f"CNI config not loaded: {containerd.log_tail()}"
        yield Cluster(node, nic, containerd, cri, conflist)
    finally:
        if containerd is not None:
            containerd.stop()
        node.stop_daemon()
        lab.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def pod(cluster: Cluster, name: str, annotations: dict[str, str]) -> Iterator[str]:
    """A sandbox that is stopped and removed whatever the test does."""
    pod_id = cluster.cri.run_pod(name, "e2e", str(uuid.uuid4()), annotations, cluster.node.root / "logs")
    try:
        yield pod_id
    finally:
        with contextlib.suppress(grpc.RpcError):
            cluster.cri.stop_pod(pod_id)
            cluster.cri.remove_pod(pod_id)


def assert_node_clean(cluster: Cluster) -> None:
    node = cluster.node
    assert node.leases() == [], "IP leases left"
    assert node.journals() == [], "multus-dp journals left"
    assert node.status_files() == [], "network-status files left"
    assert node.host_links_on(node.bridge) == [] and node.host_links_on(node.legacy_bridge) == [], "pod veths left"
    assert node.host_routes_in(range(1, 8)) == [], "ptp host routes left"
    assert not list((node.state / "vf").glob("*.json")), "VF allocation records left"
    assert not [p for p in cluster.nic.device_info.rglob("*") if p.is_file()], "device-info files left"
    for vf in cluster.nic.vf_netdevs:
        assert cluster.nic.host_link(vf) is not None, f"VF netdev {vf} not back on the host"
    assert node.host_addresses_in(2, 5) == [], "ptp host addresses left"


def test_conflist_installed_for_containerd(cluster: Cluster) -> None:
    """What containerd loaded: our generated conflist first, delegating to the primary."""
    plugin = cluster.conflist["plugins"][0]
    assert plugin["type"] == "multus-dp"
    assert plugin["clusterNetwork"] == str(cluster.node.conf_dir / "10-cluster.conflist")
    assert plugin["socketPath"] == cluster.node.daemon.socket
    assert os.access(cluster.node.bin_dir / "multus-dp", os.X_OK)
    assert sorted(p.name for p in cluster.node.conf_dir.iterdir())[0] == "00-multus-dp.conflist"


def test_vfw_pod_gets_kernel_and_dpdk_mode_vfs_and_every_vf_is_restored(cluster: Cluster) -> None:
    """The vFW pod of the design through CRI: management eth0, two kernel-mode VFs named by
    the annotation, one DPDK-mode VF (device-info, no netdev); each VF configured through its
    PF and, after the pod, exactly as before."""
    node, nic = cluster.node, cluster.nic
    table_before = nic.vf_table()
    links_before = {vf: nic.host_link(vf) for vf in nic.vf_netdevs}
    selection = json.dumps([{"name": "vf-outside", "deviceID": nic.bdfs[0], "interface": "outside"},
                            {"name": "vf-inside", "deviceID": nic.bdfs[1], "interface": "inside"},
                            {"name": "vf-dpdk", "deviceID": nic.bdfs[2]}])
    with pod(cluster, "vfw", {NETWORKS: selection}) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        ifaces = ifaces_in(sandbox.netns)
        assert set(ifaces) == {"lo", "eth0", "outside", "inside"}
        outside, inside = ifaces["outside"], ifaces["inside"]
        assert (outside.mac, outside.mtu, outside.up) == (OUTSIDE_MAC, 1400, True)
        assert outside.ipv4[0].startswith(node.prefix(6)) and inside.ipv4[0].startswith(node.prefix(7))
        assert sandbox.ip == ifaces["eth0"].ipv4[0].split("/")[0]
        assert [nic.host_link(vf) for vf in nic.vf_netdevs] == [None, None], "VF netdevs still on the host"
        vf0, vf1, vf2 = nic.vf_table()
        assert (vf0.mac, vf0.vlan, vf0.qos, vf0.spoofchk, vf0.trust, vf0.max_tx_rate) == (
            OUTSIDE_MAC, 100, 2, True, False, 1000)
        assert (vf1.vlan, vf1.trust, vf2.vlan) == (200, True, 300)
        status = node.network_status("e2e", "vfw")
        assert [(s["name"], s.get("interface")) for s in status][:3] == [
            ("cluster", "eth0"), ("e2e/vf-outside", "outside"), ("e2e/vf-inside", "inside")]
        dpdk = status[3]
        assert dpdk["name"] == "e2e/vf-dpdk" and dpdk["device-info"]["type"] == "pci", dpdk
        assert dpdk["device-info"]["pci"]["pci-address"] == nic.bdfs[2], dpdk
        assert sorted(p.stem for p in (node.state / "vf").glob("*.json")) == sorted(nic.bdfs)
    assert nic.vf_table() == table_before, "a VF kept pod settings"
    assert {vf: nic.host_link(vf) for vf in nic.vf_netdevs} == links_before, "VF netdev name/MAC/MTU changed"
    assert_node_clean(cluster)


def test_npwg_pod_gets_cluster_network_and_every_nad(cluster: Cluster) -> None:
    node = cluster.node
    with pod(cluster, "web", {NETWORKS: "ptp-net,macvlan-net"}) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        assert sandbox.netns, "containerd reported no network namespace"
        ifaces = ifaces_in(sandbox.netns)
        assert set(ifaces) == {"lo", "eth0", "net1", "net2"}
        for ifname, subnet in (("eth0", 1), ("net1", 2), ("net2", 3)):
            assert ifaces[ifname].up, ifname
            assert len(ifaces[ifname].ipv4) == 1 and ifaces[ifname].ipv4[0].startswith(node.prefix(subnet)), ifaces
        # kubelet's pod IP is the cluster network's (eth0), never a secondary one
        assert sandbox.ip == ifaces["eth0"].ipv4[0].split("/")[0]
        # what `kubectl exec web -- ip addr` shows in a workload container of the pod
        app = cluster.cri.start_container(pod_id, "app", PAUSE_REF, ["/bin/sleep", "1000000"])
        code, output = cluster.cri.exec(app, ["ip", "addr"])
        inside = parse_ip_addr(output)
        assert code == 0 and sorted(inside.links) == ["eth0", "lo", "net1", "net2"], output
        assert {i: inside.ipv4[i] for i in ("eth0", "net1", "net2")} == {
            i: list(ifaces[i].ipv4) for i in ("eth0", "net1", "net2")}, output

        status = node.network_status("e2e", "web")
        assert [(s["name"], s["interface"]) for s in status] == [
            ("cluster", "eth0"), ("e2e/ptp-net", "net1"), ("e2e/macvlan-net", "net2")]
        assert [s["ips"] for s in status] == [[ifaces[i].ipv4[0].split("/")[0]] for i in ("eth0", "net1", "net2")]
        assert [s.get("default", False) for s in status] == [True, False, False]
        # CNI_CONTAINERID is the sandbox id: the journal is named after it
        assert node.journals() == [f"{pod_id}.json"]
        assert len(node.leases()) == 3

        cluster.cri.stop_pod(pod_id)
        assert not os.path.exists(sandbox.netns), "containerd kept the netns"
        assert node.journals() == [] and node.leases() == []
        cluster.cri.remove_pod(pod_id)
    assert pod_id not in cluster.cri.pod_ids()
    assert_node_clean(cluster)


def test_two_pods_json_annotation_named_interface_and_traffic(cluster: Cluster) -> None:
    """JSON form with an interface name; two pods on one macvlan network reach each other."""
    node = cluster.node
    selection = '[{"name": "macvlan-net", "namespace": "e2e", "interface": "data0"}]'
    with pod(cluster, "client", {NETWORKS: selection}) as a, pod(cluster, "server", {NETWORKS: "macvlan-net"}) as b:
        pod_a, pod_b = cluster.cri.pod_status(a), cluster.cri.pod_status(b)
        ifaces_a, ifaces_b = ifaces_in(pod_a.netns), ifaces_in(pod_b.netns)
        assert set(ifaces_a) == {"lo", "eth0", "data0"} and set(ifaces_b) == {"lo", "eth0", "net1"}
        assert pod_a.ip != pod_b.ip
        server = ifaces_b["net1"].ipv4[0].split("/")[0]
        ping = ping_from(pod_a.netns, "data0", server)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert [s["interface"] for s in node.network_status("e2e", "client")] == ["eth0", "data0"]
    assert_node_clean(cluster)


def test_legacy_networks_annotation_eth0_and_net0(cluster: Cluster) -> None:
    """The seed's flow: `networks` annotation + Network objects; the first is the master on
    eth0 and gives the pod IP, the next is net0."""
    node = cluster.node
    annotation = '[{"name": "legacy-bridge"}, {"name": "legacy-ptp"}]'
    with pod(cluster, "seed", {LEGACY: annotation}) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        ifaces = ifaces_in(sandbox.netns)
        assert set(ifaces) == {"lo", "eth0", "net0"}
        assert ifaces["eth0"].ipv4[0].startswith(node.prefix(4))
        assert ifaces["net0"].ipv4[0].startswith(node.prefix(5))
        assert sandbox.ip == ifaces["eth0"].ipv4[0].split("/")[0]
        assert [s["interface"] for s in node.network_status("e2e", "seed")] == ["eth0", "net0"]
    assert_node_clean(cluster)


def test_unknown_network_fails_the_sandbox_and_leaves_nothing(cluster: Cluster) -> None:
    """kubelet sees multus-dp's error (naming pod and network); the cluster network that was
    already attached is rolled back and containerd removes the sandbox."""
    with pytest.raises(grpc.RpcError) as failure:
        with pod(cluster, "broken", {NETWORKS: "ptp-net,no-such-net"}):
            pass
    message = failure.value.details() or ""
    assert "no-such-net" in message and "e2e/broken" in message, message
    assert_node_clean(cluster)
    assert "broken" not in [cluster.cri.pod_name(p) for p in cluster.cri.pod_ids()]


def test_daemon_down_fails_the_sandbox_then_a_retry_works(cluster: Cluster) -> None:
    """With the daemon stopped the shim answers "try again later" naming the socket, for DEL
    too (never a fake success): containerd keeps the failed sandbox NOTREADY so its network
    can still be torn down. Once the daemon is back, kubelet's cleanup (Stop, Remove) and its
    retry of the same pod work."""
    node = cluster.node
    assert node.daemon.terminate() == 0
    try:
        with pytest.raises(grpc.RpcError) as failure:
            with pod(cluster, "early", {NETWORKS: "ptp-net"}):
                pass
    finally:
        node.daemon.start()
    message = failure.value.details() or ""
    assert "not reachable" in message and node.daemon.socket in message, message
    kept = [p for p in cluster.cri.pod_ids() if cluster.cri.pod_name(p) == "early"]
    assert len(kept) == 1 and not cluster.cri.pod_status(kept[0]).ready
    cluster.cri.stop_pod(kept[0])
    cluster.cri.remove_pod(kept[0])
    assert_node_clean(cluster)
    with pod(cluster, "early", {NETWORKS: "ptp-net"}) as pod_id:
        assert set(ifaces_in(cluster.cri.pod_status(pod_id).netns)) == {"lo", "eth0", "net1"}
    assert_node_clean(cluster)


def test_default_network_annotation_changes_eth0_and_the_pod_ip(cluster: Cluster) -> None:
    """`v1.multus-cni.io/default-network` puts a NAD on eth0 instead of the cluster network;
    kubelet's pod IP follows it."""
    node = cluster.node
    annotations = {DEFAULT_NETWORK: "e2e/ptp-net", NETWORKS: "macvlan-net"}
    with pod(cluster, "override", annotations) as pod_id:
        sandbox = cluster.cri.pod_status(pod_id)
        ifaces = ifaces_in(sandbox.netns)
        assert set(ifaces) == {"lo", "eth0", "net1"}
        assert ifaces["eth0"].ipv4[0].startswith(node.prefix(2)) and ifaces["net1"].ipv4[0].startswith(node.prefix(3))
        assert sandbox.ip == ifaces["eth0"].ipv4[0].split("/")[0]
        assert [(s["name"], s.get("default", False)) for s in node.network_status("e2e", "override")] == [
            ("e2e/ptp-net", True), ("e2e/macvlan-net", False)]
    assert_node_clean(cluster)


def test_daemon_restart_with_pods_running_then_teardown(cluster: Cluster) -> None:
    """A DaemonSet upgrade: the daemon restarts while pods run; the new one tears them down
    from the journals the old one wrote."""
    node = cluster.node
    with pod(cluster, "longlived", {NETWORKS: "ptp-net,macvlan-net"}) as pod_id:
        before = ifaces_in(cluster.cri.pod_status(pod_id).netns)
        assert set(before) == {"lo", "eth0", "net1", "net2"}
        old_pid = node.daemon.proc.pid if node.daemon.proc else 0
        assert node.daemon.terminate() == 0
        node.daemon.start()
        assert node.daemon.proc is not None and node.daemon.proc.pid != old_pid
        assert node.journals() == [f"{pod_id}.json"] and len(node.leases()) == 3
        cluster.cri.stop_pod(pod_id)
        cluster.cri.remove_pod(pod_id)
    assert_node_clean(cluster)


def test_parallel_pods_like_kubelet(cluster: Cluster) -> None:
    """kubelet starts pods in parallel: every pod gets its own addresses on every network,
    and parallel teardown leaves nothing."""
    count = int(os.environ.get("MULTUS_DP_E2E_PARALLEL_PODS", "6"))
    names = [f"par{i}" for i in range(count)]
    ids: dict[str, str] = {}
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = {name: pool.submit(cluster.cri.run_pod, name, "e2e", str(uuid.uuid4()),
                                         {NETWORKS: "ptp-net,macvlan-net"}, cluster.node.root / "logs")
                       for name in names}
            for name, future in futures.items():
                ids[name] = future.result()
        seen = {name: ifaces_in(cluster.cri.pod_status(pod_id).netns) for name, pod_id in ids.items()}
        for ifname in ("eth0", "net1", "net2"):
            addresses = [seen[name][ifname].ipv4[0] for name in names]
            assert len(set(addresses)) == count, (ifname, addresses)
        assert sorted(cluster.node.journals()) == sorted(f"{pod_id}.json" for pod_id in ids.values())
    finally:
        with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
            list(pool.map(lambda pod_id: (cluster.cri.stop_pod(pod_id), cluster.cri.remove_pod(pod_id)),
                          ids.values()))
    assert_node_clean(cluster)


RELOAD_TIMEOUT = float(os.environ.get("MULTUS_DP_E2E_RELOAD_TIMEOUT", "30"))


def pod_until(cluster: Cluster, name: str, annotations: dict[str, str], links: set[str]) -> dict[str, Iface]:
    """containerd reloads its CNI config on a file event, asynchronously: start (and remove)
    the pod until it has `links`, within MULTUS_DP_E2E_RELOAD_TIMEOUT."""
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while True:
        with pod(cluster, name, annotations) as pod_id:
            ifaces = ifaces_in(cluster.cri.pod_status(pod_id).netns)
        if set(ifaces) == links:
            return ifaces
        if time.monotonic() > deadline:
            raise AssertionError(f"pod {name} still has {sorted(ifaces)} after {RELOAD_TIMEOUT}s, wanted {sorted(links)}")
        time.sleep(0.2)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {RELOAD_TIMEOUT}s")
        time.sleep(0.1)


def test_install_watch_gates_the_runtime_on_the_readiness_file(cluster: Cluster) -> None:
    """`multus-dp install --watch --readiness-indicator-file F` as in the DaemonSet: while F is
    missing our conflist is withdrawn and containerd uses the primary alone (pods get only
    eth0, multus-dp sees nothing); once F exists our conflist is back and pods get their NADs;
    removing F withdraws it again. (Last in the module: it restores the module's conflist.)"""
    node = cluster.node
    ours, indicator = node.conf_dir / OUR_CONFLIST, node.root / "multus-dp-ready"
    watch_log = node.root / "install-watch.log"
    with watch_log.open("ab") as log:
        watcher = subprocess.Popen([*node.install_argv(*node.install_args), "--watch", "--poll-interval", "0.1",
                                    "--readiness-indicator-file", str(indicator)], stdout=log, stderr=log)
    try:
        wait_for(lambda: not ours.exists(), "our conflist withdrawn while the indicator file is missing")
        gated = pod_until(cluster, "gated", {NETWORKS: "ptp-net"}, {"lo", "eth0"})
        assert gated["eth0"].ipv4[0].startswith(node.prefix(1))
        assert node.status_files() == [], "multus-dp handled a pod while not ready"

        indicator.touch()
        wait_for(ours.exists, "our conflist written once the indicator file exists")
        plugin = json.loads(ours.read_text())["plugins"][0]
        assert plugin["readinessindicatorfile"] == str(indicator) and plugin["type"] == "multus-dp"
        pod_until(cluster, "ready", {NETWORKS: "ptp-net"}, {"lo", "eth0", "net1"})

        indicator.unlink()
        wait_for(lambda: not ours.exists(), "our conflist withdrawn when the indicator file goes")
        assert watcher.poll() is None, watch_log.read_text()
    finally:
        watcher.terminate()
        watcher.wait(30)
        indicator.unlink(missing_ok=True)
        node.install(*node.install_args)
    pod_until(cluster, "restored", {NETWORKS: "ptp-net"}, {"lo", "eth0", "net1"})
    assert_node_clean(cluster)
