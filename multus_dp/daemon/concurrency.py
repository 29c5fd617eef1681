"""How requests share the daemon: a slot limit, one operation per container, and GC alone.

Order of acquisition for a CNI operation: the GC gate (shared), the container's lock, then a
slot. Taking the container lock before the slot keeps a burst for one container from
occupying every slot while it waits.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator


class Busy(Exception):
    """Waited longer than allowed; the caller answers "try again later"."""


class ContainerLocks:
    """One lock per container id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, container_id: str, timeout: float) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(container_id, (threading.Lock(), 0))
            self._locks[container_id] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=timeout):
                raise Busy(f"container {container_id} is busy with another operation")
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[container_id]
                if users == 1:
                    del self._locks[container_id]
                else:
                    self._locks[container_id] = (lock, users - 1)

    def held(self) -> int:
        with self._guard:
            return len(self._locks)


class GCGate:
    """A readers-writer lock: ADD/DEL/CHECK share it, GC takes it alone. A waiting GC stops
    new operations from entering, so a steady stream of ADDs cannot starve it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @contextlib.contextmanager
    def shared(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._exclusive or self._exclusive_waiting:
                if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    raise Busy("a GC is running")
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                        raise Busy("ADD/DEL/CHECK operations are still running")
                self._exclusive = True
            finally:
                self._exclusive_waiting -= 1
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class Slots:
    """At most `limit` operations run at once; at most `queue` more may wait."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self._sem = threading.BoundedSemaphore(limit)
        self._guard = threading.Lock()
        self._admitted = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Counts a request from arrival on; refuses it at once when the queue is full."""
        with self._guard:
            if self._admitted >= self.limit + self.queue:
                raise Busy(f"{self._admitted} operations are running or queued "
                           f"(maxConcurrency {self.limit} + maxQueue {self.queue})")
            self._admitted += 1
        try:
            yield
        finally:
            with self._guard:
                self._admitted -= 1

    @contextlib.contextmanager
    def slot(self, timeout: float) -> Iterator[None]:
        if not self._sem.acquire(timeout=timeout):
            raise Busy(f"all {self.limit} slots stayed busy")
        try:
            yield
        finally:
            self._sem.release()
