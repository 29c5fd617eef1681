"""VF allocation: ownership, durability, reclaim of dead owners, and the 200-way race."""
from __future__ import annotations

import json
import multiprocessing
import os
import threading

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.hardware.allocator import Owner, VfAllocator, netns_alive
from multus_dp.hardware.assignments import CheckpointAssignments
from multus_dp.hardware.resolve import choose_vf

ALIVE = "/proc/self/ns/net"      # a live netns this unprivileged test can point at
VFS = [f"0000:3b:{2 + i // 8:02x}.{i % 8}" for i in range(150)]


def owner(n: int | str, netns: str = ALIVE, ifname: str = "net1") -> Owner:
    return Owner(container_id=f"c{n}" * 4, netns=netns, ifname=ifname, pod=f"default/pod-{n}", pod_uid=f"uid-{n}")


def test_allocate_by_bdf_records_the_owner_durably(tmp_path) -> None:
    alloc = VfAllocator(str(tmp_path)).allocate(owner(1), bdf=VFS[0])
    record = json.loads((tmp_path / "vf" / f"{VFS[0]}.json").read_text())
    assert record["owner"] == {"container_id": "c1c1c1c1", "netns": ALIVE, "ifname": "net1",
                               "pod": "default/pod-1", "pod_uid": "uid-1"}
    assert record["version"] == 1 and alloc.source == "deviceID"
    # a fresh allocator (another process, after a restart) sees the same record
    assert VfAllocator(str(tmp_path)).record(VFS[0]).owner == owner(1)
    assert [p for p in os.listdir(tmp_path / "vf") if p.endswith(".tmp")] == []


def test_a_vf_in_use_is_refused_with_its_owner_named(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path))
    allocator.allocate(owner(1), bdf=VFS[0])
    with pytest.raises(CNIError, match=r"VF 0000:3b:02.0 is already allocated to pod default/pod-1") as err:
        allocator.allocate(owner(2), bdf=VFS[0])
    assert err.value.code == 108


def test_the_same_owner_asking_again_gets_the_same_vf(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path), pools={"intel.com/a": VFS[:4]})
    first = allocator.allocate(owner(1), pool="intel.com/a")
    assert allocator.allocate(owner(1), pool="intel.com/a").bdf == first.bdf
    second_if = allocator.allocate(owner(1, ifname="net2"), pool="intel.com/a")
    assert second_if.bdf != first.bdf


def test_only_the_owner_may_release_or_update(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path))
    allocator.allocate(owner(1), bdf=VFS[0])
    with pytest.raises(CNIError, match="belongs to pod default/pod-1"):
        allocator.release(VFS[0], "c2c2c2c2")
    with pytest.raises(CNIError, match="may not update it"):
        allocator.update(VFS[0], "c2c2c2c2", vlan=5)
    allocator.update(VFS[0], "c1c1c1c1", original={"mac": "02:00:00:00:00:01", "vlan": 0})
    allocator.update(VFS[0], "c1c1c1c1", mtu=1500)
    assert VfAllocator(str(tmp_path)).record(VFS[0]).data == {"original": {"mac": "02:00:00:00:00:01", "vlan": 0},
                                                             "mtu": 1500}
    assert allocator.release(VFS[0], "c1c1c1c1") is True
    assert allocator.record(VFS[0]) is None
    assert allocator.release(VFS[0], "c1c1c1c1") is False    # idempotent


def test_pool_exhaustion_is_a_clear_error(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path), pools={"intel.com/a": VFS[:2]})
    allocator.allocate(owner(1), pool="intel.com/a")
    allocator.allocate(owner(2), pool="intel.com/a")
    with pytest.raises(CNIError, match=r"no free VF in pool intel.com/a for pod default/pod-3.*all 2 VFs"):
        allocator.allocate(owner(3), pool="intel.com/a")
    with pytest.raises(CNIError, match="pool intel.com/b is not configured"):
        allocator.allocate(owner(3), pool="intel.com/b")


def test_reclaim_of_allocations_whose_netns_vanished(tmp_path) -> None:
    gone = tmp_path / "netns-gone"
    placeholder = tmp_path / "netns-unmounted"
    placeholder.write_text("")       # what's left of a netns bind mount after umount: a plain file
    allocator = VfAllocator(str(tmp_path / "state"), pools={"intel.com/a": VFS[:3]})
    allocator.allocate(owner(1), bdf=VFS[0])
    allocator.allocate(owner(2, netns=str(gone)), bdf=VFS[1])
    allocator.allocate(owner(3, netns=str(placeholder)), bdf=VFS[2])
    allocator.update(VFS[1], "c2c2c2c2", original={"vlan": 0, "trust": False})

    assert sorted(a.bdf for a in allocator.reclaimable()) == [VFS[1], VFS[2]]
    assert not allocator.in_use(VFS[1]) and allocator.in_use(VFS[0])

    # a new pod takes a stale VF; the stale record (with the VF's original state) comes along
    taken = allocator.allocate(owner(4), pool="intel.com/a")
    assert taken.bdf == VFS[1] and taken.previous["data"] == {"original": {"vlan": 0, "trust": False}}
    # explicit reclaim returns the stale record and frees the VF
    reclaimed = allocator.reclaim(VFS[2])
    assert reclaimed.owner.container_id == "c3c3c3c3" and allocator.record(VFS[2]) is None
    assert allocator.reclaim(VFS[0]) is None     # alive: not reclaimed


