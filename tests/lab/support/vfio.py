"""Open a VFIO group the way a DPDK application does (EAL's vfio.c), with plain ioctls.

Container `/dev/vfio/vfio`: VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION(TYPE1v2); group
`/dev/vfio/<g>`: VFIO_GROUP_GET_STATUS (viable?), VFIO_GROUP_SET_CONTAINER, then
VFIO_SET_IOMMU(TYPE1v2), VFIO_GROUP_GET_DEVICE_FD(<bdf>) and VFIO_DEVICE_GET_INFO.
"""
from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

VFIO_TYPE, VFIO_BASE = ord(";"), 100
VFIO_API_VERSION = 0
VFIO_TYPE1v2_IOMMU = 3
VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_DEV = Path("/dev/vfio")


def _io(nr: int) -> int:
    """_IO(VFIO_TYPE, VFIO_BASE + nr): VFIO passes sizes in the structs, not the ioctl number."""
    return (VFIO_TYPE << 8) | (VFIO_BASE + nr)


VFIO_GET_API_VERSION = _io(0)
VFIO_CHECK_EXTENSION = _io(1)
VFIO_SET_IOMMU = _io(2)
VFIO_GROUP_GET_STATUS = _io(3)
VFIO_GROUP_SET_CONTAINER = _io(4)
VFIO_GROUP_GET_DEVICE_FD = _io(6)
VFIO_DEVICE_GET_INFO = _io(7)


@dataclass(frozen=True)
class VfioDeviceView:
    """What a DPDK application learns when it opens the device."""

    api_version: int
    type1v2: bool
    group_viable: bool
    container_set: bool
    device_is_pci: bool
    num_regions: int
    num_irqs: int


def open_like_dpdk(group: str, bdf: str, vfio_dev: Path = VFIO_DEV) -> VfioDeviceView:
    """Open container, group and device; close everything again before returning."""
    fds: list[int] = []
    try:
        container = os.open(vfio_dev / "vfio", os.O_RDWR)
        fds.append(container)
        api = fcntl.ioctl(container, VFIO_GET_API_VERSION)
        type1v2 = fcntl.ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1
        grp = os.open(vfio_dev / group, os.O_RDWR)
        fds.append(grp)
        status = bytearray(struct.pack("II", 8, 0))
        fcntl.ioctl(grp, VFIO_GROUP_GET_STATUS, status, True)
        viable = bool(struct.unpack("II", status)[1] & VFIO_GROUP_FLAGS_VIABLE)
        fcntl.ioctl(grp, VFIO_GROUP_SET_CONTAINER, struct.pack("i", container))
        fcntl.ioctl(grp, VFIO_GROUP_GET_STATUS, status, True)
        container_set = bool(struct.unpack("II", status)[1] & VFIO_GROUP_FLAGS_CONTAINER_SET)
        fcntl.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)
        device = fcntl.ioctl(grp, VFIO_GROUP_GET_DEVICE_FD, bytearray(bdf.encode() + b"\0"), True)
        fds.append(device)
        info = bytearray(struct.pack("IIII", 16, 0, 0, 0))
        fcntl.ioctl(device, VFIO_DEVICE_GET_INFO, info, True)
        _, flags, regions, irqs = struct.unpack("IIII", info)
        return VfioDeviceView(api_version=api, type1v2=type1v2, group_viable=viable,
                              container_set=container_set, device_is_pci=bool(flags & VFIO_DEVICE_FLAGS_PCI),
                              num_regions=regions, num_irqs=irqs)
    finally:
        for fd in reversed(fds):
            os.close(fd)
