"""Syntax rules shared by the annotation forms and the NAD/Network objects.

Each check returns a problem description (str) or None, so callers can put the pod, the
element and the offending value in front of it.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

# the address checks the SR-IOV netconf shares too live in base.formats (re-exported here)
from multus_dp.base.formats import cidr_problem as cidr_problem
from multus_dp.base.formats import device_id_problem as device_id_problem
from multus_dp.base.formats import mac_problem as mac_problem
from multus_dp.base.names import DNS1123_LABEL, DNS1123_SUBDOMAIN
from multus_dp.cni.request import ifname_problem

GUID_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){7}$")
PROTOCOLS = ("tcp", "udp", "sctp")


def name_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        return (f"{value!r} is not a valid DNS-1123 subdomain name (lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters)")
    return None


def namespace_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        return (f"{value!r} is not a valid namespace (DNS-1123 label: lowercase letters, digits and '-', "
                "at most 63 characters)")
    return None


def interface_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    problem = ifname_problem(value)
    return f"{value!r} is not a valid interface name: {problem}" if problem else None


def ip_problem(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return f"{value!r} is not a valid IP address"
    return None


def guid_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not GUID_RE.match(value):
        return f"{value!r} is not an InfiniBand GUID (eight hex octets separated by ':')"
    return None


def port_mapping_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"{value!r} is not an object"
    unknown = set(value) - {"hostPort", "containerPort", "protocol", "hostIP"}
    if unknown:
        return f"unknown key(s) {sorted(unknown)} (allowed: hostPort, containerPort, protocol, hostIP)"
    for key in ("hostPort", "containerPort"):
        port = value.get(key)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            return f"{key} {port!r} must be an integer port in 1-65535"
    protocol = value.get("protocol", "tcp")
    if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
        return f"protocol {protocol!r} must be one of tcp, udp, sctp"
    if "hostIP" in value and value["hostIP"] != "":
        problem = ip_problem(value["hostIP"])
        if problem:
            return f"hostIP: {problem}"
    return None


def bandwidth_problem(value: Any) -> str | None:
    """The bandwidth plugin's rules: non-negative integers; a rate needs a burst."""
    if not isinstance(value, dict):
        return f"{value!r} is not an object"
    keys = ("ingressRate", "ingressBurst", "egressRate", "egressBurst")
    unknown = set(value) - set(keys)
    if unknown:
        return f"unknown key(s) {sorted(unknown)} (allowed: {', '.join(keys)})"
    for key in keys:
        if key in value:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                return f"{key} {v!r} must be a non-negative integer"
    for direction in ("ingress", "egress"):
        if value.get(f"{direction}Rate", 0) > 0 and value.get(f"{direction}Burst", 0) <= 0:
            return f"{direction}Rate is set, so {direction}Burst must be set and greater than 0"
    return None
