"""multus-dp as the kubelet's device plugin, driven by a kubelet stand-in over real gRPC.

The node: a fake sysfs with two PFs (ens1f0 on NUMA 0, ens2f0 on NUMA 1), four VFs each;
VFs 2 and 3 of ens2f0 are on vfio-pci. Pools: `intel.com/sriov_net` (iavf VFs) and
`example.org/sriov_dpdk` (vfio-pci VFs). No udev events reach the manager: what it notices,
it notices by its own checks (as in a container without udev).
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from multus_dp.hardware.allocator import Owner, VfAllocator
from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.kubelet.manager import DevicePluginManager, ManagerSettings
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs
from tests.support.kubelet_standin import KubeletStandin, healthy, short_dir, unhealthy

pytestmark = pytest.mark.unit

PF_A, PF_B = "0000:3b:00.0", "0000:af:00.0"
NET, DPDK = "intel.com/sriov_net", "example.org/sriov_dpdk"
POOLS = {"resourceList": [
    {"resourceName": "sriov_net", "selectors": {"drivers": ["iavf"]}},
    {"resourceName": "sriov_dpdk", "resourcePrefix": "example.org", "selectors": {"drivers": ["vfio-pci"]}},
]}


@dataclass
class Node:
    fs: FakeSysfs
    core: FakeDriverCore
    binder: VfioBinder
    standin: KubeletStandin
    manager: DevicePluginManager
    pools_file: Path
    state: Path

    def vf(self, pf: str, index: int) -> str:
        return self.fs.vf_bdf(pf, index)

    def write_pools(self, pools: dict) -> None:
        tmp = self.pools_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pools))
        os.replace(tmp, self.pools_file)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    fs = FakeSysfs(tmp_path / "fs")
    core = FakeDriverCore(fs)
    fs.add_pf(PF_A, netdev="ens1f0", total_vfs=4, num_vfs=4, numa_node=0)
    fs.add_pf(PF_B, netdev="ens2f0", total_vfs=4, num_vfs=4, numa_node=1)
    fs.set_up("ens1f0")
    fs.set_up("ens2f0")
    binder = VfioBinder(fs.root, core, net=FakeNetState(), dev_root=str(fs.dev_root))
    for i in (2, 3):
        binder.bind(fs.vf_bdf(PF_B, i))
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(json.dumps(POOLS))
    standin = KubeletStandin(short_dir()).start()
    state = tmp_path / "state"
    manager = DevicePluginManager(ManagerSettings(
        plugins_dir=str(standin.plugins_dir), pools_path=str(pools_file), state_dir=str(state),
        resync_interval=0.1, dev_root=str(fs.dev_root)), Inventory(str(fs.root)))
    manager.start()
    yield Node(fs, core, binder, standin, manager, pools_file, state)
    manager.stop()
    standin.stop()
    core.release()
    shutil.rmtree(standin.plugins_dir.parent, ignore_errors=True)


def test_every_pool_registers_under_its_resource_name_and_socket(node: Node) -> None:
    net = node.standin.wait_registered(NET)
    dpdk = node.standin.wait_registered(DPDK)
    assert (net.version, net.endpoint) == ("v1beta1", "multus-dp-sriov_net.sock")
    assert (dpdk.version, dpdk.endpoint) == ("v1beta1", "multus-dp-sriov_dpdk.sock")
    assert net.options.get_preferred_allocation_available and not net.options.pre_start_required
    assert (node.standin.plugins_dir / net.endpoint).is_socket()
    assert node.standin.plugin(NET).options().get_preferred_allocation_available


def test_device_lists_carry_pci_addresses_and_numa_nodes(node: Node) -> None:
    node.standin.wait_registered(DPDK)
    net = node.standin.plugin(NET).watch().wait_for(lambda d: len(d) == 6)
    assert healthy(net) == {node.vf(PF_A, i) for i in range(4)} | {node.vf(PF_B, i) for i in (0, 1)}
    assert [n.ID for n in net[node.vf(PF_A, 0)].topology.nodes] == [0]
    assert [n.ID for n in net[node.vf(PF_B, 1)].topology.nodes] == [1]
    dpdk = node.standin.plugin(DPDK).watch().wait_for(lambda d: len(d) == 2)
    assert healthy(dpdk) == {node.vf(PF_B, 2), node.vf(PF_B, 3)}


def test_hot_unplugged_vf_turns_unhealthy_and_back(node: Node) -> None:
    node.standin.wait_registered(NET)
    watch = node.standin.plugin(NET).watch()
    watch.wait_for(lambda d: len(healthy(d)) == 6)
    gone = node.vf(PF_B, 1)
    node.fs.remove_device(gone)
    after = watch.wait_for(lambda d: gone in unhealthy(d), timeout=2.0)
    assert unhealthy(after) == {gone} and len(after) == 6, "a vanished VF stays listed, as Unhealthy"
    # numvfs lowered: every VF of the PF goes, and comes back Healthy when they are created again
    node.fs.remove_vfs(PF_A)
    lowered = watch.wait_for(lambda d: {node.vf(PF_A, i) for i in range(4)} <= unhealthy(d), timeout=2.0)
    assert healthy(lowered) == {node.vf(PF_B, 0)}
    node.fs.create_vfs(PF_A, 4)
    back = watch.wait_for(lambda d: len(healthy(d)) == 5, timeout=2.0)
    assert unhealthy(back) == {gone}


def test_pf_link_down_turns_its_vfs_unhealthy_until_it_is_up(node: Node) -> None:
    node.standin.wait_registered(NET)
    watch = node.standin.plugin(NET).watch()
    watch.wait_for(lambda d: len(healthy(d)) == 6)
    node.fs.set_up("ens2f0", False)
    down = watch.wait_for(lambda d: node.vf(PF_B, 0) in unhealthy(d), timeout=2.0)
    assert unhealthy(down) == {node.vf(PF_B, 0), node.vf(PF_B, 1)}
    node.fs.set_up("ens2f0")
    watch.wait_for(lambda d: not unhealthy(d), timeout=2.0)


def test_vf_rebound_to_another_driver_no_longer_matches_its_pool(node: Node) -> None:
    node.standin.wait_registered(NET)
    watch = node.standin.plugin(NET).watch()
    watch.wait_for(lambda d: len(healthy(d)) == 6)
    moved = node.vf(PF_A, 3)
    result = node.binder.bind(moved)
    watch.wait_for(lambda d: moved in unhealthy(d), timeout=2.0)
    node.binder.restore(moved, "iavf", None)
    assert result.changed
    watch.wait_for(lambda d: not unhealthy(d), timeout=2.0)


def test_kubelet_restart_means_a_new_socket_and_a_new_registration(node: Node) -> None:
    node.standin.wait_registered(NET)
    node.standin.wait_registered(DPDK)
    before = len(node.standin.registrations)
    node.standin.restart()
    again = node.standin.wait_registered(NET, after=before)
    node.standin.wait_registered(DPDK, after=before)
    assert (node.standin.plugins_dir / again.endpoint).is_socket(), "the plugin serves on a fresh socket"
    node.standin.plugin(NET).watch().wait_for(lambda d: len(healthy(d)) == 6)


def test_pools_config_edit_adds_a_pool_and_drops_one_without_restart(node: Node) -> None:
    node.standin.wait_registered(DPDK)
    before = len(node.standin.registrations)
    node.write_pools({"resourceList": [
        {"resourceName": "sriov_net", "selectors": {"drivers": ["iavf"], "pfNames": ["ens1f0"]}},
        {"resourceName": "sriov_b", "selectors": {"pfNames": ["ens2f0#0-1"]}},
    ]})
    added = node.standin.wait_registered("intel.com/sriov_b", after=before)
    assert added.endpoint == "multus-dp-sriov_b.sock"
    assert set(node.standin.plugin("intel.com/sriov_b").watch().wait_for(lambda d: len(d) == 2)) == {
        node.vf(PF_B, 0), node.vf(PF_B, 1)}
    # the kept pool's selector now leaves ens2f0's VFs out: they leave its list
    net = node.standin.plugin(NET).watch().wait_for(lambda d: len(d) == 4, timeout=2.0)
    assert healthy(net) == set(net) == {node.vf(PF_A, i) for i in range(4)}
    for _ in range(50):
        if not (node.standin.plugins_dir / "multus-dp-sriov_dpdk.sock").exists():
            break
        node.manager.sync()
    assert not (node.standin.plugins_dir / "multus-dp-sriov_dpdk.sock").exists(), "the dropped pool's socket goes"


def test_allocate_kernel_pool_sets_the_pcidevice_env_only(node: Node) -> None:
    node.standin.wait_registered(NET)
    plugin = node.standin.plugin(NET)
    plugin.watch().wait_for(lambda d: len(d) == 6)
    a, b = node.vf(PF_A, 0), node.vf(PF_B, 1)
    resp = plugin.allocate([a, b], [node.vf(PF_A, 2)])
    first, second = resp.container_responses
    assert dict(first.envs) == {"PCIDEVICE_INTEL_COM_SRIOV_NET": f"{a},{b}"}
    assert list(first.devices) == [] and list(first.mounts) == []
    assert dict(second.envs) == {"PCIDEVICE_INTEL_COM_SRIOV_NET": node.vf(PF_A, 2)}


def test_allocate_vfio_pool_adds_the_vfio_device_nodes(node: Node) -> None:
    node.standin.wait_registered(DPDK)
    plugin = node.standin.plugin(DPDK)
    plugin.watch().wait_for(lambda d: len(d) == 2)
    vf = node.vf(PF_B, 2)
    group = node.fs.group_of(vf)
    resp = plugin.allocate([vf]).container_responses[0]
    assert dict(resp.envs) == {"PCIDEVICE_EXAMPLE_ORG_SRIOV_DPDK": vf}
    specs = [(d.container_path, d.host_path, d.permissions) for d in resp.devices]
    assert specs == [("/dev/vfio/vfio", f"{node.fs.dev_root}/vfio/vfio", "rw"),
                     (f"/dev/vfio/{group}", f"{node.fs.dev_root}/vfio/{group}", "rw")]
    assert os.path.exists(specs[1][1]), "the group node the answer names exists"


def test_allocate_of_an_unknown_or_unhealthy_id_is_an_error(node: Node) -> None:
    node.standin.wait_registered(NET)
    plugin = node.standin.plugin(NET)
    watch = plugin.watch()
    watch.wait_for(lambda d: len(d) == 6)
    with pytest.raises(grpc.RpcError) as unknown:
        plugin.allocate([node.vf(PF_A, 0), "0000:99:00.0"])
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    gone = node.vf(PF_A, 1)
    node.fs.remove_device(gone)
    watch.wait_for(lambda d: gone in unhealthy(d), timeout=2.0)
    with pytest.raises(grpc.RpcError) as sick:
        plugin.allocate([gone])
    assert sick.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "unhealthy" in sick.value.details()


def test_preferred_allocation_must_include_then_one_numa_node(node: Node) -> None:
    node.standin.wait_registered(NET)
    plugin = node.standin.plugin(NET)
    plugin.watch().wait_for(lambda d: len(d) == 6)
    a = [node.vf(PF_A, i) for i in range(4)]
    b = [node.vf(PF_B, i) for i in range(2)]
    assert plugin.preferred(a + b, [b[1]], 2) == [b[1], b[0]], "must_include first, then its NUMA node"
    assert plugin.preferred(b + a, [], 3) == a[:3], "the NUMA node with the most free VFs"
    assert plugin.preferred([a[0], b[0], b[1]], [], 3) == [b[0], b[1], a[0]], "other nodes only when it runs out"


def test_preferred_allocation_spreads_across_pfs_when_the_pool_asks(node: Node) -> None:
    pf_c = "0000:5e:00.0"
    node.fs.add_pf(pf_c, netdev="ens3f0", total_vfs=4, num_vfs=4, numa_node=0)
    node.fs.set_up("ens3f0")
    node.manager.inventory.rescan()   # what the udev watcher does when a PF's VFs appear
    node.write_pools({"resourceList": [
        {"resourceName": "spread", "allocatePolicy": "spread", "selectors": {"pfNames": ["ens1f0", "ens3f0#0-1"]}},
        {"resourceName": "packed", "allocatePolicy": "packed", "selectors": {"pfNames": ["ens3f0#2-3", "ens2f0"]}}]})
    spread = node.standin.wait_registered("intel.com/spread")
    packed = node.standin.wait_registered("intel.com/packed")
    a = [node.vf(PF_A, i) for i in range(4)]
    b = [node.vf(PF_B, i) for i in range(4)]
    c = [node.vf(pf_c, i) for i in range(4)]
    plugin = node.standin.plugin(spread.resource_name)
    plugin.watch().wait_for(lambda d: len(d) == 6)
    assert plugin.preferred(a + c[:2], [], 4) == [a[0], c[0], a[1], c[1]], "round-robin over the PFs"
    assert plugin.preferred(a + c[:2], [c[1]], 3) == [c[1], a[0], a[1]], "must_include counts for its PF"
    plugin = node.standin.plugin(packed.resource_name)
    plugin.watch().wait_for(lambda d: len(d) == 6)
    assert plugin.preferred(c[2:] + b, [b[3]], 3) == [b[3], b[0], b[1]], \
        "packed: the must_include's NUMA node (1, not 0) and its PF first"


def test_vf_taken_by_multus_dp_own_allocator_is_unhealthy_while_in_use(node: Node) -> None:
    node.standin.wait_registered(NET)
    watch = node.standin.plugin(NET).watch()
    watch.wait_for(lambda d: len(healthy(d)) == 6)
    taken = node.vf(PF_A, 0)
    allocator = VfAllocator(str(node.state))
    # a live netns (ours), as the allocator's liveness check wants
    allocator.allocate(Owner("c1", netns=f"/proc/{os.getpid()}/ns/net", ifname="net1", pod="default/p"),
                       bdf=taken, pool=NET, source="pool")
    watch.wait_for(lambda d: taken in unhealthy(d), timeout=2.0)
    with pytest.raises(grpc.RpcError) as refused:
        node.standin.plugin(NET).allocate([taken])
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    allocator.release(taken, "c1")
    watch.wait_for(lambda d: not unhealthy(d), timeout=2.0)


def test_stop_removes_every_socket(node: Node) -> None:
    node.standin.wait_registered(NET)
    node.standin.wait_registered(DPDK)
    sockets = {p.name for p in node.standin.plugins_dir.iterdir()}
    assert {"multus-dp-sriov_net.sock", "multus-dp-sriov_dpdk.sock", "kubelet.sock"} <= sockets
    node.manager.stop()
    assert {p.name for p in node.standin.plugins_dir.iterdir()} == {"kubelet.sock"}


def test_a_kubelet_that_comes_up_later_gets_every_pool_registered(tmp_path: Path) -> None:
    """Daemon first, kubelet (and its device-plugins directory) later: the manager keeps
    trying, says why in its status, and registers once the kubelet is there."""
    fs = FakeSysfs(tmp_path / "fs")
    fs.add_pf(PF_A, netdev="ens1f0", total_vfs=2, num_vfs=2)
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(json.dumps(POOLS))
    base = short_dir()
    manager = DevicePluginManager(ManagerSettings(
        plugins_dir=str(base / "device-plugins"), pools_path=str(pools_file), state_dir=str(tmp_path / "state"),
        resync_interval=0.1), Inventory(str(fs.root)))
    manager.start()
    standin = None
    try:
        [net, _] = manager.status()["pools"]
        assert not net["registered"] and "cannot serve" in net["registerError"]
        standin = KubeletStandin(base).start()
        standin.wait_registered(NET)
        standin.wait_registered(DPDK)
        assert standin.plugin(NET).watch().wait_for(lambda d: len(d) == 2)
    finally:
        manager.stop()
        if standin is not None:
            standin.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_directory_watch_reacts_to_a_kubelet_restart_and_a_pools_edit_between_passes(tmp_path: Path) -> None:
    """With the periodic pass an hour away, only the inotify watch of the kubelet's directory
    and of the pools file's directory can notice these."""
    fs = FakeSysfs(tmp_path / "fs")
    fs.add_pf(PF_A, netdev="ens1f0", total_vfs=2, num_vfs=2)
    pools_dir = tmp_path / "pools"
    pools_dir.mkdir()
    (pools_dir / "config.json").write_text(json.dumps(POOLS))
    standin = KubeletStandin(short_dir()).start()
    manager = DevicePluginManager(ManagerSettings(
        plugins_dir=str(standin.plugins_dir), pools_path=str(pools_dir / "config.json"),
        state_dir=str(tmp_path / "state"), resync_interval=3600), Inventory(str(fs.root)))
    manager.start()
    try:
        standin.wait_registered(NET)
        before = len(standin.registrations)
        standin.restart()
        standin.wait_registered(NET, after=before, timeout=10)
        standin.wait_registered(DPDK, after=before, timeout=10)
        before = len(standin.registrations)
        # a ConfigMap update: the file replaced by a rename in its directory
        tmp = pools_dir / ".config.json.new"
        tmp.write_text(json.dumps({"resourceList": [{"resourceName": "renamed"}]}))
        os.replace(tmp, pools_dir / "config.json")
        standin.wait_registered("intel.com/renamed", after=before, timeout=10)
    finally:
        manager.stop()
        standin.stop()
        shutil.rmtree(standin.plugins_dir.parent, ignore_errors=True)


