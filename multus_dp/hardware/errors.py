"""Errors of the hardware layer: CNI errors that name the device concerned."""
from __future__ import annotations

from multus_dp.cni.errors import CNIError, Code


class SysfsWriteError(CNIError):
    """A sysfs write failed or did not finish before its deadline."""

    def __init__(self, path: str, value: str, reason: str, *, timed_out: bool = False) -> None:
        what = "did not finish within its deadline" if timed_out else "failed"
        super().__init__(Code.KERNEL_OPERATION, f"writing {value.strip()!r} to {path} {what}: {reason}")
        self.path = path
        self.value = value
        self.timed_out = timed_out


class DeviceError(CNIError):
    """A device is missing, busy or not in a state we may touch."""

    def __init__(self, bdf: str, msg: str, code: int = Code.DEVICE_UNAVAILABLE) -> None:
        super().__init__(code, f"device {bdf}: {msg}")
        self.bdf = bdf
