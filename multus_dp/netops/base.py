"""The front half both implementations share: argument checks, the temporary name,
VF rate completion. Subclasses only talk to the kernel (the `_` methods)."""
from __future__ import annotations

import errno
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

from multus_dp import logs

from .errors import NetOpsError
from .inputs import (Addr, Route, VfRequest, check_ifname, check_mtu, check_netns, parse_cidrs, parse_mac,
                     parse_routes, parse_vf_request, temp_name)
from .types import LinkInfo, NetnsRef, VfState

_log = logs.get("netops")


@dataclass(frozen=True)
class LinkCfg:
    """What to set on a link on the far side of a move (None: leave as is)."""
    mac: bytes | None = None
    mtu: int | None = None
    up: bool = False


class BaseLinkOps(ABC):
    name = "base"

    def move_to_netns(self, ifname: str, netns: NetnsRef, new_name: str, *, src_netns: NetnsRef = None,
                      mac: str | None = None, mtu: int | None = None, up: bool = True) -> int:
        """Move `ifname` from `src_netns` (default: own) into `netns` under a temporary name,
        rename it `new_name`, set MAC/MTU/up there; host altnames are dropped. Returns its
        ifindex in `netns`. On failure the link is put back as it was and NetOpsError raised."""
        op = "move_to_netns"
        check_ifname(ifname, op)
        check_ifname(new_name, op)
        away = check_netns(netns, op, ifname)
        home = check_netns(src_netns, op, ifname)
        cfg = LinkCfg(mac=None if mac is None else parse_mac(mac, op, ifname),
                      mtu=None if mtu is None else check_mtu(mtu, op, ifname), up=bool(up))
        return self._timed(op, ifname, lambda: self._move(op, ifname, home, away, temp_name(), new_name,
                                                          False, None, cfg))

    def move_from_netns(self, ifname: str, netns: NetnsRef, new_name: str, *, dst_netns: NetnsRef = None,
                        mac: str | None = None, mtu: int | None = None) -> int:
        """The reverse: down, altnames dropped, MAC/MTU restored inside `netns`, moved to
        `dst_netns` (default: own) under a temporary name and renamed `new_name` there.
        Returns its ifindex there. On failure the link is put back as it was."""
        op = "move_from_netns"
        check_ifname(ifname, op)
        check_ifname(new_name, op)
        home = check_netns(netns, op, ifname)
        away = check_netns(dst_netns, op, ifname)
        cfg = LinkCfg(mac=None if mac is None else parse_mac(mac, op, ifname),
                      mtu=None if mtu is None else check_mtu(mtu, op, ifname))
        return self._timed(op, ifname, lambda: self._move(op, ifname, home, away, temp_name(), new_name,
                                                          True, cfg, None))

    def _timed(self, op: str, ifname: str, call: Callable[[], int]) -> int:
        start = time.monotonic()
        index = call()
        if _log.isEnabledFor(10):
            _log.debug(f"{op} done by {self.name}", extra={"ifname": ifname, "phase": op,
                                                           "duration_ms": round((time.monotonic() - start) * 1e3, 3)})
        return index

    def add_addresses(self, netns: NetnsRef, ifname: str, cidrs: list[str]) -> None:
        op = "add_addresses"
        check_ifname(ifname, op)
        ns = check_netns(netns, op, ifname)
        self._add_addresses(ns, ifname, parse_cidrs(list(cidrs), op, ifname))

    def add_routes(self, netns: NetnsRef, ifname: str, routes: list[dict[str, str]]) -> None:
        op = "add_routes"
        check_ifname(ifname, op)
        ns = check_netns(netns, op, ifname)
        self._add_routes(ns, ifname, parse_routes(list(routes), op, ifname))

    def link_info(self, netns: NetnsRef, ifname: str) -> LinkInfo:
        op = "link_info"
        check_ifname(ifname, op)
        return self._link_info(check_netns(netns, op, ifname), ifname)

    def open_netns_socket(self, netns: NetnsRef) -> int:
        """A NETLINK_ROUTE socket fd living in `netns`, opened without forking; the caller owns it."""
        return self._open_netns_socket(check_netns(netns, "open_netns_socket", str(netns)))

    @abstractmethod
    def _move(self, op: str, dev: str, home: str | int | None, away: str | int | None, tmp: str,
              new_name: str, down_first: bool, home_cfg: LinkCfg | None, away_cfg: LinkCfg | None) -> int: ...

    @abstractmethod
    def _add_addresses(self, netns: str | int | None, ifname: str, addrs: list[Addr]) -> None: ...

    @abstractmethod
    def _add_routes(self, netns: str | int | None, ifname: str, routes: list[Route]) -> None: ...

    @abstractmethod
    def _link_info(self, netns: str | int | None, ifname: str) -> LinkInfo: ...

    @abstractmethod
    def _open_netns_socket(self, netns: str | int | None) -> int: ...


class BaseVfOps(ABC):
    name = "base"

    def get_vfs(self, pf_ifname: str) -> list[VfState]:
        """Every VF of the PF `pf_ifname` (own netns) as the kernel reports it."""
        check_ifname(pf_ifname, "get_vfs")
        return self._get_vfs(pf_ifname)

    def set_vf(self, pf_ifname: str, vf_index: int, *, mac: str | None = None, vlan: int | None = None,
               qos: int | None = None, vlan_proto: int | str | None = None, spoofchk: bool | None = None,
               trust: bool | None = None, link_state: str | int | None = None,
               min_tx_rate: int | None = None, max_tx_rate: int | None = None) -> None:
        """Configure VF `vf_index` through its PF in one netlink request; None = leave as is.
        vlan 0 clears the VLAN; link_state is auto/enable/disable; rates in Mbps."""
        check_ifname(pf_ifname, "set_vf")
        req = parse_vf_request(pf_ifname, vf_index, mac=mac, vlan=vlan, qos=qos, vlan_proto=vlan_proto,
                               spoofchk=spoofchk, trust=trust, link_state=link_state,
                               min_tx_rate=min_tx_rate, max_tx_rate=max_tx_rate)
        if req.sets_rate and (req.min_tx_rate is None or req.max_tx_rate is None):
            req = self._complete_rates(pf_ifname, req)
        self._set_vf(pf_ifname, req)

    def _complete_rates(self, pf: str, req: VfRequest) -> VfRequest:
        # the kernel sets min and max together: keep the one not asked for
        current = {vf.index: vf for vf in self._get_vfs(pf)}
        if req.vf not in current:
            raise NetOpsError(errno.EINVAL, f"set_vf {pf} vf {req.vf}: no such VF ({len(current)} VFs)")
        vf = current[req.vf]
        return VfRequest(**{**req.__dict__,
                            "min_tx_rate": vf.min_tx_rate if req.min_tx_rate is None else req.min_tx_rate,
                            "max_tx_rate": vf.max_tx_rate if req.max_tx_rate is None else req.max_tx_rate})

    @abstractmethod
    def _get_vfs(self, pf: str) -> list[VfState]: ...

    @abstractmethod
    def _set_vf(self, pf: str, req: VfRequest) -> None: ...
