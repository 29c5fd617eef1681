"""Bind a VF to vfio-pci for DPDK mode, and give it back to its driver afterwards.

The kernel author's deterministic order (as driverctl does): pin the device with
`driver_override`, unbind it from its driver, ask the core to `drivers_probe` it, verify
the `driver` link. The override stays while the device belongs to DPDK, so nothing (udev,
a PF reset) hands it back to the kernel driver behind our back. Every write has a deadline.

Refusals (each message names the device and what to do):
- no IOMMU, unless no-IOMMU mode is allowed here *and* enabled in vfio;
- another device of the IOMMU group is held by a kernel driver (vfio could not use the group);
- unless `force`: the device is not a VF, or one of its netdevs is up, has an address or a
  route on the host (binding would cut a link someone uses).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from multus_dp import logs
from multus_dp.base import defaults
from multus_dp.cni.errors import Code
from multus_dp.hardware import sysfs
from multus_dp.hardware.errors import DeviceError, SysfsWriteError
from multus_dp.hardware.writer import DEFAULT_WRITE_DEADLINE, DeadlineWriter, SysfsWriter

VFIO = "vfio-pci"
# drivers vfio tolerates on other members of a group (bridges and the stub driver)
GROUP_SAFE_DRIVERS = {VFIO, "pcieport", "pci-stub"}
log = logs.get("hardware.vfio")


@dataclass
class NetdevUsage:
    addresses: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)


class NetInspector(Protocol):
    def usage(self, ifname: str) -> NetdevUsage:
        """Host addresses and routes of a netdev (empty when it does not exist)."""


class KernelNetInspector:
    """Addresses and routes from the kernel over netlink (pyroute2, imported when first used).

    IPv6 link-local addresses and routes are left out: the kernel adds them by itself.
    """

    def usage(self, ifname: str) -> NetdevUsage:
        from pyroute2 import IPRoute

        with IPRoute() as ip:
            found = ip.link_lookup(ifname=ifname)
            if not found:
                return NetdevUsage()
            index = found[0]
            addresses = [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in ip.get_addr(index=index)
                         if not str(a.get("IFA_ADDRESS", "")).startswith("fe80:")]
            routes = []
            for r in ip.get_routes(oif=index):   # every table; the local one (255) is the addresses'
                if r.get("RTA_OIF") != index or r.get("RTA_TABLE", r["table"]) == 255:
                    continue
                dst = r.get("RTA_DST") or "default"
                if str(dst).startswith(("fe80:", "ff00:")):
                    continue
                routes.append(f"{dst}/{r['dst_len']}" if r.get("RTA_DST") else "default")
            return NetdevUsage(addresses=addresses, routes=routes)


@dataclass
class BindResult:
    bdf: str
    original_driver: str | None        # hand this to restore()
    original_override: str | None
    iommu_group: str | None
    device_nodes: list[str]            # /dev/vfio/vfio and the group's node
    noiommu: bool
    changed: bool                      # False: it already was on vfio-pci


class VfioBinder:
    def __init__(self, sysfs_root: str = sysfs.DEFAULT_SYSFS_ROOT, writer: SysfsWriter | None = None,
                 deadline: float = DEFAULT_WRITE_DEADLINE, *, allow_noiommu: bool = False,
                 net: NetInspector | None = None, dev_root: str = defaults.DEV_ROOT, node_timeout: float = 5.0) -> None:
        self.root = os.fspath(sysfs_root)
        self.writer: SysfsWriter = writer or DeadlineWriter()
        self.deadline = deadline
        self.allow_noiommu = allow_noiommu
        self.net: NetInspector = net or KernelNetInspector()
        self.dev_root = os.fspath(dev_root)
        self.node_timeout = node_timeout

    # --- checks ----------------------------------------------------------------------------
    def refusals(self, bdf: str, force: bool = False) -> list[str]:
        """Why `bdf` must not be bound to vfio-pci now (empty: go ahead)."""
        reasons: list[str] = []
        dev = os.path.join(sysfs.pci_dir(self.root, bdf))
        if not os.path.isdir(os.path.join(self.root, "bus", "pci", "drivers", VFIO)):
            reasons.append("the vfio-pci driver is not loaded (modprobe vfio-pci)")
        if not sysfs.iommu_present(self.root):
            if not self.allow_noiommu:
                reasons.append(f"this node has no IOMMU ({self.root}/class/iommu is empty): enable it "
                               "(intel_iommu=on / amd_iommu=on) or explicitly allow no-IOMMU mode (allowNoIommu)")
            elif not sysfs.noiommu_enabled(self.root):
                reasons.append("no IOMMU and vfio's no-IOMMU mode is off: set "
                               "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode to 1")
        group = sysfs.link_name(os.path.join(dev, "iommu_group"))
        if group is not None:
            for member in sysfs.iommu_group_members(self.root, group):
                driver = sysfs.driver_of(self.root, member)
                if member != bdf and driver not in GROUP_SAFE_DRIVERS and driver is not None:
                    reasons.append(f"IOMMU group {group} also holds {member}, bound to kernel driver {driver}; "
                                   "vfio needs every device of the group on vfio-pci or unbound")
        if force:
            return reasons
        if sysfs.link_name(os.path.join(dev, "physfn")) is None:
            reasons.append("it is not a VF (a PF or a plain NIC): binding it takes the whole port away "
                           "from the host; use force to do it anyway")
        for ifname in sysfs.netdevs_of(self.root, bdf):
            if sysfs.netdev_is_up(self.root, bdf, ifname):
                reasons.append(f"its netdev {ifname} is up on the host")
            use = self.net.usage(ifname)
            if use.addresses:
                reasons.append(f"its netdev {ifname} has addresses {', '.join(use.addresses)}")
            if use.routes:
                reasons.append(f"its netdev {ifname} carries routes {', '.join(use.routes)}")
        return reasons

    # --- bind / restore ------------------------------------------------------------------------
    def bind(self, bdf: str, force: bool = False) -> BindResult:
        if not os.path.exists(os.path.join(sysfs.pci_dir(self.root, bdf), "class")):
            raise DeviceError(bdf, f"no such PCI device under {self.root}/bus/pci/devices")
        driver = sysfs.driver_of(self.root, bdf)
        override = sysfs.driver_override_of(self.root, bdf)
        if driver == VFIO:
            return self._result(bdf, driver, override, changed=False)
        reasons = self.refusals(bdf, force)
        if reasons:
            raise DeviceError(bdf, "refusing to bind to vfio-pci: " + "; ".join(reasons))
        log.info("binding to vfio-pci", extra={"vf": bdf, "phase": f"from {driver or 'no driver'}"})
        try:
            self._write(os.path.join(sysfs.pci_dir(self.root, bdf), "driver_override"), VFIO)
            if driver:
                self._write(os.path.join(self.root, "bus", "pci", "drivers", driver, "unbind"), bdf)
            self._write(os.path.join(self.root, "bus", "pci", "drivers_probe"), bdf)
            now = sysfs.driver_of(self.root, bdf)
            if now != VFIO:
                raise DeviceError(bdf, f"vfio-pci did not take the device (driver is {now or 'none'}); "
                                       "its probe failed: see dmesg (error -22 usually means no IOMMU)",
                                  Code.KERNEL_OPERATION)
            result = self._result(bdf, driver, override, changed=True)
            self._wait_for_nodes(bdf, result.device_nodes)
            return result
        except (DeviceError, SysfsWriteError) as exc:
            problems = self._give_back(bdf, driver, override)
            suffix = f"; rolling back also failed: {'; '.join(problems)}" if problems else "; rolled back"
            raise DeviceError(bdf, f"binding to vfio-pci failed: {exc.msg}{suffix}", exc.code) from exc

    def restore(self, bdf: str, original_driver: str | None, original_override: str | None = None) -> None:
        """Give the device back to `original_driver` (None: leave it unbound)."""
        if not os.path.exists(os.path.join(sysfs.pci_dir(self.root, bdf), "class")):
            raise DeviceError(bdf, f"no such PCI device under {self.root}/bus/pci/devices")
        problems = self._give_back(bdf, original_driver, original_override)
        if problems:
            raise DeviceError(bdf, f"restoring driver {original_driver or '(none)'} failed: {'; '.join(problems)}",
                              Code.KERNEL_OPERATION)

    def _give_back(self, bdf: str, driver: str | None, override: str | None) -> list[str]:
        problems: list[str] = []
        override_path = os.path.join(sysfs.pci_dir(self.root, bdf), "driver_override")
        current = sysfs.driver_of(self.root, bdf)
        steps: list[tuple[str, str]] = []
        if current != driver:
            # pin the wanted driver so the probe cannot pick another one
            steps.append((override_path, driver or "\n"))
            if current:
                steps.append((os.path.join(self.root, "bus", "pci", "drivers", current, "unbind"), bdf))
            if driver:
                steps.append((os.path.join(self.root, "bus", "pci", "drivers_probe"), bdf))
        steps.append((override_path, override or "\n"))
        for path, value in steps:
            try:
                self._write(path, value)
            except SysfsWriteError as exc:
                problems.append(exc.msg)
        now = sysfs.driver_of(self.root, bdf)
        if now != driver:
            problems.append(f"driver is {now or 'none'}, expected {driver or 'none'}")
        if not problems:
            log.info("driver restored", extra={"vf": bdf, "phase": driver or "unbound"})
        return problems

    def _write(self, path: str, value: str) -> None:
        self.writer.write(path, value, self.deadline)

    def _result(self, bdf: str, driver: str | None, override: str | None, changed: bool) -> BindResult:
        group = sysfs.link_name(os.path.join(sysfs.pci_dir(self.root, bdf), "iommu_group"))
        noiommu = group is not None and (sysfs.read_text(os.path.join(
            self.root, "kernel", "iommu_groups", group, "name")) == "vfio-noiommu")
        nodes = [os.path.join(self.dev_root, "vfio", "vfio")]
        if group is not None:
            nodes.append(os.path.join(self.dev_root, "vfio", f"noiommu-{group}" if noiommu else group))
        return BindResult(bdf, driver, override, group, nodes, noiommu, changed)

    def _wait_for_nodes(self, bdf: str, nodes: list[str]) -> None:
        # devtmpfs/udev create the group's node right after the probe; give them a moment
        end = time.monotonic() + self.node_timeout
        while True:
            missing = [n for n in nodes if not os.path.exists(n)]
            if not missing:
                return
            if time.monotonic() >= end:
                raise DeviceError(bdf, f"bound to vfio-pci but {', '.join(missing)} did not appear "
                                       f"within {self.node_timeout:g}s", Code.KERNEL_OPERATION)
            time.sleep(0.02)
