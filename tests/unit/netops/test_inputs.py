"""Bad arguments are refused before any kernel call, identically by both implementations
(no root needed: nothing reaches the kernel)."""
from __future__ import annotations

import pytest

from tests.support.prereq import require

from multus_dp.netops import NetOpsError, get_link_ops, native_available

IMPLS = ["pyroute2", "native"]


@pytest.fixture(params=IMPLS)
def ops(request):
    if request.param == "native":
        require(native_available(), "the native netops helper built (pip install -e .)")
    return get_link_ops(request.param)


@pytest.mark.parametrize("call, words", [
    (lambda o: o.move_to_netns("eth1", "/run/netns/p", "a-very-long-name0"), "invalid interface name"),
    (lambda o: o.move_to_netns("eth1", "/run/netns/p", "net/1"), "invalid interface name"),
    (lambda o: o.move_to_netns("eth1", "/run/netns/p", "net1", mac="zz:00:00:00:00:00"), "invalid MAC address"),
    (lambda o: o.move_to_netns("eth1", "/run/netns/p", "net1", mtu=10), "invalid MTU 10"),
    (lambda o: o.move_to_netns("eth1", 3.5, "net1"), "netns must be a path or an fd"),
    (lambda o: o.move_from_netns("net1", -2, "eth1"), "invalid netns fd -2"),
    (lambda o: o.add_addresses("/run/netns/p", "net1", ["10.0.0.300/24"]), "invalid address '10.0.0.300/24'"),
    (lambda o: o.add_routes("/run/netns/p", "net1", [{"gw": "10.0.0.1"}]), "a route needs a 'dst'"),
    (lambda o: o.add_routes("/run/netns/p", "net1", [{"dst": "10.0.0.0/8", "gw": "fd00::1"}]), "mixes IPv4 and IPv6"),
    (lambda o: o.link_info(None, ""), "invalid interface name"),
])
def test_refused_with_einval_naming_the_operation(ops, call, words) -> None:
    with pytest.raises(NetOpsError) as info:
        call(ops)
    assert info.value.errno == 22 and info.value.code == 110
    assert words in info.value.msg
    assert info.value.msg.split()[0] in {"move_to_netns", "move_from_netns", "add_addresses", "add_routes",
                                         "link_info"}
