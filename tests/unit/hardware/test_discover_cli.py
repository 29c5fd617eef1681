"""`multus-dp discover` as a user runs it: tables for people, JSON for scripts."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from multus_dp.cli import main
from multus_dp.hardware.allocator import Owner, VfAllocator
from multus_dp.hardware.vfio import VfioBinder
from tests.support.fakesysfs import FakeNetState, FakeSysfs

P0, P1 = "0000:3b:00.0", "0000:af:00.0"


@pytest.fixture
def node(tmp_path, fs: FakeSysfs, core):
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8, num_vfs=4, numa_node=0)
    fs.add_pf(P1, netdev="ens2f0", total_vfs=4, num_vfs=2, numa_node=1, vf_groups="pf", driver="ixgbe",
              vf_driver="ixgbevf", device="10fb", vf_device="10ed")
    VfioBinder(str(fs.root), core, 2, net=FakeNetState(), dev_root=str(fs.dev_root)).bind(fs.vf_bdf(P0, 3))
    pools = tmp_path / "config.json"
    pools.write_text(json.dumps({"resourceList": [
        {"resourceName": "dpdk", "selectors": {"drivers": ["vfio-pci"]}},
        {"resourceName": "netdev", "selectors": {"pfNames": ["ens1f0"]}},
        {"resourceName": "rdma", "selectors": {"isRdma": True}}]}))
    state = tmp_path / "state"
    VfAllocator(str(state)).allocate(Owner("f00dfeedc0ffee", "/proc/self/ns/net", "net1", "default/vfw-0"),
                                     bdf=fs.vf_bdf(P0, 1))
    return ["--sysfs-root", str(fs.root), "--pools", str(pools), "--state-dir", str(state)]


def test_json_for_scripts_through_the_real_command(node, fs) -> None:
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "discover", "--json", *node],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(p["bdf"], p["netdevs"], p["numVfs"], p["totalVfs"]) for p in report["pfs"]] == \
        [(P0, ["ens1f0"], 4, 8), (P1, ["ens2f0"], 2, 4)]
    vfs = {v["bdf"]: v for v in report["vfs"]}
    vf3 = vfs[fs.vf_bdf(P0, 3)]
    assert (vf3["index"], vf3["pfBdf"], vf3["driver"], vf3["state"], vf3["pool"]) == (3, P0, "vfio-pci", "vfio-pci", "intel.com/dpdk")
    assert vfs[fs.vf_bdf(P0, 1)]["allocatedTo"] == "pod default/vfw-0, container f00dfeedc0ff, interface net1, netns /proc/self/ns/net"
    assert vfs[fs.vf_bdf(P1, 0)]["pool"] is None and vfs[fs.vf_bdf(P1, 0)]["driver"] == "ixgbevf"
    assert report["pools"]["intel.com/netdev"] == {"vfs": [fs.vf_bdf(P0, i) for i in (0, 1, 2)],
                                                   "free": [fs.vf_bdf(P0, i) for i in (0, 2)]}
    assert report["pools"]["intel.com/rdma"] == {"vfs": [], "free": []}
    assert report["poolWarnings"] == ["pool intel.com/rdma: selectors isRdma are not supported by multus-dp; "
                                      "that selector matches no VF"]
    shared = report["iommuGroups"][fs.group_of(P1)]
    assert shared == [P1, fs.vf_bdf(P1, 0), fs.vf_bdf(P1, 1)]
    assert report["numaNodes"] == {"0": sorted([P0] + [fs.vf_bdf(P0, i) for i in range(4)]),
                                   "1": sorted([P1, fs.vf_bdf(P1, 0), fs.vf_bdf(P1, 1)])}
    assert [a["bdf"] for a in report["allocations"]] == [fs.vf_bdf(P0, 1)]
    assert report["iommu"] == {"present": True, "noiommuMode": False}


def test_tables_for_people(node, fs, capsys) -> None:
    assert main(["discover", *node]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"sysfs root {fs.root}; IOMMU present"
    pf_row = next(line for line in lines if line.startswith("ens1f0 "))
    assert pf_row.split() == ["ens1f0", P0, "i40e", "8086:1572", "0", "4/8", "on", "ether", fs.group_of(P0)]
    vf_row = next(line for line in lines if line.startswith("ens1f0#3 "))
    assert vf_row.split()[:6] == ["ens1f0#3", fs.vf_bdf(P0, 3), "-", "vfio-pci", "vfio-pci", "intel.com/dpdk"]
    alloc_row = next(line for line in lines if line.startswith("ens1f0#1 "))
    assert alloc_row.endswith("pod default/vfw-0, container f00dfeedc0ff, interface net1, netns /proc/self/ns/net")
    assert any(line.split() == ["intel.com/netdev", "3", "2"] for line in lines)
    assert f"shared: {fs.group_of(P1)}: {P1} {fs.vf_bdf(P1, 0)} {fs.vf_bdf(P1, 1)}" in out
    assert "NUMA NODES: 0: 5 functions; 1: 3 functions" in out


def test_bad_pool_file_is_a_clear_error(tmp_path, fs, capsys) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"resourceList": [{"resourceName": "a", "selectors": {"pfNames": ["x#9-1"]}}]}')
    assert main(["discover", "--sysfs-root", str(fs.root), "--pools", str(bad)]) == 1
    assert f"discover: pool config {bad}: resourceList[0].selectors[0].pfNames" in capsys.readouterr().err


def test_empty_node(fs, tmp_path, capsys) -> None:
    assert main(["discover", "--sysfs-root", str(fs.root), "--state-dir", str(tmp_path / "none"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["pfs"], report["vfs"], report["allocations"]) == ([], [], [])
    assert not (tmp_path / "none").exists()


def test_a_node_without_sr_iov_is_said_in_one_line(tmp_path, fs: FakeSysfs) -> None:
    fs.add_device("0000:00:03.0", driver="virtio-pci", netdevs=["eth0"])
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "discover", "--sysfs-root", str(fs.root),
                           "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"no SR-IOV on this node: 1 network PCI function, none SR-IOV capable, under {fs.root}"]


def test_a_sysfs_root_that_does_not_exist_is_an_error(tmp_path) -> None:
    missing = tmp_path / "no-such-sys"
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "discover", "--sysfs-root", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == "" and f"sysfs root {missing} is not a directory" in proc.stderr


def test_output_into_a_reader_that_went_away_ends_quietly(node) -> None:
    """`multus-dp discover | head -1`: the reader is gone before we write. Deterministic: the
    read end of the pipe is closed before the command starts."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "discover", "--json", *node],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141   # as a Unix tool killed by SIGPIPE
