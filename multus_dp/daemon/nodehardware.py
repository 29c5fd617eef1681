"""The node's hardware model for a daemon's lifetime: discovered once, kept current by udev
events and a periodic rescan (the node daemon's, and each on-demand process context's)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from multus_dp import logs
from multus_dp.cni.errors import CNIError, Code

if TYPE_CHECKING:
    from multus_dp.hardware.inventory import Inventory
    from multus_dp.hardware.udev import UdevWatcher

log = logs.get("daemon.hardware")


class NodeHardware:
    """Discover the node's PFs/VFs before the socket exists (the first ADD finds the model
    there; a scan of 4 PFs x 64 VFs takes ~30 ms) and keep the model current with udev events
    and a periodic rescan. A failure leaves the daemon up but not ready, with the reason."""

    def __init__(self, sysfs_root: str, udev: bool, rescan_interval: float) -> None:
        self.sysfs_root = sysfs_root
        self.udev = udev
        self.rescan_interval = rescan_interval
        self.inventory: Inventory | None = None
        self.watcher: UdevWatcher | None = None
        self.error: str | None = None
        self._discover()

    def _discover(self) -> None:
        from multus_dp.hardware.inventory import Inventory
        from multus_dp.hardware.udev import EventSource, QueueEventSource, UdevWatcher

        root = self.sysfs_root
        if not os.path.isdir(root):
            self.error = f"hardware discovery: sysfsRoot {root} is not a directory"
            log.error(self.error)
            return
        try:
            inventory = Inventory(root)
        except Exception as exc:
            log.exception("hardware discovery failed")
            self.error = f"hardware discovery under {root} failed: {exc}"
            return
        source: EventSource = QueueEventSource()  # no events: the periodic rescan alone
        if self.udev:
            try:
                from multus_dp.hardware.udev import PyudevEventSource

                source = PyudevEventSource()
            except Exception as exc:
                log.warning("no udev events (%s); relying on the periodic rescan", exc)
        self.watcher = UdevWatcher(inventory, source, rescan_interval=self.rescan_interval)
        self.watcher.start()
        self.inventory = inventory
        log.info("hardware discovered: %d PF(s), %d VF(s)", len(inventory.model.pfs), len(inventory.model.vfs))

    def require(self) -> Inventory:
        """The inventory, for pool lookups (an ADD is refused anyway while there is none)."""
        if self.inventory is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, self.not_ready() or "hardware not discovered")
        return self.inventory

    def not_ready(self) -> str | None:
        if self.inventory is not None:
            return None
        return self.error or "hardware not discovered yet"

    def rescan(self) -> None:
        """Now, not at the next periodic rescan (node-prep just created or rebound VFs)."""
        if self.inventory is not None:
            self.inventory.rescan()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
