"""Finding a VF's netdev by what identifies it, under any name, in one netns.

A crash in the middle of a move leaves the netdev under its temporary name (`mdpt...`), in
the pod or on the host; the host's sysfs cannot see into the pod. So the netns' links are
listed (one netlink dump on a socket opened in that netns, no fork) and the VF's netdev is
- the link whose parent device is the VF's PCI address (IFLA_PARENT_DEV_NAME, Linux >= 5.16), or
- for a netdev whose kernel reports no parent device (the simulated NIC's veth ends): a link
  under one of the names we gave it (the temporary move name, CNI_IFNAME, its original name)
  carrying one of the MACs we know for it (its original MAC, the one the network set).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from multus_dp.netops.errors import NetOpsError
from multus_dp.netops.inputs import TEMP_PREFIX
from multus_dp.netops.types import LinkOps, NetnsRef


@dataclass(frozen=True)
class SeenLink:
    name: str
    index: int
    mac: str
    parent: str | None   # the parent device's name (a PCI address for a PCI netdev), when reported


def list_links(links: LinkOps, netns: NetnsRef) -> list[SeenLink]:
    """Every link of `netns` (None: our own)."""
    from pyroute2 import IPRoute  # the slow path of a DEL after a crash only
    from pyroute2.netlink.exceptions import NetlinkError

    fd = links.open_netns_socket(netns)
    try:
        ipr = IPRoute(fileno=fd)
    except BaseException:
        import os
        os.close(fd)
        raise
    try:
        return [SeenLink(name=msg.get_attr("IFLA_IFNAME") or "", index=msg["index"],
                         mac=(msg.get_attr("IFLA_ADDRESS") or "").lower(),
                         parent=msg.get_attr("IFLA_PARENT_DEV_NAME"))
                for msg in ipr.get_links()]
    except (NetlinkError, OSError) as exc:
        raise NetOpsError(getattr(exc, "code", 0) or getattr(exc, "errno", 0) or 0,
                          f"list links in {netns or 'own netns'}: {exc}") from exc
    finally:
        ipr.close()


def find_vf_netdev(links: LinkOps, netns: NetnsRef, bdf: str, names: Collection[str],
                   macs: Collection[str | None]) -> str | None:
    """The name the VF `bdf`'s netdev has in `netns` now, or None when it is not there."""
    seen = list_links(links, netns)
    for link in seen:
        if link.parent == bdf:
            return link.name
    known_macs = {m.lower() for m in macs if m}
    for link in seen:
        ours = link.name.startswith(TEMP_PREFIX) or link.name in names
        if link.parent is None and ours and link.mac in known_macs:
            return link.name
    return None
