"""Every run proves its outcome: after ADD the pod has each interface with an address in its
network's subnet; after DEL the pod has only `lo`, no lease names the container, no journal
or cache entry is left, and the host holds no port or route of the pod. A run that fails a
check raises `BrokenRun`; it never becomes a number."""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .node import Node
from .procs import Call, ip
from .scenarios import Network, Scenario


class BrokenRun(Exception):
    """A run whose outcome is wrong (or that failed outright); the message says what is wrong."""


def pod_interfaces(netns: str) -> dict[str, list[str]]:
    """{ifname: [IPv4 address/prefix, ...]} inside the netns."""
    out = ip("-j", "-n", netns, "-4", "addr", "show")
    addrs = {link["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                              if a.get("family") == "inet"] for link in json.loads(out or "[]")}
    for link in json.loads(ip("-j", "-n", netns, "link", "show") or "[]"):
        addrs.setdefault(link["ifname"], [])
    return addrs


def parse_results(stdout: str) -> list[dict[str, Any]]:
    """The JSON objects a plugin (or the floor driver, one per delegate) printed."""
    decoder = json.JSONDecoder()
    text, pos, out = stdout.strip(), 0, []
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        out.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def check_add(call: Call, netns: str, networks: Iterable[Network]) -> list[str]:
    if not call.ok:
        return [f"ADD failed: {call.describe()}"]
    problems: list[str] = []
    try:
        results = parse_results(call.stdout)
    except ValueError:
        return [f"ADD printed no valid result: {call.stdout[:300]!r}"]
    if not results or not any(r.get("ips") for r in results):
        problems.append(f"ADD result has no IPs: {call.stdout[:300]!r}")
    if any("code" in r and "msg" in r for r in results):
        problems.append(f"ADD printed a CNI error: {call.stdout[:300]!r}")
    have = pod_interfaces(netns)
    expected = [n for n in networks if n.netdev]
    for net in expected:
        if net.ifname not in have:
            problems.append(f"{net.ifname} ({net.name}) missing in the pod; it has {sorted(have)}")
            continue
        subnet = ipaddress.ip_network(net.subnet) if net.subnet else None
        if subnet and not any(ipaddress.ip_interface(a).ip in subnet for a in have[net.ifname]):
            problems.append(f"{net.ifname} ({net.name}) has no address in {subnet}: {have[net.ifname]}")
    extra = set(have) - {"lo"} - {n.ifname for n in expected}
    if extra:
        problems.append(f"unexpected interfaces in the pod: {sorted(extra)}")
    return problems


def leases_of(ipam_dir: Path, container_id: str) -> list[str]:
    """host-local lease files (named by IP, first line = container ID) held by the container."""
    found = []
    for path in ipam_dir.glob("*/*") if ipam_dir.exists() else []:
        try:
            ipaddress.ip_address(path.name)
        except ValueError:
            continue
        try:
            owner = path.read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            continue
        if owner == container_id:
            found.append(f"{path.parent.name}/{path.name}")
    return found


def check_del(call: Call, netns: str, container_id: str, node: Node, leftovers: list[str]) -> list[str]:
    problems = [] if call.ok else [f"DEL failed: {call.describe()}"]
    left = sorted(set(pod_interfaces(netns)) - {"lo"})
    if left:
        problems.append(f"interfaces left in the pod after DEL: {left}")
    leases = leases_of(node.ipam_dir, container_id)
    if leases:
        problems.append(f"IPAM leases left after DEL: {leases}")
    return problems + leftovers


def check_host_clean(node: Node, scenario: Scenario) -> list[str]:
    """After every pod of a round is gone: no port on the scenario's bridges, nothing of the
    ptp networks on the host (the host veth carries the gateway address and the pod route)."""
    problems = []
    for net in scenario.networks:
        if net.plugin == "bridge":
            ports = node.bridge_ports(net.config["bridge"])
            if ports:
                problems.append(f"ports left on bridge {net.config['bridge']} ({net.name}): {ports}")
        if net.host_netdev and not Path(f"/sys/class/net/{net.host_netdev}").exists():
            problems.append(f"VF netdev {net.host_netdev} ({net.name}) is not back on the host")
        if net.plugin == "ptp" and net.subnet:
            routes = ip("-4", "route", "show", "root", net.subnet).strip()
            if routes:
                problems.append(f"host routes left in {net.subnet} ({net.name}): {routes.splitlines()}")
    return problems
