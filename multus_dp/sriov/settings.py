"""The built-in SR-IOV delegate's node settings, declared once.

The plugin config (MultusConf, thin mode) and the daemon config both inherit these keys
(through networks/conf.py ProcessKeys); the delegate reads them from whichever model built
the process context, so no field is copied by hand into a second settings object.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from multus_dp.base import defaults


class SriovKeys(BaseModel):
    # Every key's `description` is its line in docs/configuration.md (scripts/gen-config-docs.py).
    sriovExternal: bool = Field(default=False, description="exec an `sriov` plugin instead of the built-in delegate")
    sysfsRoot: str = Field(default=defaults.SYSFS_ROOT, description="where PFs and VFs are read from")
    kubeletCheckpoint: str = Field(
        default=defaults.KUBELET_CHECKPOINT,
        description="the kubelet's device assignments (fallback of PodResources)")
    sriovPoolsConfig: str = Field(
        default=defaults.SRIOV_POOLS_CONFIG,
        description="device-plugin-format VF pools (multus-dp's own allocator)")
    macReadbackTries: int = Field(
        default=defaults.MAC_READBACK_TRIES, ge=1,
        description="reads of a VF netdev's MAC until it shows the one set")
    macReadbackInterval: float = Field(
        default=defaults.MAC_READBACK_INTERVAL, ge=0,
        description="seconds between those reads")
    udevSettleTimeout: float = Field(
        default=defaults.UDEV_SETTLE_TIMEOUT, ge=0,
        description=("after a vfio round trip, seconds to wait for udev to finish with the VF's netdev (name, MAC "
                     "policy) before restoring it"))
    udevDir: str = Field(default=defaults.UDEV_DIR, description="udev's runtime dir (its database and queue)")
    vfNetdevReturnTimeout: float = Field(
        default=defaults.VF_NETDEV_RETURN_TIMEOUT, ge=0,
        description="DEL/GC after a pod's netns was deleted: seconds to wait for the kernel to hand the VF netdev back")
    sriovSimulatedPf: str | None = Field(
        default=None,
        description="a simulated PF's state file (demo, benchmarks; see sriov/simulated.py)")
