"""VF allocation: one owner per VF, guarded by a per-VF `flock`, recorded durably.

`<stateDir>/vf/<bdf>.lock` is the lock (flock: released by the kernel when the process dies)
and `<stateDir>/vf/<bdf>.json` the allocation record (owner, pool, extra data such as the
VF's original state), written atomically (temp + fsync + rename + dir fsync). A record
whose owner's netns no longer exists is reclaimable; taking such a VF keeps the stale record
under `previous` so its original-state snapshot is not lost.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from multus_dp import logs
from multus_dp.base import defaults
from multus_dp.base.fileio import atomic_write, fsync_dir
from multus_dp.cni.errors import CNIError, Code

DEFAULT_STATE_DIR = defaults.STATE_DIR
RECORD_VERSION = 1
log = logs.get("hardware.allocator")

PoolSource = Callable[[str], Sequence[str]] | Mapping[str, Sequence[str]]


def _nsfs_dev() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return None


_NSFS_DEV = _nsfs_dev()


def netns_alive(path: str) -> bool:
    """Is `path` a live network namespace (a bind mount or /proc/<pid>/ns/net)?

    Every nsfs inode has the nsfs device number; a left-over mount point file or a vanished
    pid has not. An empty path cannot be checked: it counts as alive (never reclaimed).
    """
    if not path:
        return True
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ESRCH)
    return _NSFS_DEV is None or st.st_dev == _NSFS_DEV


@dataclass(frozen=True)
class Owner:
    container_id: str
    netns: str = ""
    ifname: str = ""
    pod: str = ""          # "namespace/name"
    pod_uid: str = ""

    def describe(self) -> str:
        pod = f"pod {self.pod}, " if self.pod else ""
        return f"{pod}container {self.container_id[:12]}, interface {self.ifname or '?'}, netns {self.netns or '?'}"


@dataclass
class Allocation:
    bdf: str
    owner: Owner
    pool: str | None = None
    source: str = "deviceID"           # deviceID | checkpoint | pool
    allocated_at: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] | None = None   # a reclaimed stale record, kept for its data

    def to_json(self) -> dict[str, Any]:
        return {"version": RECORD_VERSION, "bdf": self.bdf, "owner": asdict(self.owner), "pool": self.pool,
                "source": self.source, "allocatedAt": self.allocated_at, "data": self.data,
                "previous": self.previous}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Allocation":
        if raw.get("version") != RECORD_VERSION:
            raise ValueError(f"unknown allocation record version {raw.get('version')!r}")
        return cls(bdf=raw["bdf"], owner=Owner(**raw["owner"]), pool=raw.get("pool"),
                   source=raw.get("source", "deviceID"), allocated_at=raw.get("allocatedAt", 0.0),
                   data=dict(raw.get("data") or {}), previous=raw.get("previous"))


class VfAllocator:
    def __init__(self, state_dir: str = DEFAULT_STATE_DIR, *, pools: PoolSource | None = None,
                 lock_timeout: float = 60.0, netns_alive: Callable[[str], bool] = netns_alive,
                 clock: Callable[[], float] = time.time) -> None:
        self.state_dir = os.fspath(state_dir)
        self.dir = os.path.join(self.state_dir, "vf")
        self.pools = pools
        self.lock_timeout = lock_timeout
        self.netns_alive = netns_alive
        self.clock = clock
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    # --- locking and records -----------------------------------------------------------------
    def _path(self, bdf: str, suffix: str) -> str:
        if "/" in bdf or bdf.startswith(".") or not bdf:
            raise CNIError(Code.INVALID_CONFIG, f"invalid PCI address {bdf!r}")
        return os.path.join(self.dir, bdf + suffix)

    @contextlib.contextmanager
    def lock(self, bdf: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the VF's flock (waiting at most `timeout`, default lock_timeout seconds)."""
        fd = self._try_lock(bdf, self.lock_timeout if timeout is None else timeout)
        if fd is None:
            raise CNIError(Code.TRY_AGAIN_LATER, f"VF {bdf} is locked by another operation for more than "
                                                 f"{self.lock_timeout if timeout is None else timeout:g}s")
        try:
            yield
        finally:
            os.close(fd)   # closing drops the flock

    def _try_lock(self, bdf: str, timeout: float) -> int | None:
        # read-only: flock needs no write access, and an fd open for writing would keep the
        # state dir from being remounted read-only
        fd = os.open(self._path(bdf, ".lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= end:
                    os.close(fd)
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _read(self, bdf: str) -> Allocation | None:
        path = self._path(bdf, ".json")
        try:
            with open(path, "rb") as f:
                return Allocation.from_json(json.loads(f.read()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CNIError(Code.STATE_FAILURE, f"allocation record {path} is unreadable: {exc}") from exc

    def _write(self, alloc: Allocation) -> None:
        path = self._path(alloc.bdf, ".json")
        try:
            atomic_write(path, json.dumps(alloc.to_json(), sort_keys=True))
        except OSError as exc:
            raise CNIError(Code.STATE_FAILURE, f"allocation record {path} cannot be written: {exc.strerror}") from exc

    def _stale(self, alloc: Allocation) -> bool:
        return not self.netns_alive(alloc.owner.netns)

    # --- the API ------------------------------------------------------------------------------
    def record(self, bdf: str) -> Allocation | None:
        return self._read(bdf)

    def records(self) -> list[Allocation]:
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json") and not name.startswith("."):
                alloc = self._read(name[:-5])
                if alloc is not None:
                    out.append(alloc)
        return out

    def reclaimable(self) -> list[Allocation]:
        """Allocations whose owner's netns no longer exists."""
        return [a for a in self.records() if self._stale(a)]

    def in_use(self, bdf: str) -> bool:
        alloc = self._read(bdf)
        return alloc is not None and not self._stale(alloc)

    def allocate(self, owner: Owner, bdf: str | None = None, pool: str | None = None,
                 source: str | None = None) -> Allocation:
        """Claim `bdf`, or a free VF of `pool`; the same owner asking again gets its VF back."""
        if bdf:
            return self._claim(owner, bdf, pool, source or "deviceID")
        if not pool:
            raise CNIError(Code.INVALID_CONFIG, "allocation needs a device ID or a pool")
        candidates = self._pool_members(pool)
        busy: list[str] = []
        for candidate in candidates:   # first pass: skip VFs someone is working on right now
            fd = self._try_lock(candidate, 0)
            if fd is None:
                busy.append(candidate)
                continue
            try:
                got = self._claim_locked(owner, candidate, pool, source or "pool", must=False)
            finally:
                os.close(fd)
            if got is not None:
                return got
        for candidate in busy:         # then wait for them: their holder may not keep them
            with self.lock(candidate):
                got = self._claim_locked(owner, candidate, pool, source or "pool", must=False)
            if got is not None:
                return got
        raise CNIError(Code.DEVICE_UNAVAILABLE,
                       f"no free VF in pool {pool} for {owner.describe()}: all {len(candidates)} VFs are allocated")

    def _pool_members(self, pool: str) -> list[str]:
        if self.pools is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"pool {pool}: no pool configuration on this node")
        members = self.pools(pool) if callable(self.pools) else self.pools.get(pool)
        if members is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"pool {pool} is not configured on this node")
        return list(members)

    def _claim(self, owner: Owner, bdf: str, pool: str | None, source: str) -> Allocation:
        with self.lock(bdf):
            got = self._claim_locked(owner, bdf, pool, source, must=True)
            assert got is not None
            return got

    def _claim_locked(self, owner: Owner, bdf: str, pool: str | None, source: str, *, must: bool) -> Allocation | None:
        current = self._read(bdf)
        previous = None
        if current is not None:
            same = (current.owner.container_id, current.owner.ifname) == (owner.container_id, owner.ifname)
            if same:
                return current
            if not self._stale(current):
                if must:
                    raise CNIError(Code.DEVICE_UNAVAILABLE, f"VF {bdf} is already allocated to {current.owner.describe()}")
                return None
            log.warning("reclaiming VF whose owner's netns is gone",
                        extra={"vf": bdf, "container": current.owner.container_id, "pod": current.owner.pod})
            previous = current.to_json()
        alloc = Allocation(bdf=bdf, owner=owner, pool=pool, source=source, allocated_at=self.clock(),
                           previous=previous)
        self._write(alloc)
        return alloc

    def update(self, bdf: str, container_id: str, **data: Any) -> Allocation:
        """Merge `data` into the record, durably; only the owner may."""
        with self.lock(bdf):
            alloc = self._owned(bdf, container_id, "update")
            alloc.data.update(data)
            self._write(alloc)
            return alloc

    def release(self, bdf: str, container_id: str) -> bool:
        """Drop the allocation; False when there was none. Only the owner may release."""
        with self.lock(bdf):
            if self._read(bdf) is None:
                return False
            self._owned(bdf, container_id, "release")
            self._remove(bdf)
            return True

    def reclaim(self, bdf: str) -> Allocation | None:
        """Drop a record whose owner's netns is gone; returns it (its data: the VF's original state)."""
        with self.lock(bdf):
            alloc = self._read(bdf)
            if alloc is None or not self._stale(alloc):
                return None
            self._remove(bdf)
            return alloc

    def clean_temp_files(self) -> int:
        """Remove record temp files a killed writer left behind (`<bdf>.json.<pid>.<tid>.tmp`,
        `.<bdf>.json.XXXXXXXX.tmp`). Each is removed under its VF's lock, which every writer
        holds, so no live write loses its file; a VF busy right now is skipped."""
        removed = 0
        for name in os.listdir(self.dir):
            if not name.endswith(".tmp") or ".json." not in name:
                continue
            bdf = name.lstrip(".").split(".json.", 1)[0]
            try:
                fd = self._try_lock(bdf, 0)
            except (OSError, CNIError):
                continue
            if fd is None:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.dir, name))
                    removed += 1
            finally:
                os.close(fd)
        return removed

    def _owned(self, bdf: str, container_id: str, what: str) -> Allocation:
        alloc = self._read(bdf)
        if alloc is None:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"VF {bdf} is not allocated; cannot {what} it for container {container_id[:12]}")
        if alloc.owner.container_id != container_id:
            raise CNIError(Code.DEVICE_UNAVAILABLE, f"VF {bdf} belongs to {alloc.owner.describe()}; "
                                                    f"container {container_id[:12]} may not {what} it")
        return alloc

    def _remove(self, bdf: str) -> None:
        try:
            os.unlink(self._path(bdf, ".json"))
            fsync_dir(self.dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CNIError(Code.STATE_FAILURE, f"allocation record of VF {bdf} cannot be removed: {exc.strerror}") from exc
