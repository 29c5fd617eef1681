"""Both implementations, same real netns and veth, same results and same errors.

Every failure case also checks that nothing is half-done: the link is back where it was,
with its name, MAC, MTU, admin state and altnames, and no temporary name is left anywhere.
"""
from __future__ import annotations

import os
import threading

import pytest

from multus_dp.netops import NetOpsError, get_link_ops, native_available
from multus_dp.netops.netns import current_netns_id
from tests.support.netns import ip
from tests.support.prereq import require


def state(ops, netns, name):
    info = ops.link_info(netns, name)
    return (info.name, info.mac, info.mtu, info.up, sorted(info.altnames))


def no_temp_names(netlab, *netns: str) -> bool:
    names = netlab.host_links() + [n for ns in netns for n in netlab.links_in(ns)]
    return not [n for n in names if n.startswith("mdpt")]


def test_move_to_netns_renames_configures_and_returns_the_new_index(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    ip("link", "property", "add", "dev", a, "altname", f"{a}-hostalias")
    index = ops.move_to_netns(a, netlab.path(pod), "net1", mac="02:11:22:33:44:55", mtu=1400)
    info = ops.link_info(netlab.path(pod), "net1")
    assert (info.index, info.mac, info.mtu, info.up) == (index, "02:11:22:33:44:55", 1400, True)
    assert info.altnames == []  # host altnames do not follow the link into the pod
    assert a not in netlab.host_links() and "net1" in netlab.links_in(pod)
    assert "UP" in ip("-n", pod, "link", "show", "net1").split(">")[0]
    assert no_temp_names(netlab, pod)


def test_move_between_two_pods_by_fd_and_back_home(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    pod1, pod2 = netlab.add_netns(), netlab.add_netns()
    ops.move_to_netns(a, netlab.path(pod1), "net1", up=False)
    assert ops.link_info(netlab.path(pod1), "net1").up is False
    fd = os.open(netlab.path(pod2), os.O_RDONLY)
    try:
        index = ops.move_to_netns("net1", fd, "net7", src_netns=netlab.path(pod1))
        assert ops.link_info(fd, "net7").index == index
    finally:
        os.close(fd)
    assert netlab.links_in(pod1) == ["lo"]
    original_mac = ops.link_info(netlab.path(pod2), "net7").mac
    back = ops.move_from_netns("net7", netlab.path(pod2), a, mac="02:00:00:00:00:42", mtu=1500)
    info = ops.link_info(None, a)
    assert (info.index, info.mac, info.mtu, info.up) == (back, "02:00:00:00:00:42", 1500, False)
    assert original_mac != info.mac and netlab.links_in(pod2) == ["lo"]


def test_original_name_taken_in_the_pod_does_not_clash(ops, netlab) -> None:
    """The temporary name is what makes this work: the pod already has a link called like
    the host one."""
    a, _ = netlab.add_veth()
    c, d = netlab.add_veth()
    pod = netlab.add_netns()
    ip("link", "set", d, "netns", pod)
    ip("-n", pod, "link", "set", d, "name", a)
    ops.move_to_netns(a, netlab.path(pod), "net1")
    assert sorted(netlab.links_in(pod)) == sorted(["lo", a, "net1"])


def test_name_taken_in_the_pod_fails_and_puts_everything_back(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    c, d = netlab.add_veth()
    pod = netlab.add_netns()
    ip("link", "set", d, "netns", pod)
    ip("-n", pod, "link", "set", d, "name", "net1")
    ip("link", "property", "add", "dev", a, "altname", f"{a}-hostalias")
    before = state(ops, None, a)
    with pytest.raises(NetOpsError) as info:
        ops.move_to_netns(a, netlab.path(pod), "net1", mac="02:00:00:00:00:01")
    assert info.value.errno == 17 and info.value.code == 110
    assert info.value.msg == f"move_to_netns {a}: rename to net1 in netns {netlab.path(pod)}: File exists"
    assert state(ops, None, a) == before  # name, MAC, MTU, up, altnames
    assert sorted(netlab.links_in(pod)) == ["lo", "net1"] and no_temp_names(netlab, pod)


def test_failure_after_mac_was_set_restores_the_mac_too(ops, netlab) -> None:
    """MTU above what veth takes fails after rename and MAC: the whole sequence is undone."""
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    before = state(ops, None, a)
    with pytest.raises(NetOpsError) as info:
        ops.move_to_netns(a, netlab.path(pod), "net1", mac="02:00:00:00:00:02", mtu=70000)
    assert info.value.errno == 22
    assert info.value.msg.startswith(f"move_to_netns {a}: set MTU 70000 in netns {netlab.path(pod)}: Invalid argument")
    assert state(ops, None, a) == before
    assert netlab.links_in(pod) == ["lo"] and no_temp_names(netlab, pod)


def test_the_thread_that_failed_stays_in_its_own_netns(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    seen: dict[str, object] = {}

    def worker() -> None:
        start = current_netns_id()
        try:
            ops.move_to_netns(a, netlab.path(pod), "net1", mtu=70000)
        except NetOpsError as exc:
            seen["error"] = exc.errno
        seen["same_netns"] = current_netns_id() == start

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"error": 22, "same_netns": True}
    assert a in netlab.host_links()


def test_missing_device(ops, netlab) -> None:
    pod = netlab.add_netns()
    with pytest.raises(NetOpsError) as info:
        ops.move_to_netns("nosuchdev0", netlab.path(pod), "net1")
    assert info.value.errno == 19
    assert info.value.msg == "move_to_netns nosuchdev0: look up in own netns: No such device"
    with pytest.raises(NetOpsError) as info:
        ops.link_info(netlab.path(pod), "eth0")
    assert info.value.msg == f"link_info eth0: look up in netns {netlab.path(pod)}: No such device"


def test_missing_netns_is_an_error_and_is_not_created(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    missing = f"/run/netns/{netlab.name('gone')}"
    with pytest.raises(NetOpsError) as info:
        ops.move_to_netns(a, missing, "net1")
    assert info.value.errno == 2
    assert info.value.msg == f"move_to_netns {a}: open netns {missing}: No such file or directory"
    with pytest.raises(NetOpsError):
        ops.open_netns_socket(missing)
    assert not os.path.exists(missing) and a in netlab.host_links()


def test_host_name_taken_on_the_way_back_leaves_the_link_in_the_pod(ops, netlab) -> None:
    a, b = netlab.add_veth()
    pod = netlab.add_netns()
    ops.move_to_netns(a, netlab.path(pod), "net1", mac="02:00:00:00:00:03", mtu=1400)
    before = state(ops, netlab.path(pod), "net1")
    with pytest.raises(NetOpsError) as info:
        ops.move_from_netns("net1", netlab.path(pod), b, mtu=1500)  # b exists on the host
    assert info.value.errno == 17
    assert info.value.msg == f"move_from_netns net1: rename to {b} in own netns: File exists"
    assert state(ops, netlab.path(pod), "net1") == before
    assert no_temp_names(netlab, pod)


def test_addresses_and_routes(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    ns = netlab.path(pod)
    ops.move_to_netns(a, ns, "net1")
    ops.add_addresses(ns, "net1", ["10.77.0.2/24", "fd77::2/64"])
    ops.add_routes(ns, "net1", [{"dst": "10.78.0.0/16", "gw": "10.77.0.1"}, {"dst": "0.0.0.0/0", "gw": "10.77.0.1"},
                                {"dst": "10.79.0.0/24"}])
    assert netlab.addrs_in(pod, "net1") == ["10.77.0.2/24"]
    assert "fd77::2/64" in ip("-n", pod, "-6", "addr", "show", "dev", "net1")
    routes = ip("-n", pod, "route", "show")
    assert "default via 10.77.0.1 dev net1" in routes
    assert "10.78.0.0/16 via 10.77.0.1 dev net1" in routes
    assert "10.79.0.0/24 dev net1 scope link" in routes
    with pytest.raises(NetOpsError) as info:
        ops.add_addresses(ns, "net1", ["10.77.0.2/24"])
    assert info.value.errno == 17
    assert info.value.msg.startswith(f"add_addresses net1: add 10.77.0.2/24 in netns {ns}: File exists")
    with pytest.raises(NetOpsError) as info:
        ops.add_routes(ns, "net1", [{"dst": "10.80.0.0/16", "gw": "192.0.2.1"}])
    assert info.value.errno == 101  # ENETUNREACH: the gateway is not on any link
    assert info.value.msg.startswith(f"add_routes net1: add route 10.80.0.0/16 via 192.0.2.1 in netns {ns}: ")


def test_open_netns_socket_lives_in_that_netns(ops, netlab) -> None:
    from pyroute2 import IPRoute

    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    ops.move_to_netns(a, netlab.path(pod), "net1")
    fd = ops.open_netns_socket(netlab.path(pod))
    ipr = IPRoute(fileno=fd)
    try:
        assert sorted(m.get_attr("IFLA_IFNAME") for m in ipr.link("dump")) == ["lo", "net1"]
    finally:
        ipr.close()


def test_both_word_a_kernel_error_identically(netlab) -> None:
    """The same failing call through each implementation on the same link: same errno,
    same text including the kernel's own explanation (extack)."""
    require(native_available(), "native netops helper built (pip install -e .)")
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    errors = []
    for impl in ("native", "pyroute2"):
        with pytest.raises(NetOpsError) as info:
            get_link_ops(impl).move_to_netns(a, netlab.path(pod), "net1", mtu=70000)
        errors.append((info.value.errno, info.value.msg))
    assert errors[0] == errors[1]
    assert " - " in errors[0][1]  # the kernel said why


def test_a_link_with_more_altnames_than_can_be_restored_is_refused_untouched(ops, netlab) -> None:
    a, _ = netlab.add_veth()
    pod = netlab.add_netns()
    names = [f"{a}-alt{i}" for i in range(65)]
    for start in range(0, len(names), 5):  # ip's request buffer takes a few at a time
        ip("link", "property", "add", "dev", a, *[arg for name in names[start:start + 5] for arg in ("altname", name)])
    with pytest.raises(NetOpsError) as info:
        ops.move_to_netns(a, netlab.path(pod), "net1")
    assert info.value.errno == 7  # E2BIG
    assert info.value.msg == f"move_to_netns {a}: look up in own netns: Argument list too long - more than 64 altnames"
    assert a in netlab.host_links() and netlab.links_in(pod) == ["lo"]
    assert len(ip("link", "show", "dev", a).split("altname")) == 66
