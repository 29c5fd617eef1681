"""The sysfs model read from a fake tree laid out as the kernel does."""
from __future__ import annotations

import os

from multus_dp.base.formats import is_bdf
from multus_dp.hardware import sysfs
from tests.support.fakesysfs import FakeSysfs


def test_scan_sees_pfs_vfs_links_drivers_and_groups(fs: FakeSysfs) -> None:
    fs.add_pf("0000:3b:00.0", netdev="ens1f0", total_vfs=8, num_vfs=4, numa_node=1)
    fs.add_pf("0000:3b:00.1", netdev="ens1f1", total_vfs=8, num_vfs=0)
    fs.add_device("0000:00:1f.2", pci_class="0x010601", driver="ahci", netdevs=[])   # a SATA controller

    model = sysfs.scan(str(fs.root))

    assert sorted(model.pfs) == ["0000:3b:00.0", "0000:3b:00.1"]
    pf = model.pfs["0000:3b:00.0"]
    assert (pf.netdevs, pf.driver, pf.total_vfs, pf.num_vfs, pf.drivers_autoprobe) == (["ens1f0"], "i40e", 8, 4, True)
    assert pf.vfs == {i: FakeSysfs.vf_bdf("0000:3b:00.0", i) for i in range(4)}
    assert pf.state == "kernel" and pf.numa_node == 1 and pf.link_type == "ether"
    vf2 = model.vf("0000:3b:02.2")
    assert vf2 is not None
    assert (vf2.index, vf2.pf_bdf, vf2.netdevs, vf2.driver, vf2.state) == (2, "0000:3b:00.0", ["ens1f0v2"], "iavf", "kernel")
    assert (vf2.vendor, vf2.device, vf2.pci_class, vf2.driver_override) == ("8086", "154c", "0x020000", None)
    assert model.pf_of("0000:3b:02.2") is pf
    assert model.iommu_members("0000:3b:02.2") == ["0000:3b:02.2"]
    assert model.by_netdev("ens1f0v3").bdf == "0000:3b:02.3"
    assert model.iommu_present and not model.noiommu_mode
    assert "0000:00:1f.2" not in model.pfs  # not a network device


def test_vf_states_follow_the_driver(fs: FakeSysfs, core) -> None:
    fs.add_pf(num_vfs=3, vf_driver="iavf")
    fs.add_driver("uio_pci_generic")
    core.write(str(fs.root / "bus/pci/drivers/iavf/unbind"), "0000:3b:02.1", 1)
    core.write(str(fs.root / "bus/pci/devices/0000:3b:02.2/driver_override"), "uio_pci_generic", 1)
    core.write(str(fs.root / "bus/pci/drivers/iavf/unbind"), "0000:3b:02.2", 1)
    core.write(str(fs.root / "bus/pci/drivers_probe"), "0000:3b:02.2", 1)

    model = sysfs.scan(str(fs.root))

    assert [v.state for v in model.vfs_of("0000:3b:00.0")] == ["kernel", "unbound", "uio"]
    assert model.vf("0000:3b:02.1").netdevs == []          # the netdev went with the driver
    assert model.vf("0000:3b:02.2").driver_override == "uio_pci_generic"


def test_shared_iommu_group_lists_all_members(fs: FakeSysfs) -> None:
    fs.add_pf(num_vfs=2, vf_groups="pf")
    model = sysfs.scan(str(fs.root))
    group = model.pfs["0000:3b:00.0"].iommu_group
    assert model.iommu_groups[group] == ["0000:3b:00.0", "0000:3b:02.0", "0000:3b:02.1"]
    assert model.iommu_members("0000:3b:02.1") == model.iommu_groups[group]


def test_refresh_follows_vf_creation_and_removal(fs: FakeSysfs) -> None:
    fs.add_pf(num_vfs=2)
    model = sysfs.scan(str(fs.root))
    fs.remove_vfs("0000:3b:00.0")
    fs.create_vfs("0000:3b:00.0", 5)

    model = sysfs.refresh(model, {"0000:3b:00.0"})
    assert sorted(model.pfs["0000:3b:00.0"].vfs) == [0, 1, 2, 3, 4]
    assert len(model.vfs) == 5 and model.pfs["0000:3b:00.0"].num_vfs == 5

    fs.remove_vfs("0000:3b:00.0")
    model = sysfs.refresh(model, {"0000:3b:02.0"})   # an event on a VF alone
    assert model.vfs == {} and model.pfs["0000:3b:00.0"].num_vfs == 0


def test_refresh_of_one_vf_reads_its_new_driver(fs: FakeSysfs, core) -> None:
    fs.add_pf(num_vfs=2)
    model = sysfs.scan(str(fs.root))
    core.write(str(fs.root / "bus/pci/drivers/iavf/unbind"), "0000:3b:02.1", 1)
    model = sysfs.refresh(model, {"0000:3b:02.1"})
    assert model.vf("0000:3b:02.1").state == "unbound" and model.vf("0000:3b:02.0").state == "kernel"


def test_scan_of_an_empty_or_missing_root_is_empty(tmp_path) -> None:
    model = sysfs.scan(str(tmp_path / "nothing"))
    assert (model.pfs, model.vfs, model.iommu_present) == ({}, {}, False)


def test_scan_reads_the_real_sys_without_error() -> None:
    # whatever this machine has: every network function found is classified sensibly
    model = sysfs.scan("/sys")
    for dev in (*model.pfs.values(), *model.vfs.values()):
        assert is_bdf(dev.bdf) and dev.pci_class.startswith("0x02")
        assert os.path.isdir(f"/sys/bus/pci/devices/{dev.bdf}")
