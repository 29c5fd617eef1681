"""The lab NIC does real SR-IOV: VFs appear with virtfn/physfn links, igbvf netdevs and one
IOMMU group each. This is the floor the hardware-module tests stand on."""
from __future__ import annotations

import os
from pathlib import Path

from tests.lab.support.deadline import write_with_deadline
from tests.lab.support.guest import LabPF, driver_of, settle, wait_for

INTEL = "0x8086"
IGB_VF_DEVICE = "0x10ca"     # 82576 Virtual Function


def test_creating_vfs_gives_linked_igbvf_functions_in_their_own_iommu_groups(lab_pf: LabPF) -> None:
    assert int((lab_pf.device / "sriov_totalvfs").read_text()) >= 3
    write_with_deadline(lab_pf.device / "sriov_numvfs", "3")
    settle()

    vfs = lab_pf.vf_bdfs()
    assert len(vfs) == 3 and lab_pf.num_vfs == 3
    groups = set()
    for bdf in vfs:
        dev = Path("/sys/bus/pci/devices") / bdf
        assert os.path.basename(os.readlink(dev / "physfn")) == lab_pf.bdf
        assert (dev / "vendor").read_text().strip() == INTEL
        assert (dev / "device").read_text().strip() == IGB_VF_DEVICE
        assert driver_of(bdf) == "igbvf"
        netdevs = wait_for(lambda: list((dev / "net").glob("*")) if (dev / "net").is_dir() else [],
                           10, f"the netdev of VF {bdf}")
        assert len(netdevs) == 1
        groups.add(os.path.basename(os.readlink(dev / "iommu_group")))
    pf_group = os.path.basename(os.readlink(lab_pf.device / "iommu_group"))
    assert len(groups) == 3 and pf_group not in groups


def test_removing_vfs_removes_their_functions(lab_pf: LabPF) -> None:
    write_with_deadline(lab_pf.device / "sriov_numvfs", "2")
    vfs = lab_pf.vf_bdfs()
    assert len(vfs) == 2
    write_with_deadline(lab_pf.device / "sriov_numvfs", "0")
    assert lab_pf.vf_bdfs() == []
    assert not any((Path("/sys/bus/pci/devices") / bdf).exists() for bdf in vfs)
