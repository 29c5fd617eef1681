"""`multus-dp node-prep` as a user runs it, on the fake tree with the fake driver core."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multus_dp.cli import build_parser
from multus_dp.hardware import cli_nodeprep
from multus_dp.hardware.allocator import Owner, VfAllocator
from multus_dp.hardware.vfconfig import stable_mac
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs, FakeVfNetlink

P0, P1 = "0000:3b:00.0", "0000:3b:00.1"
CONFIG = """
stateDir: {state}
devRoot: {dev}
timeouts: {{write: 2, numVfs: 2, vfCreate: 2}}
pools:
  resourceList:
  - resourceName: dpdk
    selectors: {{pfNames: ["ens1f1#2-3"], drivers: [vfio-pci]}}
  - resourceName: netdev
    selectors: {{pfNames: [ens1f0, ens1f1]}}
hugepages:
- {{size: 2Mi, minFree: 256}}
pfs:
- name: ens1f0
  numVfs: 8
  vfDefaults: {{trust: true, spoofchk: false, mac: auto}}
  vfs:
  - {{index: "0", mac: "02:aa:bb:cc:dd:00", trust: false}}
  dpdk: {{indexes: "6-7"}}
- pciAddress: "0000:3b:00.1"
  numVfs: 4
  dpdk: {{pools: [intel.com/dpdk]}}
