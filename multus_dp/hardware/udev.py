"""udev watching: net and pci events update the inventory incrementally, debounced.

Creating 64 VFs fires hundreds of events (add, bind, net add, move for each); they are
collected per PCI address and applied as one refresh once the burst is quiet for `debounce`
seconds (or at the latest after `max_delay`). A full rescan every `rescan_interval` seconds
is the safety net for events that never arrive (udev events are not delivered inside
containers without hostNetwork; see docs/hardware.md). The event source is a seam: production uses
pyudev's netlink monitor, tests put events into a `QueueEventSource`.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from multus_dp import logs
from multus_dp.base.formats import is_bdf
from multus_dp.hardware.inventory import Inventory

log = logs.get("hardware.udev")
ACTIONS = ("add", "remove", "change", "bind", "unbind", "move")


@dataclass(frozen=True)
class DeviceEvent:
    action: str       # add | remove | change | bind | unbind | move
    subsystem: str    # net | pci
    sys_path: str     # /sys/devices/pci0000:00/0000:3b:02.0[/net/ens1f0v0]
    name: str         # the PCI address or the interface name


class EventSource(Protocol):
    def poll(self, timeout: float) -> DeviceEvent | None:
        """The next event, or None after `timeout` seconds without one."""


class QueueEventSource:
    """An event source fed by hand (tests, or a daemon relaying events it got elsewhere)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[DeviceEvent] = queue.Queue()

    def put(self, event: DeviceEvent) -> None:
        self._queue.put(event)

    def poll(self, timeout: float) -> DeviceEvent | None:
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None


class PyudevEventSource:
    """net and pci events from the kernel's netlink (`source="kernel"`) or from udevd ("udev")."""

    def __init__(self, source: str = "udev") -> None:
        import pyudev

        self.monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source=source)
        self.monitor.filter_by("net")
        self.monitor.filter_by("pci")
        self.monitor.start()

    def poll(self, timeout: float) -> DeviceEvent | None:
        device = self.monitor.poll(timeout=timeout)
        if device is None:
            return None
        return DeviceEvent(device.action or "", device.subsystem or "", device.sys_path, device.sys_name)


def bdf_of(event: DeviceEvent) -> str | None:
    """The PCI function an event concerns; None for virtual netdevs (veth, bridges...)."""
    if event.subsystem == "pci":
        return event.name if is_bdf(event.name) else None
    parts = event.sys_path.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-2] == "net" and is_bdf(parts[-3]):
        return parts[-3]
    return None


class UdevWatcher:
    def __init__(self, inventory: Inventory, source: EventSource, *, debounce: float = 0.25,
                 max_delay: float = 2.0, rescan_interval: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inventory = inventory
        self.source = source
        self.debounce = debounce
        self.max_delay = max_delay
        self.rescan_interval = rescan_interval
        self.clock = clock
        self.dirty: set[str] = set()
        self._first_dirty: float | None = None
        self._last_event = 0.0
        self._last_rescan = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, event: DeviceEvent) -> None:
        if event.action not in ACTIONS:
            return
        bdf = bdf_of(event)
        if bdf is None:
            return
        now = self.clock()
        self.dirty.add(bdf)
        self._last_event = now
        if self._first_dirty is None:
            self._first_dirty = now

    def due(self) -> bool:
        if not self.dirty or self._first_dirty is None:
            return False
        now = self.clock()
        return now - self._last_event >= self.debounce or now - self._first_dirty >= self.max_delay

    def flush(self) -> set[str]:
        """Apply the pending changes now; returns the PCI addresses refreshed."""
        dirty, self.dirty, self._first_dirty = self.dirty, set(), None
        if dirty:
            self.inventory.refresh(dirty)
            log.debug("hardware model refreshed", extra={"vf": ",".join(sorted(dirty))})
        return dirty

    def run_once(self, timeout: float) -> None:
        """Wait up to `timeout` for an event, then apply what is due (refresh, periodic rescan)."""
        event = self.source.poll(timeout)
        while event is not None:
            self.handle(event)
            event = self.source.poll(0)
        if self.due():
            self.flush()
        if self.clock() - self._last_rescan >= self.rescan_interval:
            self.dirty, self._first_dirty = set(), None
            self.inventory.rescan()
            self._last_rescan = self.clock()

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_once(min(self.debounce / 2, 1.0) or 0.05)
                except Exception:   # keep watching; the periodic rescan repairs the model
                    log.exception("udev watcher iteration failed")
        self._thread = threading.Thread(target=loop, name="udev-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
