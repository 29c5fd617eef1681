"""What netops returns and the two interfaces (links, VFs) both implementations provide."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol, Union

# a netns: a path (/run/netns/x, /proc/PID/ns/net), an open fd, or None (own netns)
NetnsRef = Union[str, "os.PathLike[str]", int, None]


@dataclass(frozen=True)
class LinkInfo:
    name: str
    index: int
    mac: str          # "aa:bb:cc:dd:ee:ff"; "" when the link has no L2 address
    mtu: int
    up: bool          # administratively up (IFF_UP)
    altnames: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VfState:
    """One VF as its PF reports it (IFLA_VFINFO_LIST); None where the driver does not say."""
    index: int
    mac: str
    vlan: int
    qos: int
    vlan_proto: int   # 0x8100 (802.1Q) or 0x88a8 (802.1ad)
    spoofchk: bool | None
    trust: bool | None
    link_state: str   # "auto" | "enable" | "disable"
    min_tx_rate: int  # Mbps, 0 = no limit
    max_tx_rate: int


class LinkOps(Protocol):
    name: str

    def move_to_netns(self, ifname: str, netns: NetnsRef, new_name: str, *, src_netns: NetnsRef = None,
                      mac: str | None = None, mtu: int | None = None, up: bool = True) -> int: ...

    def move_from_netns(self, ifname: str, netns: NetnsRef, new_name: str, *, dst_netns: NetnsRef = None,
                        mac: str | None = None, mtu: int | None = None) -> int: ...

    def add_addresses(self, netns: NetnsRef, ifname: str, cidrs: list[str]) -> None: ...

    def add_routes(self, netns: NetnsRef, ifname: str, routes: list[dict[str, str]]) -> None: ...

    def link_info(self, netns: NetnsRef, ifname: str) -> LinkInfo: ...

    def open_netns_socket(self, netns: NetnsRef) -> int: ...


class VfOps(Protocol):
    name: str

    def get_vfs(self, pf_ifname: str) -> list[VfState]: ...

    def set_vf(self, pf_ifname: str, vf_index: int, *, mac: str | None = None, vlan: int | None = None,
               qos: int | None = None, vlan_proto: int | str | None = None, spoofchk: bool | None = None,
               trust: bool | None = None, link_state: str | int | None = None,
               min_tx_rate: int | None = None, max_tx_rate: int | None = None) -> None: ...
