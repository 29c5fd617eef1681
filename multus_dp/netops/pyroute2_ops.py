"""The pyroute2 implementation, step for step the same as native/netops.c.

Sockets are opened in the target netns by setns in the calling thread (netns.py), never
with IPRoute(netns=...), which forks a process per socket and by default creates a
missing netns. pyroute2 0.9 is asyncio inside: call this from a worker thread, not from
a running event loop.
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import IPBatch, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from .base import BaseLinkOps, BaseVfOps, LinkCfg
from .errors import NetOpsError
from .inputs import Addr, Route, VfRequest, mac_text, message_vf_request
from .netns import Netns, socket_in
from .types import LinkInfo, VfState
from .vftables import DEFAULT_VLAN_PROTO, LINK_STATE_NAMES

IFF_UP = 0x1
RTEXT_FILTER_VF = 1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 254, 3, 0, 253


def _pad_vlan_info() -> None:
    """pyroute2 0.9.7 encodes struct ifla_vf_vlan_info as 14 bytes; the kernel wants
    sizeof() == 16 and answers EINVAL to anything shorter (rtnetlink do_setvfinfo).
    Add the 2 trailing pad bytes the C struct has."""
    ivvi = ifinfmsg.vflist.vfinfo.vf_vlist.ivvi
    if not any(name == "__pad" for name, _ in ivvi.fields):
        ivvi.fields = tuple(ivvi.fields) + (("__pad", "H"),)


_pad_vlan_info()


def _reason(exc: Exception) -> tuple[int, str]:
    """(errno, "strerror[ - kernel extack]"), as netops.c words it."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None) or 0
    text = os.strerror(code)
    extra = exc.args[1] if isinstance(exc, NetlinkError) and len(exc.args) > 1 else None
    if extra and extra != text:
        return code, f"{text} - {extra}"
    return code, text


class _StepFailed(Exception):
    def __init__(self, step: str, cause: Exception) -> None:
        super().__init__(step)
        self.step = step
        self.errno, self.reason = _reason(cause)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Rt:
    """An IPRoute on a socket that lives in `ns`."""

    def __init__(self, ns: Netns, op: str, dev: str) -> None:
        if _loop_running():
            # sync IPRoute runs its own loop and would fail obscurely inside a running one
            raise NetOpsError(errno.EDEADLK, f"{op} {dev}: the pyroute2 netops cannot run inside a running "
                                             "asyncio loop; call it from a worker thread (asyncio.to_thread)")
        self.ns = ns
        fd = socket_in(ns, op, dev)
        try:
            self.ipr = IPRoute(fileno=fd, ext_ack=True)
        except BaseException:
            os.close(fd)
            raise

    def close(self) -> None:
        self.ipr.close()

    def get_link(self, name: str, **extra: Any) -> Any:
        return tuple(self.ipr.link("get", ifname=name, **extra))[0]

    def set_link(self, index: int, **kwargs: Any) -> None:
        self.ipr.link("set", index=index, **kwargs)


@dataclass
class _Link:
    index: int
    name: str
    mac: str
    mtu: int
    up: bool
    altnames: list[str] = field(default_factory=list)


MAX_ALTNAMES = 64  # NETOPS_MAX_ALTNAMES in native/netops.h


def _parse_link(msg: Any) -> _Link:
    props = msg.get_attr("IFLA_PROP_LIST")
    altnames = list(props.get_attrs("IFLA_ALT_IFNAME")) if props is not None else []
    if len(altnames) > MAX_ALTNAMES:
        # as netops.c: more than it can hold and restore
        raise NetlinkError(errno.E2BIG, f"more than {MAX_ALTNAMES} altnames")
    return _Link(index=msg["index"], name=msg.get_attr("IFLA_IFNAME"), mac=msg.get_attr("IFLA_ADDRESS") or "",
                 mtu=msg.get_attr("IFLA_MTU") or 0, up=bool(msg["flags"] & IFF_UP), altnames=altnames)


@dataclass
class _Moving:
    op: str
    dev: str
    orig: _Link
    home: _Rt
    away: _Rt
    home_fd: int
    index: int = 0
    moved: bool = False
    changed_mac: bool = False
    changed_mtu: bool = False
    dropped_alt: bool = False
    downed: bool = False


