"""DPDK mode's driver side on a real VF: the hardware module's VfioBinder binds it to
vfio-pci behind the guest's VT-d, the group is usable as a DPDK application opens it, and
restore gives the VF back to igbvf as it was. Refusals leave the devices as they were."""
from __future__ import annotations

import os
import stat
from dataclasses import replace

import pytest
from pyroute2 import IPRoute

from multus_dp.hardware import sysfs
from multus_dp.hardware.errors import DeviceError
from multus_dp.hardware.vfio import VfioBinder
from tests.lab.support.guest import LabPF, create_vfs, settle, wait_for
from tests.lab.support.vfio import VFIO_API_VERSION, open_like_dpdk
from tests.lab.support.vfstate import snapshot


def test_vf_on_vfio_pci_opens_like_dpdk_and_goes_back_to_igbvf(lab_pf: LabPF) -> None:
    vf_bdf = create_vfs(lab_pf, 2)[1]
    vf = sysfs.scan("/sys").vf(vf_bdf)
    assert vf is not None and vf.driver == "igbvf"
    before = snapshot(lab_pf, vf_bdf)
    binder = VfioBinder("/sys")

    bound = binder.bind(vf_bdf)
    assert bound.changed and bound.original_driver == "igbvf" and bound.original_override is None
    assert bound.iommu_group == vf.iommu_group and not bound.noiommu
    assert bound.device_nodes == ["/dev/vfio/vfio", f"/dev/vfio/{vf.iommu_group}"]
    assert all(stat.S_ISCHR(os.stat(node).st_mode) for node in bound.device_nodes)
    on_vfio = sysfs.scan("/sys").vf(vf_bdf)
    assert on_vfio is not None
    assert (on_vfio.driver, on_vfio.state, on_vfio.driver_override, on_vfio.netdevs) == ("vfio-pci", "vfio-pci", "vfio-pci", [])

    view = open_like_dpdk(bound.iommu_group or "", vf_bdf)
    assert view.api_version == VFIO_API_VERSION and view.type1v2
    assert view.group_viable and view.container_set and view.device_is_pci
    assert view.num_regions > 0 and view.num_irqs > 0

    assert binder.bind(vf_bdf).changed is False          # already there: nothing to do
    binder.restore(vf_bdf, bound.original_driver, bound.original_override)
    settle()
    back = wait_for(lambda: (v := sysfs.scan("/sys").vf(vf_bdf)) and v.netdevs and v, 10,
                    f"VF {vf_bdf} back on igbvf with a netdev")
    assert (back.driver, back.driver_override, len(back.netdevs)) == ("igbvf", None, 1)
    after = snapshot(lab_pf, vf_bdf)
    # igbvf's probe registers the VF's MAC with the PF, so the PF's admin MAC for an unset VF
    # goes from 00:00:00:00:00:00 to the netdev's MAC; putting it back is the SR-IOV delegate's
    # restore, not the binder's. Everything else must be exactly as before.
    assert after.admin.mac in (before.admin.mac, before.mac)
    assert replace(after, admin=replace(after.admin, mac=before.admin.mac)) == before


def test_binding_the_pf_or_a_vf_carrying_an_address_is_refused_and_changes_nothing(lab_pf: LabPF) -> None:
    vf_bdf = create_vfs(lab_pf, 1)[0]
    binder = VfioBinder("/sys")

    with pytest.raises(DeviceError) as refused_pf:
        binder.bind(lab_pf.bdf)
    assert lab_pf.bdf in refused_pf.value.msg and "not a VF" in refused_pf.value.msg

    vf = sysfs.scan("/sys").vf(vf_bdf)
    assert vf is not None and vf.netdev
    with IPRoute() as ip:
        index = ip.link_lookup(ifname=vf.netdev)[0]
        ip.addr("add", index=index, address="192.0.2.10", prefixlen=24)
    with pytest.raises(DeviceError) as refused_vf:
        binder.bind(vf_bdf)
    assert vf_bdf in refused_vf.value.msg and f"{vf.netdev} has addresses 192.0.2.10/24" in refused_vf.value.msg

    model = sysfs.scan("/sys")
    assert (model.pf(lab_pf.bdf).driver, model.vf(vf_bdf).driver) == ("igb", "igbvf")
    assert model.vf(vf_bdf).driver_override is None and model.vf(vf_bdf).netdevs == [vf.netdev]
