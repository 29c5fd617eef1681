"""The bench node: bridges, an uplink veth and pod netns made for one run, all named with a
prefix that carries the harness's pid, and removed by `cleanup()` — also by a later run when
this one was SIGKILLed (`sweep_orphans`)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .procs import ip

PREFIX = "mb"
_OWNED = re.compile(rf"^{PREFIX}(\d+)[a-z]")
FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class Node:
    def __init__(self, work_dir: Path) -> None:
        self.prefix = f"{PREFIX}{os.getpid()}"
        self.work_dir = work_dir
        self.ipam_dir = work_dir / "ipam"
        self.netns: list[str] = []
        self.links: list[str] = []
        self._n = 0
        self._forward = FORWARD.read_text().strip() if FORWARD.exists() else None

    def name(self, kind: str) -> str:
        self._n += 1
        name = f"{self.prefix}{kind}{self._n}"
        if len(name) > 15:
            raise ValueError(f"interface name {name!r} is longer than 15 bytes")
        return name

    def add_bridge(self) -> str:
        name = self.name("b")
        self.links.append(name)
        ip("link", "add", "name", name, "type", "bridge")
        ip("link", "set", name, "up")
        return name

    def add_uplink(self) -> str:
        """A veth pair standing in for a NIC: macvlan delegates hang off its first end."""
        a, b = self.name("u"), self.name("p")
        self.links += [a, b]
        ip("link", "add", a, "type", "veth", "peer", "name", b)
        ip("link", "set", a, "up")
        ip("link", "set", b, "up")
        return a

    def add_netns(self, label: str) -> str:
        name = f"{self.prefix}n-{label}"
        self.netns.append(name)
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    @staticmethod
    def netns_path(name: str) -> str:
        return f"/run/netns/{name}"

    def bridge_ports(self, bridge: str) -> list[str]:
        brif = Path(f"/sys/class/net/{bridge}/brif")
        return sorted(p.name for p in brif.iterdir()) if brif.exists() else []

    def cleanup(self) -> None:
        for ns in self.netns:
            ip("netns", "del", ns, check=False)
        for link in self.links:
            ip("link", "del", link, check=False)
        self.netns, self.links = [], []
        if self._forward is not None:
            FORWARD.write_text(self._forward)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans() -> list[str]:
    """Remove netns and links left by a bench run whose process is gone; returns their names."""
    removed: list[str] = []
    netns_dir = Path("/run/netns")
    for entry in sorted(netns_dir.iterdir()) if netns_dir.exists() else []:
        m = _OWNED.match(entry.name)
        if m and not _alive(int(m.group(1))):
            ip("netns", "del", entry.name, check=False)
            removed.append(entry.name)
    for link in json.loads(ip("-j", "link", "show") or "[]"):
        name = link.get("ifname", "")
        m = _OWNED.match(name)
        if m and not _alive(int(m.group(1))):
            ip("link", "del", name, check=False)
            removed.append(name)
    return removed
