"""A PF-netlink stand-in that keeps per-VF state for PFs that do not exist here.

veth has no VFs, so the SR-IOV delegate's integration tests pair real veth ends (the VF
netdevs: moves, renames, MACs, MTUs are real) with the package's simulated PF
(multus_dp.sriov.simulated.SimulatedPf, in memory) for the PF side, plus what tests need:
a record of every set_vf call and failures injected into chosen calls.
"""
from __future__ import annotations

import errno

from multus_dp.netops.errors import NetOpsError
from multus_dp.netops.types import VfState
from multus_dp.sriov.simulated import SimulatedPf


class FakePfNetlink(SimulatedPf):
    name = "fake-pf"

    def __init__(self) -> None:
        super().__init__(state_file=None)
        self.calls: list[tuple[str, str, int, dict]] = []
        self._fail: list[tuple[str, int, int]] = []   # (method, calls to let through first, errno)

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

    def get_vfs(self, pf_ifname: str) -> list[VfState]:
        self._maybe_fail("get_vfs", pf_ifname)
        return super().get_vfs(pf_ifname)

    def set_vf(self, pf_ifname: str, vf_index: int, **settings: object) -> None:  # type: ignore[override]
        self.calls.append(("set_vf", pf_ifname, vf_index, {k: v for k, v in settings.items() if v is not None}))
        self._maybe_fail("set_vf", pf_ifname)
        super().set_vf(pf_ifname, vf_index, **settings)  # type: ignore[arg-type]
