"""Discovery through the hardware module, with sysfs root /sys, on the guest's real igb NIC."""
from __future__ import annotations

from pathlib import Path

from multus_dp.hardware import sysfs
from tests.lab.support.guest import LabPF, create_vfs

INTEL = "8086"
I82576_PF, I82576_VF = "10c9", "10ca"


def test_scan_models_the_real_pf_its_vfs_and_their_iommu_groups(lab_pf: LabPF) -> None:
    before = sysfs.scan("/sys")
    pf = before.pf_by_name(lab_pf.name)
    assert pf is not None and pf.bdf == lab_pf.bdf
    assert (pf.vendor, pf.device, pf.driver) == (INTEL, I82576_PF, "igb")
    assert pf.sriov_capable and pf.total_vfs >= 3 and pf.num_vfs == 0 and pf.vfs == {}
    assert before.iommu_present and not before.noiommu_mode
    assert before.vfs_of(pf.bdf) == []

    created = create_vfs(lab_pf, 3)
    model = sysfs.scan("/sys")
    pf = model.pf(lab_pf.bdf)
    assert pf is not None and pf.num_vfs == 3
    vfs = model.vfs_of(pf.bdf)
    assert [vf.bdf for vf in vfs] == created and [vf.index for vf in vfs] == [0, 1, 2]
    groups = set()
    for vf in vfs:
        assert (vf.vendor, vf.device, vf.pf_bdf) == (INTEL, I82576_VF, pf.bdf)
        assert (vf.driver, vf.state, vf.link_type) == ("igbvf", "kernel", "ether")
        assert len(vf.netdevs) == 1 and Path("/sys/class/net", vf.netdevs[0]).exists()
        assert model.by_netdev(vf.netdevs[0]) == vf
        assert model.pf_of(vf.bdf) == pf
        assert model.iommu_members(vf.bdf) == [vf.bdf]   # one VF per group: vfio can take it alone
        groups.add(vf.iommu_group)
    assert len(groups) == 3 and pf.iommu_group not in groups


def test_scan_drops_vfs_that_were_removed(lab_pf: LabPF) -> None:
    created = create_vfs(lab_pf, 2)
    assert set(created) <= set(sysfs.scan("/sys").vfs)
    create_vfs(lab_pf, 0)
    model = sysfs.scan("/sys")
    assert not set(created) & set(model.vfs)
    assert model.pf(lab_pf.bdf) is not None and model.pf(lab_pf.bdf).vfs == {}
