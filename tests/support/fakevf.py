"""A PF-netlink stand-in that keeps per-VF state for PFs that do not exist here.

veth has no VFs, so the SR-IOV delegate's integration tests pair real veth ends (the VF
netdevs: moves, renames, MACs, MTUs are real) with this object for the PF side
(IFLA_VFINFO_LIST): it implements the `VfOps` protocol, validates like the kernel
(index range), records every call, and can be told to fail a chosen call.
"""
from __future__ import annotations

import errno
from dataclasses import replace

from multus_dp.netops.errors import NetOpsError
from multus_dp.netops.types import VfState

LINK_STATES = {0: "auto", 1: "enable", 2: "disable", "auto": "auto", "enable": "enable", "disable": "disable"}
PROTOS = {"802.1q": 0x8100, "802.1ad": 0x88A8, "802.1Q": 0x8100, "802.1AD": 0x88A8}


class FakePfNetlink:
    name = "fake-pf"

    def __init__(self) -> None:
        self.pfs: dict[str, list[VfState]] = {}
        self.calls: list[tuple[str, str, int, dict]] = []
        self._fail: list[tuple[str, int, int]] = []   # (method, after n more calls, errno)

    def add_pf(self, pf_ifname: str, num_vfs: int, *, mac_base: str = "02:00:00:00:ff:") -> None:
        self.pfs[pf_ifname] = [VfState(index=i, mac="00:00:00:00:00:00", vlan=0, qos=0, vlan_proto=0x8100,
                                       spoofchk=True, trust=False, link_state="auto", min_tx_rate=0,
                                       max_tx_rate=0) for i in range(num_vfs)]

    def fail_next(self, method: str = "set_vf", skip: int = 0, err: int = errno.EIO) -> None:
        """Make the (skip+1)-th next call of `method` fail with `err`."""
        self._fail.append((method, skip, err))

    def _maybe_fail(self, method: str, pf: str) -> None:
        for i, (m, skip, err) in enumerate(self._fail):
            if m != method:
                continue
            if skip:
                self._fail[i] = (m, skip - 1, err)
                return
            del self._fail[i]
            raise NetOpsError(err, f"{method} {pf}: injected failure")

    def vf(self, pf_ifname: str, index: int) -> VfState:
        return self.pfs[pf_ifname][index]

    def get_vfs(self, pf_ifname: str) -> list[VfState]:
        self._maybe_fail("get_vfs", pf_ifname)
        if pf_ifname not in self.pfs:
            raise NetOpsError(errno.ENODEV, f"get_vfs {pf_ifname}: no such device")
        return list(self.pfs[pf_ifname])

    def set_vf(self, pf_ifname: str, vf_index: int, *, mac: str | None = None, vlan: int | None = None,
               qos: int | None = None, vlan_proto: int | str | None = None, spoofchk: bool | None = None,
               trust: bool | None = None, link_state: str | int | None = None,
               min_tx_rate: int | None = None, max_tx_rate: int | None = None) -> None:
        settings = {k: v for k, v in dict(mac=mac, vlan=vlan, qos=qos, vlan_proto=vlan_proto, spoofchk=spoofchk,
                                          trust=trust, link_state=link_state, min_tx_rate=min_tx_rate,
                                          max_tx_rate=max_tx_rate).items() if v is not None}
        self.calls.append(("set_vf", pf_ifname, vf_index, settings))
        self._maybe_fail("set_vf", pf_ifname)
        if pf_ifname not in self.pfs:
            raise NetOpsError(errno.ENODEV, f"set_vf {pf_ifname}: no such device")
        vfs = self.pfs[pf_ifname]
        if not 0 <= vf_index < len(vfs):
            raise NetOpsError(errno.EINVAL, f"set_vf {pf_ifname} vf {vf_index}: no such VF ({len(vfs)} VFs)")
        state = vfs[vf_index]
        if mac is not None:
            state = replace(state, mac=mac.lower())
        if vlan is not None:
            proto = PROTOS.get(vlan_proto, vlan_proto) if vlan_proto is not None else 0x8100
            state = replace(state, vlan=vlan, qos=qos or 0, vlan_proto=proto if vlan else 0x8100)
        if spoofchk is not None:
            state = replace(state, spoofchk=bool(spoofchk))
        if trust is not None:
            state = replace(state, trust=bool(trust))
        if link_state is not None:
            state = replace(state, link_state=LINK_STATES[link_state])
        if min_tx_rate is not None or max_tx_rate is not None:
            state = replace(state, min_tx_rate=state.min_tx_rate if min_tx_rate is None else min_tx_rate,
                            max_tx_rate=state.max_tx_rate if max_tx_rate is None else max_tx_rate)
        vfs[vf_index] = state

    def build_set_vf_message(self, pf_index: int, vf_index: int, *, seq: int = 0, pid: int = 0,
                             **settings: object) -> bytes:
        raise NotImplementedError("the fake PF sends no netlink messages")
