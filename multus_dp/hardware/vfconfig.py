"""VF settings applied through the PF (trust, spoofchk, MAC): the `VfConfigurator` seam.

Production uses `multus_dp.netops.get_vf_ops()` (netlink on the PF, native or pyroute2);
tests pass an in-memory implementation. Only the fields node-prep manages are read back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol


class VfConfigurator(Protocol):
    def set_vf(self, pf_ifname: str, vf_index: int, *, mac: str | None = None, vlan: int | None = None,
               qos: int | None = None, vlan_proto: int | str | None = None, spoofchk: bool | None = None,
               trust: bool | None = None, link_state: str | None = None, min_tx_rate: int | None = None,
               max_tx_rate: int | None = None) -> None: ...

    def get_vfs(self, pf_ifname: str) -> list[Any]:
        """One state object per VF with at least `index`, `mac`, `spoofchk`, `trust`."""


@dataclass
class VfSettings:
    mac: str | None = None
    spoofchk: bool | None = None
    trust: bool | None = None


def settings_of(state: Any) -> tuple[int, VfSettings]:
    """(VF index, the settings node-prep manages) from a netops VfState (or a dict like it)."""
    def get(key: str, default: Any = None) -> Any:
        return state.get(key, default) if isinstance(state, dict) else getattr(state, key, default)

    index = get("index", get("vf"))
    mac = get("mac")
    return int(index), VfSettings(mac=mac.lower() if isinstance(mac, str) else None,
                                  spoofchk=get("spoofchk"), trust=get("trust"))


def default_configurator() -> VfConfigurator:
    """netops' VF operations, imported only when node-prep really needs netlink."""
    from multus_dp.netops import get_vf_ops

    return get_vf_ops()


ZERO_MAC = "00:00:00:00:00:00"


def stable_mac(pf_bdf: str, index: int) -> str:
    """A locally administered unicast MAC that is the same for this VF on every run."""
    digest = hashlib.sha256(f"{pf_bdf}/{index}".encode()).digest()
    first = (digest[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in (first, *digest[1:6]))
