"""The vfio binder end to end on the fake driver core."""
from __future__ import annotations

import errno

import pytest

from multus_dp.hardware import sysfs
from multus_dp.hardware.errors import DeviceError
from multus_dp.hardware.vfio import VfioBinder
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs

VF = "0000:3b:02.1"


def binder(fs: FakeSysfs, core: FakeDriverCore, net: FakeNetState, **kw) -> VfioBinder:
    return VfioBinder(str(fs.root), core, kw.pop("deadline", 2.0), net=net, dev_root=str(fs.dev_root),
                      node_timeout=0.5, **kw)


def test_bind_and_restore_round_trip(fs, core, net) -> None:
    fs.add_pf(num_vfs=2)
    b = binder(fs, core, net)

    result = b.bind(VF)

    assert fs.driver_of(VF) == "vfio-pci" and fs.override_of(VF) == "vfio-pci"
    assert fs.netdevs(VF) == []
    group = fs.group_of(VF)
    assert result.original_driver == "iavf" and result.changed and not result.noiommu
    assert result.device_nodes == [str(fs.dev_root / "vfio/vfio"), str(fs.dev_root / "vfio" / group)]
    assert fs.vfio_nodes() == sorted([group, "vfio"])
    # the kernel's order: override, unbind, probe
    assert [p.split("/")[-1] for p, _ in core.writes] == ["driver_override", "unbind", "drivers_probe"]

    b.restore(VF, result.original_driver, result.original_override)

    assert fs.driver_of(VF) == "iavf" and fs.override_of(VF) is None
    assert fs.netdevs(VF) == ["ens1f0v1"]
    assert group not in fs.vfio_nodes()


def test_bind_of_a_vf_already_on_vfio_changes_nothing(fs, core, net) -> None:
    fs.add_pf(num_vfs=2)
    b = binder(fs, core, net)
    b.bind(VF)
    writes = len(core.writes)
    again = b.bind(VF)
    assert not again.changed and again.original_driver == "vfio-pci" and len(core.writes) == writes


def test_unbound_vf_binds_and_restores_to_unbound(fs, core, net) -> None:
    fs.add_pf(num_vfs=2, autoprobe=False)
    b = binder(fs, core, net)
    result = b.bind(VF)
    assert result.original_driver is None and fs.driver_of(VF) == "vfio-pci"
    b.restore(VF, None)
    assert fs.driver_of(VF) is None and fs.override_of(VF) is None


def test_refuses_without_iommu_unless_noiommu_allowed_and_enabled(tmp_path, net) -> None:
    fs = FakeSysfs(tmp_path, iommu=False)
    fs.add_pf(num_vfs=2)
    core = FakeDriverCore(fs)

    with pytest.raises(DeviceError, match="no IOMMU") as err:
        binder(fs, core, net).bind(VF)
    assert VF in err.value.msg and core.writes == []

    with pytest.raises(DeviceError, match="enable_unsafe_noiommu_mode"):
        binder(fs, core, net, allow_noiommu=True).bind(VF)
    assert fs.driver_of(VF) == "iavf"

    fs.set_noiommu_mode(True)
    result = binder(fs, core, net, allow_noiommu=True).bind(VF)
    assert result.noiommu and result.device_nodes[1].endswith(f"/vfio/noiommu-{result.iommu_group}")
    assert fs.vfio_nodes() == sorted([f"noiommu-{result.iommu_group}", "vfio"])
    binder(fs, core, net, allow_noiommu=True).restore(VF, "iavf")
    assert fs.group_of(VF) is None and fs.driver_of(VF) == "iavf"


def test_refuses_when_the_iommu_group_has_a_kernel_driver_even_forced(fs, core, net) -> None:
    fs.add_pf(num_vfs=2, vf_groups="pf")   # the VFs share the PF's group; i40e holds the PF
    for force in (False, True):
        with pytest.raises(DeviceError, match=r"also holds 0000:3b:00.0, bound to kernel driver i40e"):
            binder(fs, core, net).bind(VF, force=force)
    assert fs.driver_of(VF) == "iavf" and core.writes == []


