"""A simulated SR-IOV NIC, for the demo and the benchmarks on machines without one.

- `SimulatedPf`: the PF side (the VF table a real PF reports over IFLA_VFINFO_LIST), kept in
  memory or in a JSON file (flock'ed) so a daemon and a CLI see the same VFs.
- `build_sysfs`: a sysfs tree with one PF whose VFs are either kernel-mode, their netdevs
  real veth ends made by the caller, or bound to vfio-pci (DPDK mode).
Point multus-dp at it with `sysfsRoot` and `sriovSimulatedPf` (the state file).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from multus_dp.base.fileio import atomic_write
from multus_dp.netops.errors import NetOpsError
from multus_dp.netops.types import VfState
from multus_dp.netops.vftables import DEFAULT_VLAN_PROTO, LINK_STATE_NAMES, link_state_value, vlan_proto_value


def fresh_vf(index: int) -> VfState:
    return VfState(index=index, mac="00:00:00:00:00:00", vlan=0, qos=0, vlan_proto=DEFAULT_VLAN_PROTO,
                   spoofchk=True, trust=False, link_state="auto", min_tx_rate=0, max_tx_rate=0)


class SimulatedPf:
    """VfOps over a simulated VF table; `state_file=None` keeps it in memory."""

    name = "simulated"

    def __init__(self, state_file: str | None = None) -> None:
        self.state_file = state_file
        self._memory: dict[str, list[VfState]] = {}

    # ---- storage ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _table(self, write: bool) -> Iterator[dict[str, list[VfState]]]:
        if self.state_file is None:
            yield self._memory
            return
        # a lock file beside the table, which is replaced whole: a process killed mid-write
        # (the daemon under SIGKILL) leaves the previous table, as a PF keeps its VF table
        fd = os.open(f"{self.state_file}.lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                with open(self.state_file, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                raw = b""
            data = json.loads(raw) if raw.strip() else {}
            table = {pf: [VfState(**vf) for vf in vfs] for pf, vfs in data.items()}
            yield table
            if write:
                atomic_write(self.state_file, json.dumps({pf: [asdict(v) for v in vfs]
                                                          for pf, vfs in table.items()}).encode(), durable=False)
        finally:
            os.close(fd)

    def add_pf(self, pf_ifname: str, num_vfs: int) -> None:
        with self._table(write=True) as table:
            table[pf_ifname] = [fresh_vf(i) for i in range(num_vfs)]

    def vf(self, pf_ifname: str, index: int) -> VfState:
        with self._table(write=False) as table:
            return table[pf_ifname][index]

    # ---- VfOps -----------------------------------------------------------------------
    def get_vfs(self, pf_ifname: str) -> list[VfState]:
        with self._table(write=False) as table:
            if pf_ifname not in table:
                raise NetOpsError(errno.ENODEV, f"get_vfs {pf_ifname}: no such device")
            return list(table[pf_ifname])

    def set_vf(self, pf_ifname: str, vf_index: int, *, mac: str | None = None, vlan: int | None = None,
               qos: int | None = None, vlan_proto: int | str | None = None, spoofchk: bool | None = None,
               trust: bool | None = None, link_state: str | int | None = None,
               min_tx_rate: int | None = None, max_tx_rate: int | None = None) -> None:
        with self._table(write=True) as table:
            if pf_ifname not in table:
                raise NetOpsError(errno.ENODEV, f"set_vf {pf_ifname}: no such device")
            vfs = table[pf_ifname]
            if not 0 <= vf_index < len(vfs):
                raise NetOpsError(errno.EINVAL, f"set_vf {pf_ifname} vf {vf_index}: no such VF ({len(vfs)} VFs)")
            state = vfs[vf_index]
            if mac is not None:
                state = replace(state, mac=mac.lower())
            if vlan is not None:
                proto = DEFAULT_VLAN_PROTO if vlan_proto is None else vlan_proto_value(vlan_proto)
                if proto is None:
                    raise NetOpsError(errno.EINVAL,
                                      f"set_vf {pf_ifname} vf {vf_index}: invalid vlan_proto {vlan_proto!r}")
                state = replace(state, vlan=vlan, qos=qos or 0, vlan_proto=proto if vlan else DEFAULT_VLAN_PROTO)
            if spoofchk is not None:
                state = replace(state, spoofchk=bool(spoofchk))
            if trust is not None:
                state = replace(state, trust=bool(trust))
            if link_state is not None:
                value = link_state_value(link_state)
                if value is None:
                    raise NetOpsError(errno.EINVAL,
                                      f"set_vf {pf_ifname} vf {vf_index}: invalid link_state {link_state!r}")
                state = replace(state, link_state=LINK_STATE_NAMES[value])
            if min_tx_rate is not None or max_tx_rate is not None:
                state = replace(state, min_tx_rate=state.min_tx_rate if min_tx_rate is None else min_tx_rate,
                                max_tx_rate=state.max_tx_rate if max_tx_rate is None else max_tx_rate)
            vfs[vf_index] = state


def vf_bdf(pf_bdf: str, index: int) -> str:
    domain, bus, _ = pf_bdf.split(":")
    return f"{domain}:{bus}:{0x02 + index // 8:02x}.{index % 8}"


def build_sysfs(root: str, *, pf_bdf: str, pf_netdev: str, vf_netdevs: list[str | None],
                pf_driver: str = "igb", vf_driver: str = "igbvf") -> list[str]:
    """One PF and its VFs under `root`; a VF whose netdev is None is bound to vfio-pci.
    Returns the VF addresses in index order."""
    base = Path(root)
    devices = base / "devices" / "pci0000:00"
    for d in ("bus/pci/devices", "kernel/iommu_groups", "class/iommu/dmar0", "bus/pci/drivers/vfio-pci",
              f"bus/pci/drivers/{pf_driver}", f"bus/pci/drivers/{vf_driver}"):
        (base / d).mkdir(parents=True, exist_ok=True)

    def device(bdf: str, dev_id: str, driver: str, netdev: str | None, group: int) -> Path:
        d = devices / bdf
        d.mkdir(parents=True, exist_ok=True)
        for name, value in (("vendor", "0x8086"), ("device", dev_id), ("class", "0x020000"), ("numa_node", "0"),
                            ("driver_override", "(null)")):
            (d / name).write_text(value + "\n")
        _symlink(base / "bus/pci/devices" / bdf, d)
        _symlink(d / "driver", base / "bus/pci/drivers" / driver)
        _symlink(base / "bus/pci/drivers" / driver / bdf, d)
        (base / "kernel/iommu_groups" / str(group) / "devices").mkdir(parents=True, exist_ok=True)
        _symlink(base / "kernel/iommu_groups" / str(group) / "devices" / bdf, d)
        _symlink(d / "iommu_group", base / "kernel/iommu_groups" / str(group))
        if netdev:
            (d / "net" / netdev).mkdir(parents=True, exist_ok=True)
            (d / "net" / netdev / "type").write_text("1\n")
        return d

    pf_dir = device(pf_bdf, "0x10c9", pf_driver, pf_netdev, 1)
    (pf_dir / "sriov_totalvfs").write_text(f"{len(vf_netdevs)}\n")
    (pf_dir / "sriov_numvfs").write_text(f"{len(vf_netdevs)}\n")
    bdfs = []
    for index, netdev in enumerate(vf_netdevs):
        bdf = vf_bdf(pf_bdf, index)
        vf_dir = device(bdf, "0x10ca", vf_driver if netdev else "vfio-pci", netdev, 2 + index)
        _symlink(vf_dir / "physfn", pf_dir)
        _symlink(pf_dir / f"virtfn{index}", vf_dir)
        bdfs.append(bdf)
    return bdfs


def _symlink(link: Path, target: Path) -> None:
    if link.is_symlink():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))
