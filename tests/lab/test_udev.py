"""udev events from the guest's systemd-udevd keep the hardware model current: VFs created,
rebound to vfio-pci and back, and removed show up in the Inventory without a rescan."""
from __future__ import annotations

from pathlib import Path

from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.sysfs import VF
from multus_dp.hardware.udev import PyudevEventSource, UdevWatcher
from multus_dp.hardware.vfio import VfioBinder
from tests.lab.support.guest import LabPF, wait_for, write_with_deadline

EVENT_WAIT_S = 20.0


def test_udev_events_update_the_model_as_vfs_come_rebind_and_go(lab_pf: LabPF) -> None:
    inventory = Inventory("/sys")
    assert inventory.model.vfs_of(lab_pf.bdf) == []
    changes: list[set[str] | None] = []
    inventory.subscribe(lambda _model, changed: changes.append(changed))
    # no periodic rescan: everything below must come from events
    watcher = UdevWatcher(inventory, PyudevEventSource("udev"), debounce=0.25, max_delay=2.0, rescan_interval=1e9)
    watcher.start()
    try:
        write_with_deadline(lab_pf.device / "sriov_numvfs", "2")
        def two_vfs_with_final_names() -> list[VF] | None:
            vfs = inventory.model.vfs_of(lab_pf.bdf)
            named = [vf for vf in vfs if vf.netdevs and Path("/sys/class/net", vf.netdevs[0]).exists()]
            return vfs if len(vfs) == 2 and named == vfs else None

        vfs = wait_for(two_vfs_with_final_names, EVENT_WAIT_S, "2 VFs with their (final) netdev names in the model")
        assert [vf.index for vf in vfs] == [0, 1] and all(vf.driver == "igbvf" for vf in vfs)

        binder = VfioBinder("/sys")
        bound = binder.bind(vfs[1].bdf)
        wait_for(lambda: (vf := inventory.model.vf(vfs[1].bdf)) and vf.driver == "vfio-pci" and not vf.netdevs,
                 EVENT_WAIT_S, f"VF {vfs[1].bdf} on vfio-pci in the model")
        binder.restore(vfs[1].bdf, bound.original_driver, bound.original_override)
        wait_for(lambda: (vf := inventory.model.vf(vfs[1].bdf)) and vf.driver == "igbvf" and vf.netdevs,
                 EVENT_WAIT_S, f"VF {vfs[1].bdf} back on igbvf with a netdev in the model")

        write_with_deadline(lab_pf.device / "sriov_numvfs", "0")
        wait_for(lambda: inventory.model.vfs_of(lab_pf.bdf) == [] and not set(inventory.model.vfs) & {v.bdf for v in vfs},
                 EVENT_WAIT_S, "the removed VFs gone from the model")
    finally:
        watcher.stop()
    assert changes and None not in changes     # incremental refreshes only, never a full rescan