def _roll_back(m: _Moving) -> str:
    """Put a half-done move back; '' or '; rollback failed: <step>: <reason>'."""
    here = m.away if m.moved else m.home
    index = m.index
    step = ""
    try:
        if m.moved:
            step = "set down"
            here.set_link(index, flags=0, change=IFF_UP)
        restore: dict[str, Any] = {}
        if m.changed_mac:
            restore["address"] = m.orig.mac
        if m.changed_mtu:
            restore["mtu"] = m.orig.mtu
        if restore:
            step = "restore MAC/MTU"
            here.set_link(index, **restore)
        if m.moved:
            step = "move back"
            here.set_link(index, net_ns_fd=m.home_fd, ifname=m.orig.name)
            step = "look up after moving back"
            index = _parse_link(m.home.get_link(m.orig.name)).index
        if m.dropped_alt:
            step = "restore altnames"
            m.home.ipr.link("property_add", index=index, altname=list(m.orig.altnames))
        if m.orig.up and (m.moved or m.downed):
            step = "set up"
            m.home.set_link(index, flags=IFF_UP, change=IFF_UP)
    except (NetlinkError, OSError) as exc:
        return f"; rollback failed: {step}: {_reason(exc)[1]}"
    return ""


def _move_link(m: _Moving, away_fd: int, tmp: str, new_name: str, down_first: bool,
               home_cfg: LinkCfg | None, away_cfg: LinkCfg | None) -> int:
    nsdesc = m.home.ns.desc
    m.index = m.orig.index
    step = ""
    try:
        if down_first and m.orig.up:
            step = "set down"
            m.home.set_link(m.index, flags=0, change=IFF_UP)
            m.downed = True
        if m.orig.altnames:
            step = "drop altnames"
            m.home.ipr.link("property_del", index=m.index, altname=list(m.orig.altnames))
            m.dropped_alt = True
        if home_cfg is not None:
            if home_cfg.mac is not None:
                step = "set MAC"
                m.home.set_link(m.index, address=mac_text(home_cfg.mac))
                m.changed_mac = True
            if home_cfg.mtu:
                step = f"set MTU {home_cfg.mtu}"
                m.home.set_link(m.index, mtu=home_cfg.mtu)
                m.changed_mtu = True
        step = f"move to {m.away.ns.desc}"
        m.home.set_link(m.index, net_ns_fd=away_fd, ifname=tmp)
        m.moved = True
        nsdesc = m.away.ns.desc
        try:
            m.index = _parse_link(m.away.get_link(tmp)).index
        except (NetlinkError, OSError) as exc:
            # it moved but cannot be found: nothing to address a rollback to
            code, why = _reason(exc)
            raise NetOpsError(code, f"{m.op} {m.dev}: look up after the move in {nsdesc}: {why}") from None
        step = f"rename to {new_name}"
        m.away.set_link(m.index, ifname=new_name)
        if away_cfg is not None:
            if away_cfg.mac is not None:
                step = "set MAC"
                m.away.set_link(m.index, address=mac_text(away_cfg.mac))
                m.changed_mac = True
            if away_cfg.mtu:
                step = f"set MTU {away_cfg.mtu}"
                m.away.set_link(m.index, mtu=away_cfg.mtu)
                m.changed_mtu = True
            if away_cfg.up:
                step = "set up"
                m.away.set_link(m.index, flags=IFF_UP, change=IFF_UP)
        return m.index
    except (NetlinkError, OSError) as exc:
        code, why = _reason(exc)
        msg = f"{m.op} {m.dev}: {step} in {nsdesc}: {why}"
        raise NetOpsError(code, msg + _roll_back(m)) from None


