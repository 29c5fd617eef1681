"""Everything a VF restore must give back, in one comparable value: the PF's view of the VF
(admin MAC, VLAN/QoS, spoofchk, trust, rate, read over netlink) plus the VF's driver, its
driver_override and its host netdev's name, MAC and MTU. Take one before ADD (or bind) and
compare with one after DEL (or restore)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from multus_dp.hardware import sysfs
from tests.lab.support.guest import LabPF
from tests.lab.support.vfinfo import VfInfo, vf_infos


@dataclass(frozen=True)
class VfSnapshot:
    bdf: str
    admin: VfInfo
    driver: str | None
    driver_override: str | None
    netdev: str | None          # None while the VF has no netdev in the host netns (vfio, in a pod)
    mac: str | None
    mtu: int | None


def snapshot(pf: LabPF, vf_bdf: str) -> VfSnapshot:
    model = sysfs.scan("/sys")
    vf = model.vf(vf_bdf)
    assert vf is not None, f"VF {vf_bdf} is not on {pf.name}"
    netdev = vf.netdev
    net = Path("/sys/class/net", netdev) if netdev else None
    return VfSnapshot(
        bdf=vf_bdf, admin=vf_infos(pf.name)[vf.index], driver=vf.driver, driver_override=vf.driver_override,
        netdev=netdev,
        mac=(net / "address").read_text().strip() if net else None,
        mtu=int((net / "mtu").read_text()) if net else None)
