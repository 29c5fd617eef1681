"""CNI results in every spec version and conversion between them (libcni's rules).

Results stay plain dicts. Conversion goes through a canonical 1.1.0 shape:
- 0.1.0/0.2.0 carry `ip4`/`ip6` {ip, gateway, routes}; up-converting turns each into an
  `ips` entry and moves its routes to the top-level `routes`.
- 0.3.x/0.4.0 carry `ips[].version`; 1.x dropped it.
- 1.0.0 <-> 1.1.0 is a relabel; fields new in 1.1.0 are dropped going below it, as
  libcni's typed structs drop them.
- Going down to 0.1/0.2 keeps the first IPv4 and the first IPv6 address only, routes go
  to the family they belong to, interfaces are dropped; no address at all is an error.
"""
from __future__ import annotations

import copy
import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multus_dp.base.validation import describe

from .errors import CNIError, Code
from .versions import parse, require_supported

Result = dict[str, Any]

_IFACE_FIELDS_1_1 = ("mtu", "socketPath", "pciID")
_ROUTE_FIELDS_1_1 = ("mtu", "advmss", "priority", "table", "scope")


def _family(address: str) -> str:
    try:
        return "6" if ipaddress.ip_interface(address).version == 6 else "4"
    except ValueError as exc:
        raise CNIError(Code.DECODE_FAILURE, f"invalid IP address {address!r} in result") from exc


def _is_legacy(version: str) -> bool:
    return parse(version) < (0, 3, 0)


def _to_canonical(result: Result) -> Result:
    """Any version -> 1.1.0 shape (without cniVersion)."""
    version = str(result.get("cniVersion", "0.1.0"))
    require_supported(version)
    if _is_legacy(version):
        out: Result = {}
        ips: list[dict[str, Any]] = []
        routes: list[dict[str, Any]] = []
        for key in ("ip4", "ip6"):
            block = result.get(key)
            if not block:
                continue
            entry: dict[str, Any] = {"address": block["ip"]}
            if block.get("gateway"):
                entry["gateway"] = block["gateway"]
            ips.append(entry)
            for route in block.get("routes") or []:
                routes.append({k: v for k, v in route.items() if k in ("dst", "gw")})
        if ips:
            out["ips"] = ips
        if routes:
            out["routes"] = routes
        if result.get("dns"):
            out["dns"] = copy.deepcopy(result["dns"])
        return out
    out = {k: copy.deepcopy(v) for k, v in result.items() if k != "cniVersion"}
    for ip in out.get("ips") or []:
        ip.pop("version", None)
    return out


def convert(result: Result, to_version: str) -> Result:
    """Convert a result dict (carrying its own cniVersion) to `to_version`."""
    require_supported(to_version)
    canon = _to_canonical(result)
    target = parse(to_version)
    if target < (0, 3, 0):
        return _to_legacy(canon, to_version)
    out: Result = {"cniVersion": to_version}
    out.update(canon)
    if target < (1, 1, 0):
        for iface in out.get("interfaces") or []:
            for field in _IFACE_FIELDS_1_1:
                iface.pop(field, None)
        for route in out.get("routes") or []:
            for field in _ROUTE_FIELDS_1_1:
                route.pop(field, None)
    if target < (1, 0, 0):
        for ip in out.get("ips") or []:
            ip["version"] = _family(ip["address"])
    return _ordered(out)


def _to_legacy(canon: Result, to_version: str) -> Result:
    out: Result = {"cniVersion": to_version}
    for ip in canon.get("ips") or []:
        key = "ip6" if _family(ip["address"]) == "6" else "ip4"
        if key in out:
            continue
        block: dict[str, Any] = {"ip": ip["address"]}
        if ip.get("gateway"):
            block["gateway"] = ip["gateway"]
        out[key] = block
        if "ip4" in out and "ip6" in out:
            break
    if "ip4" not in out and "ip6" not in out:
        raise CNIError(Code.INCOMPATIBLE_VERSION,
                       f"cannot convert result to {to_version}: no valid IP addresses")
    for route in canon.get("routes") or []:
        key = "ip6" if _family(route["dst"]) == "6" else "ip4"
        if key in out:
            entry = {"dst": route["dst"]}
            if route.get("gw"):
                entry["gw"] = route["gw"]
            out[key].setdefault("routes", []).append(entry)
    if canon.get("dns"):
        out["dns"] = copy.deepcopy(canon["dns"])
    return out


_KEY_ORDER = ("cniVersion", "interfaces", "ips", "routes", "dns")


def _ordered(result: Result) -> Result:
    """Stable key order so printed results read like the spec's examples."""
    out = {k: result[k] for k in _KEY_ORDER if k in result}
    out.update({k: v for k, v in result.items() if k not in out})
    return out


def empty_result(version: str) -> Result:
    return {"cniVersion": version}


class _Strict(BaseModel):
    # unknown fields pass through (plugins add their own); known ones must have their type
    model_config = ConfigDict(extra="allow", strict=True)


class _Interface(_Strict):
    name: str
    mac: str | None = None
    sandbox: str | None = None


class _IP(_Strict):
    address: str
    gateway: str | None = None
    interface: int | None = Field(default=None, ge=0)


class _Route(_Strict):
    dst: str
    gw: str | None = None


class _DNS(_Strict):
    nameservers: list[str] | None = None
    domain: str | None = None
    search: list[str] | None = None
    options: list[str] | None = None


class _Result(_Strict):
    cniVersion: str
    interfaces: list[_Interface] | None = None
    ips: list[_IP] | None = None
    routes: list[_Route] | None = None
    dns: _DNS | None = None


class _LegacyIP(_Strict):
    ip: str
    gateway: str | None = None
    routes: list[_Route] | None = None


class _LegacyResult(_Strict):
    cniVersion: str
    ip4: _LegacyIP | None = None
    ip6: _LegacyIP | None = None
    dns: _DNS | None = None


def validate(result: Any) -> Result:
    """The structure of a result a delegate printed: a bad one is the delegate's fault (103),
    found before it reaches conversion, status or the journal."""
    if not isinstance(result, dict):
        raise CNIError(Code.DELEGATE_BAD_OUTPUT, "result is not a JSON object")
    version = result.get("cniVersion")
    if not isinstance(version, str):
        raise CNIError(Code.DELEGATE_BAD_OUTPUT, "result has no cniVersion")
    require_supported(version)
    model = _LegacyResult if _is_legacy(version) else _Result
    try:
        model.model_validate(result)
    except ValidationError as exc:
        raise CNIError(Code.DELEGATE_BAD_OUTPUT, f"invalid result: {describe(exc)}") from exc
    if model is _LegacyResult:
        for key in ("ip4", "ip6"):
            if result.get(key):
                _family(result[key]["ip"])
        return result
    for ip in result.get("ips") or []:
        _family(ip["address"])
    for route in result.get("routes") or []:
        _family(route["dst"])
    return result