class _InNs:
    """Open netns + socket (+ look a link up): the frame of the in-netns operations."""

    def __init__(self, ref: str | int | None, op: str, dev: str, ifname: str | None) -> None:
        self.ns = Netns(ref, op, dev)
        self.rt: _Rt | None = None
        self.link: _Link | None = None
        try:
            self.rt = _Rt(self.ns, op, dev)
            if ifname is not None:
                try:
                    self.link = _parse_link(self.rt.get_link(ifname))
                except (NetlinkError, OSError) as exc:
                    code, why = _reason(exc)
                    raise NetOpsError(code, f"{op} {dev}: look up in {self.ns.desc}: {why}") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.rt is not None:
            self.rt.close()
        self.ns.close()

    def __enter__(self) -> "_InNs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pyroute2LinkOps(BaseLinkOps):
    name = "pyroute2"

    def _move(self, op: str, dev: str, home: str | int | None, away: str | int | None, tmp: str,
              new_name: str, down_first: bool, home_cfg: LinkCfg | None, away_cfg: LinkCfg | None) -> int:
        opened: list[Any] = []
        try:
            home_ns = Netns(home, op, dev, need_fd=True)
            opened.append(home_ns)
            away_ns = Netns(away, op, dev, need_fd=True)
            opened.append(away_ns)
            home_rt = _Rt(home_ns, op, dev)
            opened.append(home_rt)
            away_rt = _Rt(away_ns, op, dev)
            opened.append(away_rt)
            try:
                orig = _parse_link(home_rt.get_link(dev))
            except (NetlinkError, OSError) as exc:
                code, why = _reason(exc)
                raise NetOpsError(code, f"{op} {dev}: look up in {home_ns.desc}: {why}") from None
            moving = _Moving(op=op, dev=dev, orig=orig, home=home_rt, away=away_rt, home_fd=home_ns.fd)
            return _move_link(moving, away_ns.fd, tmp, new_name, down_first, home_cfg, away_cfg)
        finally:
            for thing in reversed(opened):
                thing.close()

    def _add_addresses(self, netns: str | int | None, ifname: str, addrs: list[Addr]) -> None:
        with _InNs(netns, "add_addresses", ifname, ifname) as frame:
            assert frame.rt is not None and frame.link is not None
            for addr in addrs:
                try:
                    frame.rt.ipr.addr("add", index=frame.link.index, family=addr.family,
                                      address=socket.inet_ntop(addr.family, addr.addr), prefixlen=addr.prefixlen)
                except (NetlinkError, OSError) as exc:
                    code, why = _reason(exc)
                    raise NetOpsError(code, f"add_addresses {ifname}: add {addr.text} in {frame.ns.desc}: {why}") from None

    def _add_routes(self, netns: str | int | None, ifname: str, routes: list[Route]) -> None:
        with _InNs(netns, "add_routes", ifname, ifname) as frame:
            assert frame.rt is not None and frame.link is not None
            for route in routes:
                spec: dict[str, Any] = dict(family=route.family, dst_len=route.dst_len, table=RT_TABLE_MAIN,
                                            proto=RTPROT_BOOT, type=1, oif=frame.link.index,
                                            scope=RT_SCOPE_UNIVERSE if route.gw else RT_SCOPE_LINK)
                if route.dst_len:
                    spec["dst"] = socket.inet_ntop(route.family, route.dst)
                if route.gw is not None:
                    spec["gateway"] = socket.inet_ntop(route.family, route.gw)
                try:
                    frame.rt.ipr.route("add", **spec)
                except (NetlinkError, OSError) as exc:
                    code, why = _reason(exc)
                    raise NetOpsError(code, f"add_routes {ifname}: {route.step} in {frame.ns.desc}: {why}") from None

    def _link_info(self, netns: str | int | None, ifname: str) -> LinkInfo:
        with _InNs(netns, "link_info", ifname, ifname) as frame:
            link = frame.link
            assert link is not None
            return LinkInfo(name=link.name, index=link.index, mac=link.mac, mtu=link.mtu, up=link.up,
                            altnames=link.altnames)

    def _open_netns_socket(self, netns: str | int | None) -> int:
        subject = f"fd {netns}" if isinstance(netns, int) else (netns or "own")
        with Netns(netns, "open_netns_socket", subject) as ns:
            return socket_in(ns, "open_netns_socket", subject)


def _vf_spec(req: VfRequest) -> dict[str, Any]:
    """pyroute2's vf={...} for a request; a fresh dict per call (pyroute2 pops keys out of it).
    Key order = attribute order on the wire (vlan list, rate, then the rest)."""
    spec: dict[str, Any] = {"vf": req.vf}
    if req.vlan is not None:
        spec["vlan"] = [{"vlan": req.vlan, "qos": req.qos, "proto": req.vlan_proto}]
    if req.sets_rate:
        spec["rate"] = {"min_tx_rate": req.min_tx_rate or 0, "max_tx_rate": req.max_tx_rate or 0}
    if req.mac is not None:
        spec["mac"] = mac_text(req.mac)
    if req.spoofchk is not None:
        spec["spoofchk"] = int(req.spoofchk)
    if req.trust is not None:
        spec["trust"] = int(req.trust)
    if req.link_state is not None:
        spec["link_state"] = req.link_state
    return spec