def test_netns_alive() -> None:
    assert netns_alive("/proc/self/ns/net")
    assert netns_alive(f"/proc/{os.getpid()}/ns/net")
    assert not netns_alive("/proc/999999999/ns/net")
    assert not netns_alive("/etc/hostname")        # a file, not a namespace
    assert netns_alive("")                          # unknown: never reclaimed


def test_lock_waits_then_gives_up_clearly(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path), lock_timeout=0.1)
    other = VfAllocator(str(tmp_path), lock_timeout=0.1)
    with allocator.lock(VFS[0]):
        with pytest.raises(CNIError, match=r"VF 0000:3b:02.0 is locked by another operation") as err:
            other.allocate(owner(1), bdf=VFS[0])
    assert err.value.code == 11
    assert other.allocate(owner(1), bdf=VFS[0]).bdf == VFS[0]


def test_corrupt_record_is_a_state_error(tmp_path) -> None:
    allocator = VfAllocator(str(tmp_path))
    (tmp_path / "vf" / f"{VFS[0]}.json").write_text("{half")
    with pytest.raises(CNIError, match="allocation record .* is unreadable") as err:
        allocator.allocate(owner(1), bdf=VFS[0])
    assert err.value.code == 109


def _race_worker(state_dir: str, proc: int, threads: int, barrier, out) -> None:
    allocator = VfAllocator(state_dir, pools={"intel.com/a": VFS})
    results = []
    lock = threading.Lock()

    def one(n: int) -> None:
        barrier.wait()
        try:
            got = allocator.allocate(owner(f"{proc}-{n}"), pool="intel.com/a").bdf
            outcome = ("ok", f"{proc}-{n}", got)
        except CNIError as exc:
            outcome = ("err", f"{proc}-{n}", exc.code)
        with lock:
            results.append(outcome)
    workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(results)


def test_200_parallel_allocations_never_hand_out_a_vf_twice(tmp_path) -> None:
    # 8 processes x 25 threads race for 150 VFs: 150 win distinct VFs, 50 get "no free VF"
    ctx = multiprocessing.get_context("fork")
    procs, threads = 8, 25
    barrier = ctx.Barrier(procs * threads)
    out = ctx.Queue()
    workers = [ctx.Process(target=_race_worker, args=(str(tmp_path), p, threads, barrier, out)) for p in range(procs)]
    for w in workers:
        w.start()
    results = [r for _ in workers for r in out.get(timeout=120)]
    for w in workers:
        w.join(30)

    assert len(results) == 200
    wins = [(who, bdf) for kind, who, bdf in results if kind == "ok"]
    losses = [code for kind, _, code in results if kind == "err"]
    assert len(wins) == 150 and sorted(b for _, b in wins) == sorted(VFS)
    assert losses == [108] * 50
    on_disk = {a.bdf: a.owner.container_id for a in VfAllocator(str(tmp_path)).records()}
    assert on_disk == {bdf: f"c{who}" * 4 for who, bdf in wins}


def test_choose_vf_order_deviceid_checkpoint_pool(tmp_path) -> None:
    checkpoint = tmp_path / "kubelet_internal_checkpoint"
    checkpoint.write_text(json.dumps({"Data": {"PodDeviceEntries": [
        {"PodUID": "uid-1", "ContainerName": "c", "ResourceName": "intel.com/a", "DeviceIDs": {"0": [VFS[5], VFS[4]]}}],
        "RegisteredDevices": {}}, "Checksum": 1}))
    allocator = VfAllocator(str(tmp_path / "state"), pools={"intel.com/a": VFS[:8]})
    kw = {"resource_name": "intel.com/a", "assignments": CheckpointAssignments(str(checkpoint))}

    assert choose_vf(allocator, owner(1, ifname="net1"), device_id=VFS[7], **kw).source == "deviceID"
    by_checkpoint = choose_vf(allocator, owner(1, ifname="net2"), nth=1, **kw)
    assert (by_checkpoint.bdf, by_checkpoint.source) == (VFS[5], "checkpoint")
    with pytest.raises(CNIError, match="gave the pod 2 device"):
        choose_vf(allocator, owner(1, ifname="net3"), nth=2, **kw)
    by_pool = choose_vf(allocator, owner(2), **kw)       # pod uid-2 has no checkpoint entry
    assert (by_pool.bdf, by_pool.source) == (VFS[0], "pool")
    with pytest.raises(CNIError, match="neither a deviceID nor a k8s.v1.cni.cncf.io/resourceName"):
        choose_vf(allocator, owner(3))
