"""Real network namespaces and veth pairs with unique names and guaranteed cleanup."""
from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

_counter = itertools.count()


def ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


class NetLab:
    """Creates netns, veth pairs and bridges; `cleanup()` removes everything it made."""

    def __init__(self) -> None:
        self.prefix = f"t{os.getpid() % 10000}x{next(_counter)}"
        self.netns: list[str] = []
        self.links: list[str] = []
        self._n = itertools.count()
        self._forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()

    def name(self, kind: str) -> str:
        # interface names must fit 15 bytes
        return f"{self.prefix}{kind}{next(self._n)}"[:15]

    def add_netns(self) -> str:
        name = self.name("n")
        ip("netns", "add", name)
        self.netns.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    @staticmethod
    def path(netns: str) -> str:
        return f"/run/netns/{netns}"

    def add_veth(self) -> tuple[str, str]:
        a, b = self.name("a"), self.name("b")
        ip("link", "add", a, "type", "veth", "peer", "name", b)
        self.links += [a, b]
        ip("link", "set", a, "up")
        return a, b

    def track_link(self, name: str) -> None:
        self.links.append(name)

    def links_in(self, netns: str) -> list[str]:
        out = ip("-n", netns, "-o", "link", "show")
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def addrs_in(self, netns: str, ifname: str) -> list[str]:
        out = ip("-n", netns, "-o", "-4", "addr", "show", "dev", ifname)
        return [line.split()[3] for line in out.splitlines()]

    def host_links(self) -> list[str]:
        out = ip("-o", "link", "show")
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def leftover_host_links(self) -> list[str]:
        return [link for link in self.host_links() if link.startswith(self.prefix)]

    def cleanup(self) -> None:
        for ns in self.netns:
            ip("netns", "del", ns, check=False)
        for link in self.links:
            ip("link", "del", link, check=False)
        for link in self.leftover_host_links():
            ip("link", "del", link, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(self._forward)