def test_refuses_a_pf_unless_forced(fs, core, net) -> None:
    fs.add_pf(num_vfs=0)
    with pytest.raises(DeviceError, match="not a VF"):
        binder(fs, core, net).bind("0000:3b:00.0")
    assert fs.driver_of("0000:3b:00.0") == "i40e"
    binder(fs, core, net).bind("0000:3b:00.0", force=True)
    assert fs.driver_of("0000:3b:00.0") == "vfio-pci"


@pytest.mark.parametrize("use", ["up", "address", "route"])
def test_refuses_a_vf_in_use_on_the_host_unless_forced(fs, core, net, use) -> None:
    fs.add_pf(num_vfs=2)
    if use == "up":
        fs.set_up("ens1f0v1")
    elif use == "address":
        net.addresses["ens1f0v1"] = ["192.0.2.5/24"]
    else:
        net.routes["ens1f0v1"] = ["198.51.100.0/24"]
    with pytest.raises(DeviceError, match={"up": "ens1f0v1 is up", "address": "192.0.2.5/24",
                                           "route": "198.51.100.0/24"}[use]):
        binder(fs, core, net).bind(VF)
    assert fs.driver_of(VF) == "iavf"
    binder(fs, core, net).bind(VF, force=True)
    assert fs.driver_of(VF) == "vfio-pci"


def test_a_hung_unbind_fails_cleanly_and_leaves_the_vf_as_it_was(fs, core, net) -> None:
    fs.add_pf(num_vfs=2)
    release = core.hang_on("iavf/unbind")

    with pytest.raises(DeviceError, match="did not finish within its deadline") as err:
        binder(fs, core, net, deadline=1.0).bind(VF)   # roomy: the other writes must fit under load

    assert "rolled back" in err.value.msg
    assert fs.driver_of(VF) == "iavf" and fs.override_of(VF) is None
    release.set()


def test_a_failing_probe_midway_is_rolled_back(fs, core, net) -> None:
    fs.add_pf(num_vfs=2)
    core.fail_on("drivers_probe", VF, err=errno.EIO)
    with pytest.raises(DeviceError, match="Input/output error"):
        binder(fs, core, net).bind(VF)
    assert fs.driver_of(VF) == "iavf" and fs.override_of(VF) is None and fs.netdevs(VF) == ["ens1f0v1"]


def test_a_probe_that_silently_binds_nothing_is_detected_and_rolled_back(fs, core, net) -> None:
    # the kernel's drivers_probe write succeeds even when the driver's probe fails (-22)
    fs.add_pf(num_vfs=2)
    fs.failing_probes.add((VF, "vfio-pci"))
    with pytest.raises(DeviceError, match="vfio-pci did not take the device") as err:
        binder(fs, core, net).bind(VF)
    assert "rolled back" in err.value.msg
    assert fs.driver_of(VF) == "iavf" and fs.override_of(VF) is None


def test_unknown_device_is_a_clear_error(fs, core, net) -> None:
    with pytest.raises(DeviceError, match="0000:99:00.0: no such PCI device"):
        binder(fs, core, net).bind("0000:99:00.0")


def test_vfio_driver_missing_is_refused(fs, core, net) -> None:
    import shutil
    fs.add_pf(num_vfs=1)
    shutil.rmtree(fs.root / "bus/pci/drivers/vfio-pci")
    with pytest.raises(DeviceError, match="modprobe vfio-pci"):
        binder(fs, core, net).bind("0000:3b:02.0")


def test_model_sees_the_binding(fs, core, net) -> None:
    fs.add_pf(num_vfs=2)
    binder(fs, core, net).bind(VF)
    vf = sysfs.scan(str(fs.root)).vf(VF)
    assert (vf.state, vf.driver_override, vf.netdevs) == ("vfio-pci", "vfio-pci", [])
