"""k8s.v1.cni.cncf.io/network-status entries (multi-net spec v1.3, section 5)."""
from __future__ import annotations

import ipaddress
from typing import Any

from .attachment import Attachment


def status_entry(att: Attachment, result: dict[str, Any] | None,
                 device_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry: name, interface, ips (bare, as Multus writes them), mac, default, dns,
    gateway (as Multus writes it), device-info, default-route (only when requested)."""
    entry: dict[str, Any] = {"name": att.network}
    result = result or {}
    interfaces = result.get("interfaces") or []
    index = next((i for i, iface in enumerate(interfaces) if iface.get("sandbox")), None)
    if index is not None:
        iface = interfaces[index]
        entry["interface"] = iface.get("name", att.ifname)
        if iface.get("mac"):
            entry["mac"] = iface["mac"]
        if iface.get("mtu"):
            entry["mtu"] = iface["mtu"]
    elif device_info is not None:
        entry["interface"] = att.ifname
    ips = [ip for ip in result.get("ips") or [] if index is not None and ip.get("interface") == index]
    if not ips:
        ips = [ip for ip in result.get("ips") or [] if ip.get("interface") is None][:1]
    if ips:
        entry["ips"] = [str(ipaddress.ip_interface(ip["address"]).ip) for ip in ips]
    entry["default"] = att.is_default
    dns = result.get("dns") or {}
    entry["dns"] = {k: v for k, v in dns.items() if k in ("nameservers", "domain", "search") and v}
    gateways = default_gateways(result)
    if gateways:
        entry["gateway"] = gateways
    if att.default_route:
        entry["default-route"] = list(att.default_route)
    if device_info:
        entry["device-info"] = device_info
    return entry


def default_gateways(result: dict[str, Any]) -> list[str]:
    """The gateways of the result's default routes (0.0.0.0/0, ::/0), as the NAD client's
    CreateNetworkStatus writes `gateway`; a default route without `gw` adds nothing (Multus
    would write "<nil>")."""
    out = []
    for route in result.get("routes") or []:
        try:
            if ipaddress.ip_network(str(route.get("dst")), strict=False).prefixlen == 0 and route.get("gw"):
                out.append(str(ipaddress.ip_address(route["gw"])))
        except ValueError:
            continue
    return out
