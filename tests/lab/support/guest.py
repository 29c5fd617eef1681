"""Guest side of the lab tier: the real PF and a NIC reset between tests.

The guest (scripts/lab/guest-prep.sh) exports MULTUS_DP_LAB=1, MULTUS_DP_LAB_PF (the igb PF's
netdev) and MULTUS_DP_LAB_PF_BDF. After every test the NIC goes back to a known state: every
network namespace removed, every driver_override cleared, sriov_numvfs=0, the PF on igb and up.
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from multus_dp.hardware.writer import DeadlineWriter
from tests.support.prereq import require

SYSFS_PCI = Path("/sys/bus/pci")
NETNS_DIR = Path("/run/netns")
RESET_DEADLINE_S = float(os.environ.get("MULTUS_DP_LAB_RESET_TIMEOUT", "60"))
PF_DRIVER = "igb"
IFF_UP = 0x1


@dataclass(frozen=True)
class LabPF:
    """The emulated 82576 PF of the guest."""

    name: str        # its netdev, as the kernel/udev named it
    bdf: str         # 0000:01:00.0

    @property
    def device(self) -> Path:
        return SYSFS_PCI / "devices" / self.bdf

    @property
    def num_vfs(self) -> int:
        return int((self.device / "sriov_numvfs").read_text())

    def vf_bdfs(self) -> list[str]:
        links = sorted(self.device.glob("virtfn*"), key=lambda p: int(p.name.removeprefix("virtfn")))
        return [os.path.basename(os.readlink(link)) for link in links]


def lab_pf_from_env() -> LabPF:
    name, bdf = os.environ.get("MULTUS_DP_LAB_PF", ""), os.environ.get("MULTUS_DP_LAB_PF_BDF", "")
    require(os.environ.get("MULTUS_DP_LAB") == "1" and bool(name) and bool(bdf),
            "the SR-IOV lab guest (MULTUS_DP_LAB=1, MULTUS_DP_LAB_PF, MULTUS_DP_LAB_PF_BDF; "
            "run through pytest on the host or scripts/lab/run-lab-tests)")
    return LabPF(name=name, bdf=bdf)


def settle(timeout_s: float = 20.0) -> None:
    """Wait until systemd-udevd handled every queued event (renames, driver binds)."""
    subprocess.run(["udevadm", "settle", f"--timeout={timeout_s:.0f}"], check=False)


def driver_of(bdf: str) -> str | None:
    link = SYSFS_PCI / "devices" / bdf / "driver"
    return os.path.basename(os.readlink(link)) if link.is_symlink() else None


def write_with_deadline(path: Path, value: str, deadline_s: float = RESET_DEADLINE_S) -> None:
    """sysfs writes that can hang go through the hardware module's one seam for them."""
    DeadlineWriter().write(str(path), value, deadline_s)


def reset_nic(pf: LabPF) -> None:
    """Back to the state guest-prep.sh left: no netns, no VFs, no overrides, PF on igb and up."""
    changed = False
    for netns in sorted(NETNS_DIR.glob("*")) if NETNS_DIR.is_dir() else []:
        subprocess.run(["ip", "netns", "delete", netns.name], check=False, capture_output=True)
        changed = True
    for bdf in pf.vf_bdfs() + [pf.bdf]:
        override = SYSFS_PCI / "devices" / bdf / "driver_override"
        if override.read_text().strip() not in ("", "(null)"):
            write_with_deadline(override, "\n", RESET_DEADLINE_S)
    if driver_of(pf.bdf) != PF_DRIVER:
        if driver_of(pf.bdf):
            write_with_deadline(SYSFS_PCI / "devices" / pf.bdf / "driver/unbind", pf.bdf, RESET_DEADLINE_S)
        write_with_deadline(SYSFS_PCI / "drivers" / PF_DRIVER / "bind", pf.bdf, RESET_DEADLINE_S)
        changed = True
    if pf.num_vfs:
        write_with_deadline(pf.device / "sriov_numvfs", "0", RESET_DEADLINE_S)
        changed = True
    if changed:
        settle()
    # the PF may have come back under another name after a rebind
    with IPRoute() as ip:
        for name in sorted(p.name for p in (pf.device / "net").glob("*")):
            index = ip.link_lookup(ifname=name)
            if index and not ip.get_links(index[0])[0]["flags"] & IFF_UP:
                ip.link("set", index=index[0], state="up")
    assert pf.num_vfs == 0 and not (pf.device / "virtfn0").exists(), "NIC reset left VFs behind"


@pytest.fixture(scope="session")
def lab_pf() -> LabPF:
    return lab_pf_from_env()


def create_vfs(pf: LabPF, count: int) -> list[str]:
    """COUNT VFs on the PF, with udev done renaming and binding them and the PF's link back up;
    their PCI addresses."""
    write_with_deadline(pf.device / "sriov_numvfs", str(count))
    settle()
    bdfs = pf.vf_bdfs()
    assert len(bdfs) == count, f"asked for {count} VFs on {pf.name}, got {bdfs}"
    # enabling SR-IOV resets the PF; igb refuses VF rates (EINVAL) until its link is up again,
    # ~1.4 s later under TCG: a node creates its VFs long before pods use them, so do the tests
    wait_for(lambda: pf_link_up(pf), RESET_DEADLINE_S, f"{pf.name}'s link up after enabling its VFs")
    return bdfs


def pf_link_up(pf: LabPF) -> bool:
    try:
        return (pf.device / "net" / pf.name / "carrier").read_text().strip() == "1"
    except OSError:   # EINVAL while the link is administratively down
        return False


@pytest.fixture(autouse=True)
def clean_nic(lab_pf: LabPF) -> Iterator[None]:
    """Every lab test starts and ends with the NIC reset (sriov_numvfs=0, netns gone, overrides cleared)."""
    if lab_pf.num_vfs or (NETNS_DIR.is_dir() and any(NETNS_DIR.iterdir())):
        reset_nic(lab_pf)
    yield
    reset_nic(lab_pf)


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll PREDICATE until it returns something truthy; AssertionError naming WHAT otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
