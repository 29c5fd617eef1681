"""The vFW example end to end on a simulated NIC: the NADs of deploy/examples and the vFW pod's
annotation, unchanged, go through a real DPDK-mode ADD of the built-in SR-IOV delegate (VFs
bound to vfio-pci in a fake sysfs, the kubelet checkpoint naming the pod's VFs); the
network-status and device-info files it produces are handed to multus-dp-eal exactly as the
pod sees them (the downward-API file kubelet writes), and the EAL arguments name the right VFs.
The kernel-mode example NAD and pod go through the same delegate."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from multus_dp.chain.entry import handle
from multus_dp.hardware.assignments import CheckpointAssignments
from multus_dp.networks.conf import MultusConf
from tests.support.netns import ip
from tests.support.prereq import require_cni_plugins
from tests.support.simnic import ANN, PF_BDF, SimNic
from tests.unit.deploy.eal import STATUS_KEY, downward_file, run_helper

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "deploy" / "examples"
DPDK_POOL, KERNEL_POOL = "intel.com/intel_sriov_dpdk", "intel.com/intel_sriov_netdevice"


class Cluster:
    """One node: the simulated NIC (VF 0 on its kernel driver, VFs 1-2 on vfio-pci), the example
    NADs in the networks dir, and a kubelet checkpoint saying which VFs each pod got."""

    def __init__(self, netlab, tmp: Path, cni_dir: str) -> None:
        self.nic = SimNic(netlab, tmp, cni_dir, kernel_vfs=1, dpdk_vfs=2)
        self.lab = netlab
        for name in ("sriov-dpdk-nad.yaml", "sriov-kernel-nad.yaml"):
            shutil.copy(EXAMPLES / name, self.nic.networks / name)
        self.checkpoint = tmp / "kubelet_internal_checkpoint"
        self.entries: list[dict] = []

    def assign(self, pod_uid: str, resource: str, device_ids: list[str]) -> None:
        # the kubelet's format since 1.20: DeviceIDs keyed by NUMA node
        self.entries.append({"PodUID": pod_uid, "ContainerName": "vfw", "ResourceName": resource,
                             "DeviceIDs": {"0": device_ids}, "AllocResp": ""})
        self.checkpoint.write_text(json.dumps({"Data": {"PodDeviceEntries": self.entries, "RegisteredDevices": {}},
                                               "Checksum": 0}))

    def call(self, command: str, pod: dict, uid: str, netns: str) -> dict | None:
        annotations = pod["metadata"]["annotations"]
        conf = self.nic.conf(annotations[ANN])

        def factory(multus_conf: MultusConf):
            return self.nic.context(multus_conf, CheckpointAssignments(str(self.checkpoint))).runner(multus_conf)

        name = pod["metadata"]["name"]
        # runtimes use 64 hex digits; device-info file names carry it
        container_id = hashlib.sha256(f"{self.lab.prefix}{name}".encode()).hexdigest()
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_IFNAME": "eth0",
               "CNI_NETNS": self.lab.path(netns), "CNI_PATH": self.nic.cni_dir,
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={name};K8S_POD_UID={uid}"}
        reply = handle(env, json.dumps(conf).encode(), factory)
        assert reply.exit_code == 0, f"{command} {name}: {reply.stdout}"
        return json.loads(reply.stdout) if reply.stdout else None


@pytest.fixture
def cluster(netlab, tmp_path) -> Cluster:
    return Cluster(netlab, tmp_path, require_cni_plugins("bridge", "host-local"))


def example_pod(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def test_vfw_gets_eal_args_for_its_dpdk_vfs_from_a_dpdk_mode_add(cluster, netlab, tmp_path) -> None:
    nic = cluster.nic
    vf1, vf2 = nic.vf_bdf(1), nic.vf_bdf(2)
    before = {i: nic.pfnl.vf(nic.pf, i) for i in (1, 2)}
    pod = example_pod("vfw-pod.yaml")
    cluster.assign("uid-vfw", DPDK_POOL, [vf2, vf1])   # kubelet order; Multus sorts: outside gets vf1
    ns = netlab.add_netns()

    cluster.call("ADD", pod, "uid-vfw", ns)

    assert set(netlab.links_in(ns)) == {"lo", "eth0"}, "DPDK mode puts no netdev into the pod"
    for index, vlan in ((1, 100), (2, 101)):   # vfw-outside, vfw-inside
        vf = nic.pfnl.vf(nic.pf, index)
        assert (vf.vlan, vf.spoofchk, vf.trust) == (vlan, False, True)
    status = nic.status("vfw")
    assert [(s["name"], s["interface"]) for s in status] == [
        ("cluster", "eth0"), ("default/vfw-outside", "outside"), ("default/vfw-inside", "inside")]

    # the pod's view: kubelet's downward-API file with the published network-status
    podinfo = downward_file(tmp_path / "annotations", {
        **pod["metadata"]["annotations"], STATUS_KEY: json.dumps(status, indent=4),
        "kubernetes.io/config.seen": "2025-11-29T21:40:00Z"})
    init = pod["spec"]["initContainers"][0]["command"]
    out = tmp_path / "eal.env"
    args = [a if a != "/etc/podinfo/annotations" else str(podinfo) for a in init[1:]]
    args[args.index("--output") + 1] = str(out)
    proc = run_helper(*args)   # the init container's own command line, paths moved to the test dir
    assert proc.returncode == 0, proc.stderr
    assert f"default/vfw-outside  outside    {vf1}  {PF_BDF}" in proc.stderr
    shell = subprocess.run(["sh", "-c", f'. "{out}"; echo "$MULTUS_DP_EAL_ARGS|$MULTUS_DP_PORT_OUTSIDE|'
                                        f'$MULTUS_DP_PORT_INSIDE"'], capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == f"-a {vf1} -a {vf2}|0|1"

    # the same VFs from the device-info files the ADD wrote (the spec's per-attachment files)
    devinfo = nic.tmp / "devinfo" / "cni"
    from_files = json.loads(run_helper("--device-info", str(devinfo), "--json").stdout)
    assert sorted((p["network"], p["interface"], p["pci"], p["pf_pci"]) for p in from_files["ports"]) == [
        ("default-vfw-inside", "inside", vf2, PF_BDF), ("default-vfw-outside", "outside", vf1, PF_BDF)]

    cluster.call("DEL", pod, "uid-vfw", ns)
    cluster.call("DEL", pod, "uid-vfw", ns)
    assert {i: nic.pfnl.vf(nic.pf, i) for i in (1, 2)} == before
    assert not list(devinfo.glob("*")) and nic.allocations() == []
    assert [nic.fs.driver_of(vf) for vf in (vf1, vf2)] == ["vfio-pci", "vfio-pci"], "node-prep's binding stays"


def test_kernel_mode_example_nad_and_pod(cluster, netlab) -> None:
    nic = cluster.nic
    vf0 = nic.vf_bdf(0)
    before = nic.pfnl.vf(nic.pf, 0)
    pod = example_pod("sriov-kernel-pod.yaml")
    cluster.assign("uid-kernel", KERNEL_POOL, [vf0])
    ns = netlab.add_netns()
    leases = Path("/var/lib/cni/networks/sriov-kernel")  # the example keeps host-local's default dataDir
    leases_before = sorted(p.name for p in leases.glob("10.56.217.*")) if leases.exists() else []

    cluster.call("ADD", pod, "uid-kernel", ns)

    assert set(netlab.links_in(ns)) == {"lo", "eth0", "data0"}
    address = netlab.addrs_in(ns, "data0")[0].split("/")[0]
    assert address.startswith("10.56.217.") and 171 <= int(address.rsplit(".", 1)[1]) <= 181
    vf = nic.pfnl.vf(nic.pf, 0)
    assert (vf.vlan, vf.spoofchk, vf.trust) == (200, True, False)
    assert nic.host_link(nic.vf_netdevs[0]) is None, "the VF netdev is still on the host"

    cluster.call("DEL", pod, "uid-kernel", ns)
    assert set(netlab.links_in(ns)) == {"lo"}
    assert nic.pfnl.vf(nic.pf, 0) == before
    assert nic.host_link(nic.vf_netdevs[0]) is not None
    assert (sorted(p.name for p in leases.glob("10.56.217.*")) if leases.exists() else []) == leases_before
    assert "data0" not in ip("-n", ns, "-o", "link")