def _vf_state(attrs: Any) -> VfState:
    mac = attrs.get_attr("IFLA_VF_MAC")
    vlan = attrs.get_attr("IFLA_VF_VLAN") or {}
    vlist = attrs.get_attr("IFLA_VF_VLAN_LIST")
    proto, vid, qos = DEFAULT_VLAN_PROTO, vlan.get("vlan", 0), vlan.get("qos", 0)
    if vlist is not None:
        infos = vlist.get_attrs("IFLA_VF_VLAN_INFO")
        if infos:
            vid, qos, proto = infos[0]["vlan"], infos[0]["qos"], infos[0]["proto"]
    spoof = attrs.get_attr("IFLA_VF_SPOOFCHK")
    trust = attrs.get_attr("IFLA_VF_TRUST")
    state = attrs.get_attr("IFLA_VF_LINK_STATE")
    rate = attrs.get_attr("IFLA_VF_RATE") or {}

    def tri(value: Any, key: str) -> bool | None:
        raw = None if value is None else value[key]
        return None if raw is None or raw >= 0x80000000 else bool(raw)  # -1: driver does not say

    link_state = state["link_state"] if state is not None else 0
    return VfState(index=mac["vf"] if mac else 0, mac=(mac["mac"] if mac else "00:00:00:00:00:00"),
                   vlan=vid, qos=qos, vlan_proto=proto, spoofchk=tri(spoof, "spoofchk"),
                   trust=tri(trust, "trust"), link_state=LINK_STATE_NAMES.get(link_state, str(link_state)),
                   min_tx_rate=rate.get("min_tx_rate", 0), max_tx_rate=rate.get("max_tx_rate", 0))


class Pyroute2VfOps(BaseVfOps):
    name = "pyroute2"

    def _get_vfs(self, pf: str) -> list[VfState]:
        with _InNs(None, "get_vfs", pf, None) as frame:
            assert frame.rt is not None
            try:
                msg = frame.rt.get_link(pf, ext_mask=RTEXT_FILTER_VF)
            except (NetlinkError, OSError) as exc:
                code, why = _reason(exc)
                raise NetOpsError(code, f"get_vfs {pf}: look up in {frame.ns.desc}: {why}") from None
            if msg.get_attr("IFLA_NUM_VF") is None:
                # veth, bridges...: the kernel reports a VF count only for devices with a parent bus
                raise NetOpsError(95, f"get_vfs {pf}: read VFs in {frame.ns.desc}: {os.strerror(95)}"
                                      " - not an SR-IOV PF (no VF count)")
            vflist = msg.get_attr("IFLA_VFINFO_LIST")
            infos = vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else []
            return [_vf_state(info) for info in infos]

    def _set_vf(self, pf: str, req: VfRequest) -> None:
        dev = f"{pf} vf {req.vf}"
        with _InNs(None, "set_vf", dev, pf) as frame:
            assert frame.rt is not None and frame.link is not None
            try:
                frame.rt.set_link(frame.link.index, vf=_vf_spec(req))
            except (NetlinkError, OSError) as exc:
                code, why = _reason(exc)
                raise NetOpsError(code, f"set_vf {dev}: configure in {frame.ns.desc}: {why}") from None


def build_set_vf_message(pf_index: int, vf_index: int, *, seq: int = 0, pid: int = 0, **settings: Any) -> bytes:
    """The exact RTM_NEWLINK request set_vf sends for `settings` to the PF with ifindex
    `pf_index`, built by pyroute2 and not sent (the golden-bytes tests compare it)."""
    batch = IPBatch()
    batch.link("set", index=pf_index, vf=_vf_spec(message_vf_request(pf_index, vf_index, **settings)))
    data = bytearray(batch.batch)
    # header: len(4) type(2) flags(2) seq(4) pid(4)
    data[8:12] = seq.to_bytes(4, "little")
    data[12:16] = pid.to_bytes(4, "little")
    return bytes(data)
