"""The udev watcher: events -> debounced incremental refresh; periodic rescan; a live thread."""
from __future__ import annotations

import threading

from multus_dp.hardware.inventory import Inventory
from multus_dp.hardware.udev import DeviceEvent, QueueEventSource, UdevWatcher, bdf_of
from tests.support.fakesysfs import FakeSysfs

PF = "0000:3b:00.0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vf_events(fs: FakeSysfs, count: int) -> list[DeviceEvent]:
    out = []
    for i in range(count):
        bdf = fs.vf_bdf(PF, i)
        path = f"/sys/devices/pci0000:00/{bdf}"
        out += [DeviceEvent("add", "pci", path, bdf), DeviceEvent("bind", "pci", path, bdf),
                DeviceEvent("add", "net", f"{path}/net/ens1f0v{i}", f"ens1f0v{i}")]
    return out


def test_bdf_of_events() -> None:
    assert bdf_of(DeviceEvent("add", "pci", "/sys/devices/pci0000:00/0000:3b:02.0", "0000:3b:02.0")) == "0000:3b:02.0"
    assert bdf_of(DeviceEvent("move", "net", "/sys/devices/pci0000:00/0000:3b:02.0/net/eth3", "eth3")) == "0000:3b:02.0"
    assert bdf_of(DeviceEvent("add", "net", "/sys/devices/virtual/net/veth1", "veth1")) is None


def test_a_burst_is_applied_once_after_it_went_quiet(fs: FakeSysfs) -> None:
    fs.add_pf(PF, total_vfs=16)
    inventory = Inventory(str(fs.root))
    clock = Clock()
    source = QueueEventSource()
    watcher = UdevWatcher(inventory, source, debounce=0.25, max_delay=2.0, rescan_interval=300, clock=clock)

    fs.create_vfs(PF, 16)
    for event in vf_events(fs, 16):
        source.put(event)
    watcher.run_once(0)
    assert inventory.model.vfs == {} and inventory.version == 0      # still inside the debounce window

    clock.now += 0.3
    watcher.run_once(0)
    assert len(inventory.model.vfs) == 16 and inventory.version == 1   # one refresh for 48 events
    assert inventory.model.pfs[PF].num_vfs == 16


def test_a_never_ending_burst_is_applied_after_max_delay(fs: FakeSysfs) -> None:
    fs.add_pf(PF, total_vfs=4)
    inventory = Inventory(str(fs.root))
    clock = Clock()
    source = QueueEventSource()
    watcher = UdevWatcher(inventory, source, debounce=0.25, max_delay=1.0, clock=clock)
    fs.create_vfs(PF, 4)
    for _ in range(5):       # an event every 0.2 s: never quiet for 0.25 s
        source.put(vf_events(fs, 1)[0])
        watcher.run_once(0)
        clock.now += 0.2
    source.put(vf_events(fs, 1)[0])
    watcher.run_once(0)
    assert len(inventory.model.vfs) == 4


def test_removal_and_driver_change_events(fs: FakeSysfs, core) -> None:
    fs.add_pf(PF, total_vfs=4, num_vfs=4)
    inventory = Inventory(str(fs.root))
    watcher = UdevWatcher(inventory, QueueEventSource(), debounce=0)
    vf1 = fs.vf_bdf(PF, 1)
    core.write(str(fs.root / "bus/pci/drivers/iavf/unbind"), vf1, 1)
    watcher.handle(DeviceEvent("unbind", "pci", f"/sys/devices/pci0000:00/{vf1}", vf1))
    watcher.flush()
    assert inventory.model.vf(vf1).state == "unbound"

    fs.remove_vfs(PF)
    watcher.handle(DeviceEvent("remove", "pci", f"/sys/devices/pci0000:00/{vf1}", vf1))
    watcher.flush()
    assert inventory.model.vfs == {}


def test_periodic_rescan_catches_changes_without_events(fs: FakeSysfs) -> None:
    fs.add_pf(PF, total_vfs=4)
    inventory = Inventory(str(fs.root))
    clock = Clock()
    watcher = UdevWatcher(inventory, QueueEventSource(), rescan_interval=60, clock=clock)
    fs.create_vfs(PF, 3)               # no event reaches us (e.g. a container without udev)
    watcher.run_once(0)
    assert inventory.model.vfs == {}
    clock.now += 61
    watcher.run_once(0)
    assert len(inventory.model.vfs) == 3


def test_the_watcher_thread_applies_events(fs: FakeSysfs) -> None:
    fs.add_pf(PF, total_vfs=8)
    inventory = Inventory(str(fs.root))
    changed = threading.Event()
    inventory.subscribe(lambda model, bdfs: changed.set() if len(model.vfs) == 8 else None)
    source = QueueEventSource()
    watcher = UdevWatcher(inventory, source, debounce=0.05)
    watcher.start()
    try:
        fs.create_vfs(PF, 8)
        for event in vf_events(fs, 8):
            source.put(event)
        assert changed.wait(10)
    finally:
        watcher.stop()
    assert sorted(inventory.model.pfs[PF].vfs) == list(range(8))
