"""The daemon's admission rules on their own: per-container locks, the GC gate, slots."""
from __future__ import annotations

import threading

import pytest

from multus_dp.daemon.concurrency import Busy, ContainerLocks, GCGate, Slots


def test_container_lock_excludes_the_same_container_only() -> None:
    locks = ContainerLocks()
    with locks.hold("a", 1):
        with pytest.raises(Busy, match="container a"):
            with locks.hold("a", 0.05):
                pass
        with locks.hold("b", 0.05):
            assert locks.held() == 2
    assert locks.held() == 0  # no lock kept for containers nobody uses


def test_gc_waits_for_operations_and_blocks_new_ones() -> None:
    gate = GCGate()
    order: list[str] = []
    op_inside, release_op = threading.Event(), threading.Event()

    def operation(name: str, hold: threading.Event | None = None) -> None:
        with gate.shared(10):
            order.append(f"{name} in")
            if hold is not None:
                op_inside.set()
                hold.wait(10)
            order.append(f"{name} out")

    def gc() -> None:
        with gate.exclusive(10):
            order.append("gc")

    first = threading.Thread(target=operation, args=("op1", release_op))
    first.start()
    op_inside.wait(10)
    collector = threading.Thread(target=gc)
    collector.start()
    while not gate._exclusive_waiting:  # the GC is queued behind op1
        threading.Event().wait(0.005)
    late = threading.Thread(target=operation, args=("op2",))
    late.start()
    release_op.set()
    for t in (first, collector, late):
        t.join(10)
    assert order == ["op1 in", "op1 out", "gc", "op2 in", "op2 out"]


def test_gc_gives_up_after_its_timeout() -> None:
    gate = GCGate()
    with gate.shared(1):
        with pytest.raises(Busy, match="still running"):
            with gate.exclusive(0.05):
                pass
    with gate.exclusive(0.05):  # the failed wait left no trace
        pass


def test_slots_refuse_beyond_limit_plus_queue() -> None:
    slots = Slots(limit=1, queue=1)
    with slots.admit(), slots.admit():
        with pytest.raises(Busy, match="maxConcurrency 1 \\+ maxQueue 1"):
            with slots.admit():
                pass
    with slots.slot(1):
        with pytest.raises(Busy):
            with slots.slot(0.05):
                pass
