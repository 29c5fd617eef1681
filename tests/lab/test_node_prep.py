"""`multus-dp node-prep` on the real NIC: create VFs, set their defaults, bind a DPDK pool (the
device plugin's pool format) to vfio-pci, as `multus-dp discover` then shows; a second run
changes nothing; a VF carrying an address is not taken from the host."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from multus_dp.cli import main as multus_dp
from multus_dp.hardware import sysfs
from tests.lab.support.guest import LabPF, create_vfs
from tests.lab.support.vfinfo import vf_infos

ZERO_MAC = "00:00:00:00:00:00"


def node_prep(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str) -> tuple[int, dict]:
    path = tmp_path / "node-prep.yaml"
    path.write_text(config)
    capsys.readouterr()
    code = multus_dp(["node-prep", "--config", str(path), "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out)


def discover(capsys: pytest.CaptureFixture[str], pools_file: Path, state_dir: Path) -> dict:
    capsys.readouterr()
    assert multus_dp(["discover", "--json", "--pools", str(pools_file), "--state-dir", str(state_dir)]) == 0
    return json.loads(capsys.readouterr().out)


def test_node_prep_creates_vfs_sets_defaults_binds_a_dpdk_pool_and_a_second_run_changes_nothing(
        lab_pf: LabPF, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pools_file = tmp_path / "pcidp.json"
    pools_file.write_text(json.dumps({"resourceList": [
        {"resourceName": "lab_dpdk", "selectors": {"pfNames": [f"{lab_pf.name}#2-3"], "drivers": ["vfio-pci"]}},
        {"resourceName": "lab_net", "selectors": {"pfNames": [f"{lab_pf.name}#0-1"], "drivers": ["igbvf"]}},
    ]}))
    config = f"""
stateDir: {tmp_path / 'state'}
poolsFile: {pools_file}
pfs:
  - name: {lab_pf.name}
    numVfs: 4
    vfDefaults: {{trust: true, spoofchk: false, mac: auto}}
    dpdk: {{pools: [intel.com/lab_dpdk]}}
"""
    code, report = node_prep(tmp_path, capsys, config)
    assert code == 0 and report["ok"] and report["changed"], report
    model = sysfs.scan("/sys")
    vfs = model.vfs_of(lab_pf.bdf)
    assert [vf.index for vf in vfs] == [0, 1, 2, 3]
    assert [vf.driver for vf in vfs] == ["igbvf", "igbvf", "vfio-pci", "vfio-pci"]
    for vf in vfs[2:]:
        assert stat.S_ISCHR(os.stat(f"/dev/vfio/{vf.iommu_group}").st_mode)
    infos = vf_infos(lab_pf.name)
    assert sorted(infos) == [0, 1, 2, 3]
    assert all(i.trust is True and i.spoofchk is False for i in infos.values())
    macs = [i.mac for i in infos.values()]
    assert ZERO_MAC not in macs and len(set(macs)) == 4
    pools = discover(capsys, pools_file, tmp_path / "state")["pools"]
    assert pools["intel.com/lab_dpdk"]["vfs"] == [vf.bdf for vf in vfs[2:]]
    assert pools["intel.com/lab_net"]["vfs"] == [vf.bdf for vf in vfs[:2]]

    code, again = node_prep(tmp_path, capsys, config)
    assert code == 0 and again["ok"] and not again["changed"], again
    assert all(pf["status"] == "unchanged" and pf["actions"] == [] for pf in again["pfs"])
    assert sysfs.scan("/sys").vfs_of(lab_pf.bdf) == vfs
    assert vf_infos(lab_pf.name) == infos


def test_node_prep_refuses_to_bind_a_vf_carrying_an_address_and_leaves_the_pf_as_it_was(
        lab_pf: LabPF, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vf_bdf = create_vfs(lab_pf, 2)[1]
    vf = sysfs.scan("/sys").vf(vf_bdf)
    assert vf is not None and vf.netdev
    with IPRoute() as ip:
        ip.addr("add", index=ip.link_lookup(ifname=vf.netdev)[0], address="192.0.2.20", prefixlen=24)
    before = sysfs.scan("/sys").vfs_of(lab_pf.bdf)

    code, report = node_prep(tmp_path, capsys, f"""
stateDir: {tmp_path / 'state'}
pfs:
  - name: {lab_pf.name}
    numVfs: 2
    dpdk: {{indexes: "1"}}
""")
    assert code == 1 and not report["ok"]
    (pf_report,) = report["pfs"]
    assert pf_report["status"] == "failed"
    assert vf_bdf in pf_report["error"] and "192.0.2.20/24" in pf_report["error"]
    after = sysfs.scan("/sys").vfs_of(lab_pf.bdf)
    assert after == before and after[1].driver == "igbvf" and after[1].driver_override is None