"""


@pytest.fixture
def node(tmp_path: Path, fs: FakeSysfs):
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8)
    fs.add_pf(P1, netdev="ens1f1", total_vfs=8)
    fs.set_hugepages(size_kb=2048, total=1024, free=1024)
    config = tmp_path / "node.yaml"
    config.write_text(CONFIG.format(state=tmp_path / "state", dev=fs.dev_root))
    return config


def node_prep(capsys, config: Path, fs: FakeSysfs, core, vfnl, *extra: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["node-prep", "--config", str(config), "--sysfs-root", str(fs.root), *extra])
    code = cli_nodeprep.run(args, cli_nodeprep.Seams(writer=core, vf_config=vfnl, net=FakeNetState()))
    out, err = capsys.readouterr()
    return code, out, err


def vfs(fs: FakeSysfs, pf: str) -> list[str | None]:
    return [fs.driver_of(fs.vf_bdf(pf, i)) for i in range(fs.numvfs(pf))]


def test_prepares_the_node_then_a_second_run_changes_nothing(capsys, node, fs, core) -> None:
    vfnl = FakeVfNetlink(fs)
    code, out, err = node_prep(capsys, node, fs, core, vfnl)

    assert code == 0, out + err
    assert vfs(fs, P0) == ["iavf"] * 6 + ["vfio-pci"] * 2
    assert vfs(fs, P1) == ["iavf", "iavf", "vfio-pci", "vfio-pci"]
    assert vfnl.state[("ens1f0", 0)].mac == "02:aa:bb:cc:dd:00" and vfnl.state[("ens1f0", 0)].trust is False
    for i in range(1, 8):
        s = vfnl.state[("ens1f0", i)]
        assert (s.trust, s.spoofchk, s.mac) == (True, False, stable_mac(P0, i))
    assert "hugepages: 1024 free 2Mi pages (need 256): ok" in err
    assert "[ens1f0] set sriov_numvfs -> 8 ..." in err and "[ens1f0] wait for 8 VFs to appear: ok" in err
    assert "ens1f0 (0000:3b:00.0): changed" in out and "done: " in out

    writes, calls = len(core.writes), len(vfnl.calls)
    code, out, err = node_prep(capsys, node, fs, core, vfnl)
    assert code == 0
    assert "nothing to do: the node already matches" in out
    assert "[ens1f0] already as configured: nothing to do" in err
    assert (len(core.writes), len(vfnl.calls)) == (writes, calls)


def test_dry_run_through_the_real_command_changes_nothing(node, fs) -> None:
    before = sorted(str(p) for p in fs.root.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "node-prep", "--config", str(node),
                           "--sysfs-root", str(fs.root), "--dry-run", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dryRun"] and report["changed"] and report["ok"]
    by_pf = {p["pf"]: p for p in report["pfs"]}
    assert by_pf["ens1f0"]["actions"][:2] == ["set sriov_numvfs -> 8", "wait for 8 VFs to appear"]
    assert "bind VF 6 to vfio-pci" in by_pf["ens1f0"]["actions"]
    assert "[ens1f0] would set sriov_numvfs -> 8" in proc.stderr
    assert sorted(str(p) for p in fs.root.rglob("*")) == before


def test_the_real_command_on_a_prepared_node_says_nothing_to_do(tmp_path, fs) -> None:
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8, num_vfs=4)
    config = tmp_path / "node.yaml"
    config.write_text(f"stateDir: {tmp_path}/state\npfs:\n- {{name: ens1f0, numVfs: 4}}\n")
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "node-prep", "--config", str(config),
                           "--sysfs-root", str(fs.root)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, proc.stderr


def test_waits_for_asynchronous_vf_creation(capsys, node, fs) -> None:
    core = FakeDriverCore(fs, vf_create_delay=0.3)
    try:
        code, out, err = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    finally:
        core.release()
    assert code == 0, out + err
    assert vfs(fs, P0)[6:] == ["vfio-pci", "vfio-pci"]


def test_vfs_that_never_appear_fail_the_pf_and_put_numvfs_back(capsys, node, fs) -> None:
    core = FakeDriverCore(fs, vf_create_delay=60)
    node.write_text(node.read_text().replace("vfCreate: 2", "vfCreate: 0.3"))
    try:
        code, out, err = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    finally:
        core.release()
    assert code == 1
    assert "error: wait for 8 VFs to appear: only 0 of 8 VFs appeared within 0.3s" in out
    assert "left as it was: undid sriov_numvfs back to 0" in out
    assert fs.numvfs(P0) == 0 and fs.numvfs(P1) == 0


def test_a_hung_numvfs_write_fails_cleanly(capsys, node, fs, core) -> None:
    core.hang_on(f"{P0}/sriov_numvfs")
    node.write_text(node.read_text().replace("numVfs: 2", "numVfs: 1"))   # the other PF's writes must fit
    code, out, err = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    assert code == 1
    assert "set sriov_numvfs -> 8: writing '8' to" in out and "did not finish within its deadline" in out
    assert fs.numvfs(P0) == 0
    assert vfs(fs, P1) == ["iavf", "iavf", "vfio-pci", "vfio-pci"]    # the other PF carried on


def test_failure_midway_restores_the_pf_and_the_others_carry_on(capsys, tmp_path, fs, core) -> None:
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8, num_vfs=8)
    fs.add_pf(P1, netdev="ens1f1", total_vfs=8, num_vfs=2)
    vfnl = FakeVfNetlink(fs)
    config = tmp_path / "node.yaml"
    config.write_text(f"stateDir: {tmp_path}/state\ndevRoot: {fs.dev_root}\npfs:\n"
                      "- {name: ens1f0, numVfs: 8, vfDefaults: {trust: true}, dpdk: {indexes: 5-7}}\n"
                      "- {name: ens1f1, numVfs: 2, dpdk: {indexes: '1'}}\n")
    core.fail_on("drivers_probe", fs.vf_bdf(P0, 6), err=errno.EIO)

    code, out, err = node_prep(capsys, config, fs, core, vfnl)

    assert code == 1
    assert "bind VF 6 (0000:3b:02.6) to vfio-pci: device 0000:3b:02.6: binding to vfio-pci failed" in out
    assert "node-prep FAILED for ens1f0" in out
    # ens1f0 as it was: VF 5 (bound before the failure) back on iavf, trust put back
    assert vfs(fs, P0) == ["iavf"] * 8 and fs.override_of(fs.vf_bdf(P0, 5)) is None
    assert all(vfnl.state[("ens1f0", i)].trust is False for i in range(8))
    assert "[ens1f0] rolled back: VF 5 back to iavf" in err
    assert vfs(fs, P1) == ["iavf", "vfio-pci"]


def test_insufficient_hugepages_change_nothing(capsys, node, fs, core) -> None:
    fs.set_hugepages(size_kb=2048, total=1024, free=100)
    code, out, err = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    assert code == 1 and core.writes == []
    assert "error: hugepages: 100 free 2Mi pages, DPDK pools need 256" in out
    assert "nothing was changed" in out


def test_numvfs_change_under_allocated_vfs_needs_force(capsys, tmp_path, fs, core) -> None:
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8, num_vfs=4)
    VfAllocator(str(tmp_path / "state")).allocate(Owner("c1", "/proc/self/ns/net", "net1", "default/vfw"),
                                                   bdf=fs.vf_bdf(P0, 2))
    config = tmp_path / "node.yaml"
    config.write_text(f"stateDir: {tmp_path}/state\npfs:\n- {{name: ens1f0, numVfs: 8}}\n")
    code, out, _ = node_prep(capsys, config, fs, core, FakeVfNetlink(fs))
    assert code == 1 and "1 of its VFs are allocated to pods (0000:3b:02.2)" in out and fs.numvfs(P0) == 4
    code, out, _ = node_prep(capsys, config, fs, core, FakeVfNetlink(fs), "--force")
    assert code == 0 and fs.numvfs(P0) == 8
    assert core.writes_to("sriov_numvfs") == ["0", "8"]     # through 0, as the kernel demands


@pytest.mark.parametrize("yaml_text,message", [
    ("pfs:\n- {name: ens1f0, pciAddress: '0000:3b:00.0', numVfs: 1}\n", "either `name` or `pciAddress`"),
    ("pfs:\n- {name: ens1f0, numVfs: 1, dpdk: {indexes: 3-1}}\n", "end before start"),
    ("pfs:\n- {name: ens1f0, numVfz: 1}\n", "numVfz"),
    ("pfs:\n- {name: ens1f0, numVfs: 1, vfDefaults: {mac: nope}}\n", "neither a MAC address nor 'auto'"),
    ("pfs:\n- {pciAddress: 'ens1f0', numVfs: 1}\n", "pfs[0].pciAddress: 'ens1f0' is not a PCI address"),
    ("pfs: [\n", "not valid YAML"),
])
def test_bad_config_is_a_clear_error(capsys, tmp_path, fs, core, yaml_text, message) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(yaml_text)
    code, out, err = node_prep(capsys, config, fs, core, FakeVfNetlink(fs))
    assert code == 2 and message in err and str(config) in err and core.writes == []


def test_unknown_pf_and_too_many_vfs(capsys, tmp_path, fs, core) -> None:
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8)
    config = tmp_path / "node.yaml"
    config.write_text(f"stateDir: {tmp_path}/s\npfs:\n- {{name: ens9f9, numVfs: 1}}\n- {{name: ens1f0, numVfs: 9}}\n")
    code, out, _ = node_prep(capsys, config, fs, core, FakeVfNetlink(fs), "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert report["pfs"][0]["error"] == "find PF: no PF named ens9f9 on this node; SR-IOV PFs: ens1f0 (0000:3b:00.0)"
    assert report["pfs"][1]["error"] == "check PF: numVfs 9 exceeds sriov_totalvfs 8"
    assert core.writes == []


def test_sysfs_root_from_the_config(capsys, tmp_path, fs, core) -> None:
    fs.add_pf(P0, netdev="ens1f0", total_vfs=8)
    config = tmp_path / "node.yaml"
    config.write_text(f"sysfsRoot: {fs.root}\nstateDir: {tmp_path}/s\npfs:\n- {{name: ens1f0, numVfs: 2}}\n")
    args = build_parser().parse_args(["node-prep", "--config", str(config)])
    assert cli_nodeprep.run(args, cli_nodeprep.Seams(writer=core, vf_config=FakeVfNetlink(fs))) == 0
    # the state dir holds only the outcome for the daemon (no allocation records were needed)
    assert fs.numvfs(P0) == 2 and sorted(p.name for p in (tmp_path / "s").iterdir()) == ["node-prep.json"]


def test_a_dry_run_reports_every_problem_in_one_run(tmp_path, fs) -> None:
    """Too few hugepages, a DPDK pool missing from the pool config, a PF that does not exist and
    a PF asked for more VFs than it has: all four in one dry run, nothing changed."""
    fs.add_pf(P0, netdev="ens1f0", total_vfs=4)
    fs.set_hugepages(size_kb=2048, total=16, free=16)
    config = tmp_path / "node.yaml"
    config.write_text(f"""
