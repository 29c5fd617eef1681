"""The example node-prep config and the pools, as shipped in deploy/, prepare a node with an
ens1f0 port (fake sysfs + fake driver core): 8 VFs, VFs 4-7 on vfio-pci in the DPDK pool,
0-3 in the kernel pool; the uninstall config then leaves no VF bound to vfio-pci."""
from __future__ import annotations

from pathlib import Path

import yaml

from multus_dp.cli import build_parser
from multus_dp.hardware import cli_nodeprep, pools, sysfs
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs, FakeVfNetlink

from .manifests import DEPLOY

PF = "0000:3b:00.0"


def localized(example: str, tmp: Path, fs: FakeSysfs) -> Path:
    """The example with its node paths pointed into the test's directory (nothing else changed)."""
    config = yaml.safe_load((DEPLOY / example).read_text())
    config["stateDir"] = str(tmp / "state")
    config["devRoot"] = str(fs.dev_root)
    if "poolsFile" in config:
        pools_file = tmp / "config.json"
        pools_file.write_text((DEPLOY / "examples/sriov-pools.json").read_text())
        config["poolsFile"] = str(pools_file)
    path = tmp / Path(example).name
    path.write_text(yaml.safe_dump(config))
    return path


def node_prep(config: Path, fs: FakeSysfs, core: FakeDriverCore, vfnl: FakeVfNetlink) -> int:
    args = build_parser().parse_args(["node-prep", "--config", str(config), "--sysfs-root", str(fs.root)])
    return cli_nodeprep.run(args, cli_nodeprep.Seams(writer=core, vf_config=vfnl, net=FakeNetState()))


def test_example_node_prep_then_uninstall(tmp_path, capsys) -> None:
    fs = FakeSysfs(tmp_path / "node")
    fs.add_pf(PF, netdev="ens1f0", total_vfs=16)
    fs.set_hugepages(size_kb=1 << 20, total=4, free=4)
    core, vfnl = FakeDriverCore(fs), FakeVfNetlink(fs)
    try:
        assert node_prep(localized("examples/node-prep.yaml", tmp_path, fs), fs, core, vfnl) == 0, capsys.readouterr()
        drivers = [fs.driver_of(fs.vf_bdf(PF, i)) for i in range(fs.numvfs(PF))]
        assert drivers == ["iavf"] * 4 + ["vfio-pci"] * 4
        for index in range(8):
            state = vfnl.state[("ens1f0", index)]
            assert (state.spoofchk, state.trust) == ((False, True) if index >= 4 else (True, False)), index
        config = pools.load(str(DEPLOY / "examples/sriov-pools.json"))
        assigned = config.assign(sysfs.scan(str(fs.root)))
        assert assigned == {"intel.com/intel_sriov_netdevice": [fs.vf_bdf(PF, i) for i in range(4)],
                            "intel.com/intel_sriov_dpdk": [fs.vf_bdf(PF, i) for i in range(4, 8)]}
        assert node_prep(localized("examples/node-prep.yaml", tmp_path, fs), fs, core, vfnl) == 0
        assert "nothing to do" in capsys.readouterr().out

        assert node_prep(localized("uninstall/node-prep-uninstall.yaml", tmp_path, fs), fs, core, vfnl) == 0
        assert fs.numvfs(PF) == 0
        model = sysfs.scan(str(fs.root))
        assert [vf for vf in model.vfs.values() if vf.driver == "vfio-pci"] == []
    finally:
        core.release()
