"""The pod's default route through one attachment (the multi-net spec's `default-route`).

Every default route of the gateway's family in the pod is removed and one is added via the
requested gateway on that attachment's interface, as Multus does. The socket is opened inside
the netns by the selected implementation (no fork); the route messages are pyroute2's.
"""
from __future__ import annotations

import ipaddress
import os
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .errors import NetOpsError
from .select import get_link_ops


def replace_default_route(netns: str, ifname: str, gateway: str, impl: str | None = None) -> None:
    family = socket.AF_INET6 if ipaddress.ip_address(gateway).version == 6 else socket.AF_INET
    fd = get_link_ops(impl).open_netns_socket(netns)
    ipr = IPRoute(fileno=fd)
    try:
        links = ipr.link_lookup(ifname=ifname)
        if not links:
            raise NetOpsError(19, f"default_route {ifname}: no such device in netns {netns}")
        for route in ipr.get_routes(family=family, table=254):
            if route.get("dst_len") == 0:
                ipr.route("del", family=family, dst_len=0, table=254,
                          oif=route.get_attr("RTA_OIF"), gateway=route.get_attr("RTA_GATEWAY"))
        ipr.route("add", family=family, dst_len=0, table=254, gateway=gateway, oif=links[0])
    except NetlinkError as exc:
        raise NetOpsError(exc.code, f"default_route {ifname} via {gateway} in netns {netns}: "
                                    f"{os.strerror(exc.code)}") from None
    finally:
        ipr.close()
