"""The native implementation: each operation is one call into native/netops.c (cffi,
API mode; the GIL is released while the kernel works)."""
from __future__ import annotations

import os
from typing import Any

from multus_dp._netops_cffi import ffi, lib  # ImportError when not built: see select.py

from .base import BaseLinkOps, BaseVfOps, LinkCfg
from .errors import NetOpsError
from .inputs import Addr, Route, VfRequest, mac_text, message_vf_request
from .types import LinkInfo, VfState
from .vftables import LINK_STATE_NAMES

_MAX_VFS = 256


class _Call:
    """Keeps the cffi buffers of one call alive and turns a -1 into NetOpsError."""

    def __init__(self) -> None:
        self.err = ffi.new("struct netops_err *")
        self._keep: list[Any] = []

    def ns(self, ref: str | int | None) -> Any:
        ns = ffi.new("struct netops_ns *")
        ns.fd = -1
        ns.path = ffi.NULL
        if isinstance(ref, int):
            ns.fd = ref
        elif ref is not None:
            path = ffi.new("char[]", os.fsencode(ref))
            self._keep.append(path)
            ns.path = path
        return ns

    def text(self, value: str) -> Any:
        buf = ffi.new("char[]", value.encode())
        self._keep.append(buf)
        return buf

    def check(self, ret: int) -> int:
        if ret < 0:
            raise NetOpsError(self.err.err, ffi.string(self.err.msg).decode(errors="replace"))
        return ret


def _link_cfg(cfg: LinkCfg | None) -> Any:
    if cfg is None:
        return ffi.NULL
    out = ffi.new("struct netops_link_cfg *")
    if cfg.mac is not None:
        out.mac = list(cfg.mac)
        out.mac_len = 6
    out.mtu = cfg.mtu or 0
    out.up = 1 if cfg.up else 0
    return out


class NativeLinkOps(BaseLinkOps):
    name = "native"

    def _move(self, op: str, dev: str, home: str | int | None, away: str | int | None, tmp: str,
              new_name: str, down_first: bool, home_cfg: LinkCfg | None, away_cfg: LinkCfg | None) -> int:
        call = _Call()
        if op == "move_to_netns":
            return call.check(lib.netops_move_to(call.text(dev), call.ns(away), call.ns(home), call.text(tmp),
                                                 call.text(new_name), _link_cfg(away_cfg), call.err))
        return call.check(lib.netops_move_from(call.text(dev), call.ns(home), call.ns(away), call.text(tmp),
                                               call.text(new_name), _link_cfg(home_cfg), call.err))

    def _add_addresses(self, netns: str | int | None, ifname: str, addrs: list[Addr]) -> None:
        call = _Call()
        arr = ffi.new("struct netops_addr[]", max(len(addrs), 1))
        for slot, addr in zip(arr, addrs):
            slot.family = addr.family
            ffi.memmove(slot.addr, addr.addr, len(addr.addr))
            slot.prefixlen = addr.prefixlen
        call.check(lib.netops_add_addrs(call.ns(netns), call.text(ifname), arr, len(addrs), call.err))

    def _add_routes(self, netns: str | int | None, ifname: str, routes: list[Route]) -> None:
        call = _Call()
        arr = ffi.new("struct netops_route[]", max(len(routes), 1))
        for slot, route in zip(arr, routes):
            slot.family = route.family
            ffi.memmove(slot.dst, route.dst, len(route.dst))
            slot.dst_len = route.dst_len
            if route.gw is not None:
                slot.has_gw = 1
                ffi.memmove(slot.gw, route.gw, len(route.gw))
        call.check(lib.netops_add_routes(call.ns(netns), call.text(ifname), arr, len(routes), call.err))

    def _link_info(self, netns: str | int | None, ifname: str) -> LinkInfo:
        call = _Call()
        out = ffi.new("struct netops_link *")
        call.check(lib.netops_link_info(call.ns(netns), call.text(ifname), out, call.err))
        return LinkInfo(name=ffi.string(out.name).decode(), index=out.index,
                        mac=mac_text(bytes(ffi.buffer(out.mac, out.mac_len))), mtu=out.mtu, up=bool(out.up),
                        altnames=[ffi.string(out.altnames[i]).decode() for i in range(out.n_alt)])

    def _open_netns_socket(self, netns: str | int | None) -> int:
        call = _Call()
        return call.check(lib.netops_open_socket(call.ns(netns), call.err))


def _vf_cfg(req: VfRequest) -> Any:
    cfg = ffi.new("struct netops_vf_cfg *")
    cfg.vf = req.vf
    if req.mac is not None:
        cfg.set_mac = 1
        cfg.mac = list(req.mac)
    if req.vlan is not None:
        cfg.set_vlan = 1
        cfg.vlan = req.vlan
        cfg.qos = req.qos
        cfg.vlan_proto = req.vlan_proto
    cfg.spoofchk = -1 if req.spoofchk is None else int(req.spoofchk)
    cfg.trust = -1 if req.trust is None else int(req.trust)
    cfg.link_state = -1 if req.link_state is None else req.link_state
    if req.sets_rate:
        cfg.set_rate = 1
        cfg.min_tx_rate = req.min_tx_rate or 0
        cfg.max_tx_rate = req.max_tx_rate or 0
    return cfg


def _tristate(value: int) -> bool | None:
    return None if value < 0 else bool(value)


class NativeVfOps(BaseVfOps):
    name = "native"

    def _get_vfs(self, pf: str) -> list[VfState]:
        size = _MAX_VFS
        while True:
            call = _Call()
            out = ffi.new("struct netops_vf[]", size)
            count = call.check(lib.netops_get_vfs(call.text(pf), out, size, call.err))
            if count <= size:
                break
            size = count
        return [VfState(index=v.index, mac=mac_text(bytes(v.mac)), vlan=v.vlan, qos=v.qos,
                        vlan_proto=v.vlan_proto, spoofchk=_tristate(v.spoofchk), trust=_tristate(v.trust),
                        link_state=LINK_STATE_NAMES.get(v.link_state, str(v.link_state)),
                        min_tx_rate=v.min_tx_rate, max_tx_rate=v.max_tx_rate)
                for v in out[0:count]]

    def _set_vf(self, pf: str, req: VfRequest) -> None:
        call = _Call()
        call.check(lib.netops_set_vf(call.text(pf), _vf_cfg(req), call.err))


def build_set_vf_message(pf_index: int, vf_index: int, *, seq: int = 0, pid: int = 0, **settings: Any) -> bytes:
    """The exact RTM_NEWLINK request set_vf sends for `settings` to the PF with ifindex
    `pf_index`, built by the C helper and not sent (the golden-bytes tests compare it)."""
    req = message_vf_request(pf_index, vf_index, **settings)
    buf = ffi.new("unsigned char[]", 4096)
    length = lib.netops_build_set_vf(pf_index, _vf_cfg(req), seq, pid, buf, 4096)
    if length < 0:
        raise NetOpsError(-length, f"set_vf ifindex {pf_index} vf {req.vf}: message too long")
    return bytes(ffi.buffer(buf, length))
