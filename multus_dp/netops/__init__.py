"""Kernel operations on links, netns and VFs: one interface, two implementations.

    from multus_dp.netops import get_link_ops, get_vf_ops, NetOpsError
    links = get_link_ops()            # "native" (cffi, default when built) or "pyroute2"
    idx = links.move_to_netns("veth1", "/run/netns/pod", "net1", mac="02:00:00:00:00:01", mtu=1400)

Both raise NetOpsError (CNI code 110, .errno) with the same messages; env
MULTUS_DP_NETOPS=native|pyroute2 picks one. All calls are blocking: from asyncio run
them in a worker thread.
"""
from __future__ import annotations

from .errors import NetOpsError
from .select import ENV, IMPLS, get_link_ops, get_vf_ops, native_available
from .types import LinkInfo, LinkOps, NetnsRef, VfOps, VfState

__all__ = ["ENV", "IMPLS", "LinkInfo", "LinkOps", "NetOpsError", "NetnsRef", "VfOps", "VfState",
           "get_link_ops", "get_vf_ops", "native_available"]