def test_two_pools_sharing_a_resource_name_advertise_the_first_and_say_why(node: Node) -> None:
    node.standin.wait_registered(NET)
    before = len(node.standin.registrations)
    node.write_pools({"resourceList": [
        {"resourceName": "sriov_net", "selectors": {"pfNames": ["ens1f0"]}},
        {"resourceName": "sriov_net", "resourcePrefix": "example.org", "selectors": {"pfNames": ["ens2f0"]}}]})
    node.standin.plugin(NET).watch().wait_for(lambda d: len(d) == 4, timeout=2.0)
    node.manager.sync()
    status = node.manager.status()
    assert [p["resource"] for p in status["pools"]] == [NET]
    assert "share the resourceName 'sriov_net'" in status["configError"]
    assert all(r.resource_name != "example.org/sriov_net" for r in node.standin.registrations[before:])


def test_nothing_is_advertised_healthy_while_node_prep_failed(tmp_path: Path) -> None:
    """SR-IOV trouble (node-prep failed or still running) keeps the pools' devices Unhealthy,
    so the scheduler places no VF pod here; fixed, they come back without a restart."""
    from multus_dp.hardware.nodeprep_state import FAILED, OK, NodePrepState, NodePrepWatch, write

    fs = FakeSysfs(tmp_path / "fs")
    fs.add_pf(PF_A, netdev="ens1f0", total_vfs=4, num_vfs=4, numa_node=0)
    fs.set_up("ens1f0")
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(json.dumps(POOLS))
    state = tmp_path / "state"
    write(str(state), NodePrepState(FAILED, "node.yaml", "ens9f0: no PF named ens9f0 on this node"))
    standin = KubeletStandin(short_dir()).start()
    manager = DevicePluginManager(ManagerSettings(
        plugins_dir=str(standin.plugins_dir), pools_path=str(pools_file), state_dir=str(state),
        resync_interval=0.1, dev_root=str(fs.dev_root)), Inventory(str(fs.root)),
        not_ready=NodePrepWatch(str(state)).sriov_problem)
    manager.start()
    try:
        standin.wait_registered(NET)
        watch = standin.plugin(NET).watch()
        watch.wait_for(lambda d: len(d) == 4 and not healthy(d))   # the kubelet sees 4 VFs, none to give
        write(str(state), NodePrepState(OK, "node.yaml"))
        watch.wait_for(lambda d: len(healthy(d)) == 4, timeout=5.0)
    finally:
        manager.stop()
        standin.stop()
        shutil.rmtree(standin.plugins_dir.parent, ignore_errors=True)
