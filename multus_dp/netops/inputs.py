"""Input checks and normalisation shared by both implementations, so bad input is
refused the same way (EINVAL, before any kernel call) whichever one runs."""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, replace
from typing import Any

from .errors import invalid
from .types import NetnsRef
from .vftables import DEFAULT_VLAN_PROTO, link_state_value, vlan_proto_value

IFNAMSIZ = 16


def check_ifname(name: str, op: str) -> str:
    """The kernel's dev_valid_name(): 1-15 bytes, not . or .., no '/', ':' or whitespace."""
    raw = name.encode() if isinstance(name, str) else b""
    if (not raw or len(raw) >= IFNAMSIZ or name in (".", "..")
            or any(c in name for c in "/:") or any(c.isspace() for c in name)):
        raise invalid(f"{op} {name!r}: invalid interface name (1-15 bytes, no '/', ':' or whitespace)")
    return name


def check_netns(ref: NetnsRef, op: str, dev: str) -> str | int | None:
    if ref is None or isinstance(ref, int) and not isinstance(ref, bool):
        if isinstance(ref, int) and ref < 0:
            raise invalid(f"{op} {dev}: invalid netns fd {ref}")
        return ref
    if isinstance(ref, (str, os.PathLike)):
        path = os.fspath(ref)
        if not path:
            raise invalid(f"{op} {dev}: empty netns path")
        return path
    raise invalid(f"{op} {dev}: netns must be a path or an fd, not {type(ref).__name__}")


def parse_mac(mac: str, op: str, dev: str) -> bytes:
    parts = mac.split(":") if isinstance(mac, str) else []
    try:
        raw = bytes(int(p, 16) for p in parts) if len(parts) == 6 and all(len(p) == 2 for p in parts) else b""
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise invalid(f"{op} {dev}: invalid MAC address {mac!r}")
    return raw


def check_mtu(mtu: int, op: str, dev: str) -> int:
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 0xFFFFFFFF:
        raise invalid(f"{op} {dev}: invalid MTU {mtu!r}")
    return mtu


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


TEMP_PREFIX = "mdpt"


def temp_name() -> str:
    """A name nothing else uses, for the moment a link is between netns (a crash in that
    moment leaves the link under it: DEL looks for links with this prefix)."""
    return TEMP_PREFIX + secrets.token_hex(5)  # 14 bytes


@dataclass(frozen=True)
class Addr:
    family: int
    addr: bytes
    prefixlen: int
    text: str  # "10.1.2.3/24" as given back in messages


def parse_cidrs(cidrs: list[str], op: str, dev: str) -> list[Addr]:
    out = []
    for cidr in cidrs:
        try:
            iface = ipaddress.ip_interface(cidr)
        except ValueError:
            raise invalid(f"{op} {dev}: invalid address {cidr!r} (want a CIDR like 10.1.2.3/24)") from None
        family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        out.append(Addr(family, iface.ip.packed, iface.network.prefixlen, f"{iface.ip}/{iface.network.prefixlen}"))
    return out


@dataclass(frozen=True)
class Route:
    family: int
    dst: bytes
    dst_len: int
    gw: bytes | None
    step: str  # "add route 10.2.0.0/16 via 10.1.1.1", as in messages


def parse_routes(routes: list[dict[str, str]], op: str, dev: str) -> list[Route]:
    out = []
    for route in routes:
        if not isinstance(route, dict) or "dst" not in route:
            raise invalid(f"{op} {dev}: a route needs a 'dst' (got {route!r})")
        try:
            net = ipaddress.ip_network(route["dst"], strict=False)
            gw = ipaddress.ip_address(route["gw"]) if route.get("gw") else None
        except ValueError as exc:
            raise invalid(f"{op} {dev}: invalid route {route!r}: {exc}") from None
        if gw is not None and gw.version != net.version:
            raise invalid(f"{op} {dev}: route {route!r} mixes IPv4 and IPv6")
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        step = f"add route {net}" + (f" via {gw}" if gw is not None else "")
        out.append(Route(family, net.network_address.packed, net.prefixlen, gw.packed if gw else None, step))
    return out


@dataclass(frozen=True)
class VfRequest:
    """set_vf's arguments, checked; None = leave as is."""
    vf: int
    mac: bytes | None = None
    vlan: int | None = None
    qos: int = 0
    vlan_proto: int = DEFAULT_VLAN_PROTO
    spoofchk: bool | None = None
    trust: bool | None = None
    link_state: int | None = None
    min_tx_rate: int | None = None
    max_tx_rate: int | None = None

    @property
    def sets_rate(self) -> bool:
        return self.min_tx_rate is not None or self.max_tx_rate is not None


def _uint(value: object, what: str, op: str, dev: str, top: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise invalid(f"{op} {dev}: invalid {what} {value!r} (0-{top})")
    return value


def parse_vf_request(pf: str, vf: int, *, mac: str | None = None, vlan: int | None = None,
                     qos: int | None = None, vlan_proto: int | str | None = None,
                     spoofchk: bool | None = None, trust: bool | None = None,
                     link_state: str | int | None = None, min_tx_rate: int | None = None,
                     max_tx_rate: int | None = None) -> VfRequest:
    op, dev = "set_vf", f"{pf} vf {vf}"
    _uint(vf, "VF index", op, dev, 0xFFFF)
    if vlan is None and (qos is not None or vlan_proto is not None):
        raise invalid(f"{op} {dev}: qos and vlan_proto need a vlan")
    proto = DEFAULT_VLAN_PROTO if vlan_proto is None else vlan_proto_value(vlan_proto)
    if proto is None:
        raise invalid(f"{op} {dev}: invalid vlan_proto {vlan_proto!r} (802.1q, 802.1ad, 0x8100 or 0x88a8)")
    state: int | None = None
    if link_state is not None:
        state = link_state_value(link_state)
        if state is None:
            raise invalid(f"{op} {dev}: invalid link_state {link_state!r} (auto, enable or disable)")
    rates = [None if r is None else _uint(r, name, op, dev, 0xFFFFFFFF)
             for r, name in ((min_tx_rate, "min_tx_rate"), (max_tx_rate, "max_tx_rate"))]
    if rates[0] is not None and rates[1] and rates[0] > rates[1]:
        raise invalid(f"{op} {dev}: min_tx_rate {rates[0]} is above max_tx_rate {rates[1]}")
    return VfRequest(
        vf=vf, mac=parse_mac(mac, op, dev) if mac is not None else None,
        vlan=None if vlan is None else _uint(vlan, "vlan", op, dev, 4095),
        qos=0 if qos is None else _uint(qos, "qos", op, dev, 7), vlan_proto=proto,
        spoofchk=None if spoofchk is None else bool(spoofchk), trust=None if trust is None else bool(trust),
        link_state=state, min_tx_rate=rates[0], max_tx_rate=rates[1])


def message_vf_request(pf_index: int, vf_index: int, **settings: Any) -> VfRequest:
    """set_vf's request for `settings` as one message carries it alone: a rate left out is 0
    (set_vf itself first reads the current one from the PF)."""
    req = parse_vf_request(f"ifindex{pf_index}", vf_index, **settings)
    if req.sets_rate:
        req = replace(req, min_tx_rate=req.min_tx_rate or 0, max_tx_rate=req.max_tx_rate or 0)
    return req
