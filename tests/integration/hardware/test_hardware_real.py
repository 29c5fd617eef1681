"""The hardware module against the real kernel: netns liveness, host netdev use, uevents."""
from __future__ import annotations

import time

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.hardware.allocator import Owner, VfAllocator, netns_alive
from multus_dp.hardware.errors import DeviceError
from multus_dp.hardware.udev import PyudevEventSource
from multus_dp.hardware.vfio import KernelNetInspector, VfioBinder
from tests.support.fakesysfs import FakeDriverCore, FakeSysfs
from tests.support.netns import ip


def test_allocations_of_a_deleted_netns_become_reclaimable(tmp_path, netlab) -> None:
    ns_a, ns_b = netlab.add_netns(), netlab.add_netns()
    allocator = VfAllocator(str(tmp_path), pools={"intel.com/a": ["0000:3b:02.0", "0000:3b:02.1"]})
    a = allocator.allocate(Owner("ca", netlab.path(ns_a), "net1", "default/a"), pool="intel.com/a")
    b = allocator.allocate(Owner("cb", netlab.path(ns_b), "net1", "default/b"), pool="intel.com/a")
    assert netns_alive(netlab.path(ns_a)) and allocator.reclaimable() == []
    with pytest.raises(CNIError, match="no free VF"):
        allocator.allocate(Owner("cc", netlab.path(ns_a), "net1", "default/c"), pool="intel.com/a")

    ip("netns", "del", ns_b)
    netlab.netns.remove(ns_b)

    assert not netns_alive(f"/run/netns/{ns_b}")
    assert [r.bdf for r in allocator.reclaimable()] == [b.bdf]
    taken = allocator.allocate(Owner("cc", netlab.path(ns_a), "net1", "default/c"), pool="intel.com/a")
    assert taken.bdf == b.bdf and taken.previous["owner"]["container_id"] == "cb"
    assert allocator.record(a.bdf).owner.container_id == "ca"


def test_kernel_inspector_sees_addresses_and_routes(netlab) -> None:
    a, _ = netlab.add_veth()
    inspector = KernelNetInspector()
    assert inspector.usage(a).addresses == [] and inspector.usage(a).routes == []
    ip("addr", "add", "192.0.2.10/24", "dev", a)
    ip("route", "add", "198.51.100.0/24", "via", "192.0.2.1", "dev", a)
    use = inspector.usage(a)
    assert use.addresses == ["192.0.2.10/24"]
    assert "198.51.100.0/24" in use.routes and "192.0.2.0/24" in use.routes
    assert inspector.usage("nosuchdev0").addresses == []


def test_binder_refuses_a_vf_whose_real_netdev_carries_an_address(tmp_path, netlab) -> None:
    # the fake tree's VF 0 netdev is a real veth end with a real address on the host
    a, _ = netlab.add_veth()
    ip("addr", "add", "192.0.2.20/24", "dev", a)
    fs = FakeSysfs(tmp_path)
    fs.add_pf(num_vfs=2, vf_netdevs={0: a, 1: None})
    binder = VfioBinder(str(fs.root), FakeDriverCore(fs), 2, net=KernelNetInspector(), dev_root=str(fs.dev_root))
    with pytest.raises(DeviceError, match=f"its netdev {a} has addresses 192.0.2.20/24"):
        binder.bind(fs.vf_bdf("0000:3b:00.0", 0))
    assert fs.driver_of(fs.vf_bdf("0000:3b:00.0", 0)) == "iavf"
    binder.bind(fs.vf_bdf("0000:3b:00.0", 1))         # no netdev on the host: fine
    assert fs.driver_of(fs.vf_bdf("0000:3b:00.0", 1)) == "vfio-pci"


def test_pyudev_kernel_source_delivers_net_events(netlab) -> None:
    source = PyudevEventSource(source="kernel")
    a, b = netlab.add_veth()
    seen = []
    end = time.monotonic() + 10
    while time.monotonic() < end and not {a, b} <= {e.name for e in seen if e.subsystem == "net"}:
        event = source.poll(0.5)
        if event is not None:
            seen.append(event)
    names = {e.name for e in seen if e.subsystem == "net" and e.action == "add"}
    assert {a, b} <= names
    assert all(e.sys_path.startswith("/sys/devices/virtual/net/") for e in seen if e.name in (a, b))
