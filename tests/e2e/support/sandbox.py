"""Looking into a pod's network namespace the way a user would (`ip` inside the pod)."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass

_LINK = re.compile(r"^\d+:\s+([^:@\s]+)(?:@\S+)?:")
_INET = re.compile(r"^\s+inet\s+(\S+)\s.*\s(\S+)$")


@dataclass(frozen=True)
class Iface:
    name: str
    ipv4: tuple[str, ...]  # CIDRs
    up: bool
    mac: str = ""
    mtu: int = 0


def ifaces_in(netns_path: str) -> dict[str, Iface]:
    """Every interface of the namespace at `netns_path` with its IPv4 addresses."""
    proc = subprocess.run(["nsenter", f"--net={netns_path}", "ip", "-j", "-4", "addr", "show"],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"ip addr in {netns_path}: {proc.stderr.strip()}")
    links = subprocess.run(["nsenter", f"--net={netns_path}", "ip", "-j", "link", "show"],
                           capture_output=True, text=True, timeout=30, check=True)
    addrs = {entry["ifname"]: entry for entry in json.loads(proc.stdout or "[]")}
    out = {}
    for link in json.loads(links.stdout):
        name = link["ifname"]
        cidrs = tuple(f"{a['local']}/{a['prefixlen']}" for a in addrs.get(name, {}).get("addr_info", []))
        out[name] = Iface(name, cidrs, "UP" in link.get("flags", []), link.get("address", ""), link.get("mtu", 0))
    return out


def ping_from(netns_path: str, ifname: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns_path}", "ping", "-c", "2", "-W", "3", "-I", ifname, address],
                          capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class SeenInside:
    """`ip addr` as printed inside a container: link names and IPv4 CIDRs per link."""
    links: list[str]
    ipv4: dict[str, list[str]]


def parse_ip_addr(text: str) -> SeenInside:
    """Parse busybox's or iproute2's `ip addr` output (the inet line ends with the label)."""
    links: list[str] = []
    ipv4: dict[str, list[str]] = {}
    for line in text.splitlines():
        if match := _LINK.match(line):
            links.append(match.group(1))
        elif match := _INET.match(line):
            ipv4.setdefault(match.group(2), []).append(match.group(1))
    return SeenInside(links, ipv4)
