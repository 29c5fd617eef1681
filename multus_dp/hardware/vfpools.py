"""VF pools for the allocator: pool name -> its VFs, from the device-plugin config and the
hardware inventory.

The config is read once and again only when the file changes (mtime); the assignment is
computed once per inventory version. No lookup scans sysfs: the daemon's inventory is kept
current by udev, thin mode's is one scan made on first use.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from multus_dp.cni.errors import CNIError, Code

if TYPE_CHECKING:   # pools (pydantic models, yaml) is imported on the first lookup only
    from .inventory import Inventory
    from .pools import PoolsConfig


class VfPools:
    def __init__(self, path: str, inventory: Callable[[], Inventory]) -> None:
        self.path = path
        self._inventory = inventory
        self._lock = threading.Lock()
        self._config: PoolsConfig | None = None
        self._stamp: int | None = None
        self._assigned: dict[str, list[str]] = {}
        self._assigned_for: tuple[int, int, int] | None = None   # (config stamp, inventory id, version)

    def config(self) -> PoolsConfig:
        """The device-plugin config, re-read when the file changed (CNIError when unreadable)."""
        return self._load()[0]

    def _load(self) -> tuple[PoolsConfig, int]:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except OSError as exc:
            raise CNIError(Code.INVALID_CONFIG, f"pool config {self.path} cannot be read: {exc.strerror}") from exc
        with self._lock:
            if self._config is None or stamp != self._stamp:
                from . import pools

                self._config, self._stamp = pools.load(self.path), stamp
            return self._config, stamp

    def assigned(self) -> dict[str, list[str]]:
        """Pool name -> its VFs' PCI addresses (every configured pool listed)."""
        config, stamp = self._load()
        inventory = self._inventory()
        # the version first: a change landing in between only makes the next call recompute
        key = (stamp, id(inventory), inventory.version)
        model = inventory.model
        with self._lock:
            if key != self._assigned_for:
                self._assigned, self._assigned_for = config.assign(model), key
            return self._assigned

    def members(self, pool: str) -> list[str]:
        return self.assigned().get(pool, [])
