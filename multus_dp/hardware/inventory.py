"""The live hardware model: replaced whole on every change, so readers never lock."""
from __future__ import annotations

import threading
from collections.abc import Callable

from multus_dp import logs
from multus_dp.hardware import sysfs
from multus_dp.hardware.sysfs import NodeModel

log = logs.get("hardware.inventory")
Listener = Callable[[NodeModel, set[str] | None], None]   # (new model, changed bdfs or None: full rescan)


class Inventory:
    def __init__(self, sysfs_root: str = sysfs.DEFAULT_SYSFS_ROOT) -> None:
        self.sysfs_root = sysfs_root
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.model: NodeModel = sysfs.scan(sysfs_root)
        self.version = 0      # +1 per change applied (a rescan or an incremental refresh)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def rescan(self) -> NodeModel:
        with self._lock:
            self.model = sysfs.scan(self.sysfs_root)
            self.version += 1
            model = self.model
        self._notify(model, None)
        return model

    def refresh(self, bdfs: set[str]) -> NodeModel:
        with self._lock:
            self.model = sysfs.refresh(self.model, bdfs)
            self.version += 1
            model = self.model
        self._notify(model, set(bdfs))
        return model

    def _notify(self, model: NodeModel, changed: set[str] | None) -> None:
        for listener in self._listeners:
            try:
                listener(model, changed)
            except Exception:   # a listener must not stop the watcher
                log.exception("inventory listener failed")
