"""Waiting for udev to finish with a netdev the kernel just created.

When a VF goes back to its kernel driver (vfio round trip), systemd-udevd names the new
netdev and applies its MAC policy asynchronously; igbvf passes that MAC change on to the PF,
which then reports it as the VF's admin MAC. A restore done before udev is through is undone
by it, so the delegate waits until udev has taken up the device (its database entry
`<udev dir>/data/n<ifindex>` exists) and has no event left in flight (`<udev dir>/queue` is
gone, what `udevadm settle` waits for). The entry alone is not enough: systemd 252 writes it
before the rename (seen in the lab: entry at +129 ms, rename at +156 ms). Without a running
udevd (no `<udev dir>/control`) there is nothing to wait for.
"""
from __future__ import annotations

import os
import time

from multus_dp.base import defaults

DEFAULT_UDEV_DIR = defaults.UDEV_DIR


def udev_running(udev_dir: str = DEFAULT_UDEV_DIR) -> bool:
    return os.path.exists(os.path.join(udev_dir, "control"))


def wait_until_udev_done(ifindex: int, timeout_s: float, udev_dir: str = DEFAULT_UDEV_DIR,
                         interval_s: float = 0.02) -> bool:
    """True once udev has handled netdev `ifindex` (or no udevd runs); False at the deadline."""
    if not udev_running(udev_dir):
        return True
    entry = os.path.join(udev_dir, "data", f"n{ifindex}")
    queue = os.path.join(udev_dir, "queue")
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(entry) or os.path.exists(queue):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True