stateDir: {tmp_path}/state
pools: {{resourceList: [{{resourceName: netdev, selectors: {{pfNames: [ens1f0]}}}}]}}
hugepages: [{{size: 2Mi, minFree: 256}}]
pfs:
- {{name: ens1f0, numVfs: 8, dpdk: {{pools: [intel.com/dpdk]}}}}
- {{name: ens9f9, numVfs: 2}}
""")
    before = sorted(str(p) for p in fs.root.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "node-prep", "--config", str(config),
                           "--sysfs-root", str(fs.root), "--dry-run", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["changed"] is False
    assert any("16 free 2Mi pages" in p for p in report["problems"])
    assert any("intel.com/dpdk" in p and "not in the pool config" in p for p in report["problems"])
    errors = {p["pf"]: p["error"] for p in report["pfs"]}
    assert errors["ens1f0"] == "check PF: numVfs 8 exceeds sriov_totalvfs 4"
    assert "no PF named ens9f9" in errors["ens9f9"]
    assert sorted(str(p) for p in fs.root.rglob("*")) == before


def test_the_outcome_is_recorded_for_the_daemon(capsys, node, fs, core, tmp_path) -> None:
    """`<stateDir>/node-prep.json`: ok after a good run; failed (naming the problem) after a bad
    one or an unreadable config; nothing for a dry run."""
    from multus_dp.hardware.nodeprep_state import NodePrepWatch, read

    state_dir = str(tmp_path / "state")
    watch = NodePrepWatch(state_dir)
    code, _, _ = node_prep(capsys, node, fs, core, FakeVfNetlink(fs), "--dry-run")
    assert code == 0 and read(state_dir) is None and watch.sriov_problem() is None
    code, out, err = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    assert code == 0, out + err
    state = read(state_dir)
    assert state is not None and state.state == "ok" and state.finished and watch.sriov_problem() is None

    fs.set_hugepages(size_kb=2048, total=16, free=16)   # the DPDK pools now lack hugepages
    code, _, _ = node_prep(capsys, node, fs, core, FakeVfNetlink(fs))
    assert code == 1
    problem = watch.sriov_problem()
    assert problem is not None and problem.startswith(f"node-prep ({node}) failed: hugepages: 16 free 2Mi pages")

    broken = tmp_path / "broken.yaml"
    broken.write_text("pfs: [{numVfs: 4}]\n")       # neither name nor pciAddress
    args = build_parser().parse_args(["node-prep", "--config", str(broken), "--state-dir", state_dir])
    assert cli_nodeprep.run(args) == 2
    problem = watch.sriov_problem()
    assert problem is not None and f"node-prep ({broken}) failed:" in problem and "pfs[0]" in problem
