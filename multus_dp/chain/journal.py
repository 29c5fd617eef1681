"""The crash-safe journal: one file per container with the whole plan, then its steps.

The plan (one JSON document on the first line) is written atomically (temp + rename) and made
durable (fsync of the file and its directory) before the first delegate runs: after a power
loss it is what tells DEL which leases to free. Every step after it (an attachment added,
failed, deleted) is one JSON line appended to the same file, `\n{"step": i, "state": ...}`:
no new file, no rename, a few µs instead of a rewrite. Appends are not fsync'd: a crashed
process (SIGKILL) loses nothing that reached the page cache, and after a power loss the pods'
netns are gone anyway. A line cut short (killed mid-write, disk full, power loss) does not
parse and is skipped: that step counts as not recorded, exactly like a crash just before it
(the next line starts on its own, after its leading newline). The file is removed only when
DEL (or a rollback) completed.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multus_dp.base.fileio import atomic_write, remove_stale_temps
from multus_dp.cni.errors import CNIError, Code
from multus_dp.networks.attachment import Attachment, PodRef

JOURNAL_VERSION = 1

# attachment states
PLANNED = "planned"     # not known to have completed: DEL runs it, best effort
RUNNING = "running"     # in memory only: the delegate's ADD is in flight
ADDED = "added"
FAILED = "failed"       # ADD failed: DEL must still run (the delegate may have left things)
DELETED = "deleted"


@dataclass
class JournalEntry:
    attachment: Attachment
    state: str = PLANNED
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.attachment.to_json(), "state": self.state, "result": self.result, "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JournalEntry":
        return cls(Attachment.from_json(data), data.get("state", PLANNED), data.get("result"), data.get("error"))


@dataclass
class Journal:
    container_id: str
    netns: str
    ifname: str
    pod: PodRef
    cni_version: str
    cni_args: str = ""
    entries: list[JournalEntry] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    # in memory only: the first write of this journal that failed (state dir full or
    # read-only); the undo carries on from memory and reports it afterwards
    write_error: CNIError | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION, "containerID": self.container_id, "netns": self.netns,
            "ifname": self.ifname, "pod": vars(self.pod), "cniVersion": self.cni_version,
            "cniArgs": self.cni_args, "attachments": [e.to_json() for e in self.entries],
            "networkStatus": self.status,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Journal":
        if data.get("version") != JOURNAL_VERSION:
            raise ValueError(f"unknown journal version {data.get('version')!r}")
        return cls(
            container_id=data["containerID"], netns=data.get("netns", ""), ifname=data.get("ifname", ""),
            pod=PodRef(**(data.get("pod") or {})), cni_version=data.get("cniVersion", "1.1.0"),
            cni_args=data.get("cniArgs", ""),
            entries=[JournalEntry.from_json(e) for e in data.get("attachments", [])],
            status=list(data.get("networkStatus") or []),
        )


class JournalStore:
    """Journals under `<stateDir>/attachments/`. Writes from parallel delegates are serialized."""

    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir) / "attachments"
        self.lock_dir = Path(state_dir) / "locks"
        self._write_lock = threading.Lock()

    def path(self, container_id: str) -> Path:
        return self.dir / f"{container_id}.json"

    def save(self, journal: Journal, durable: bool = False) -> None:
        """The whole journal, replacing the file (its step lines included)."""
        # compact JSON: one line (the step lines follow it), and the C encoder (indent= falls
        # back to the pure-Python one, ~5x slower)
        data = json.dumps(journal.to_json(), separators=(",", ":")).encode()
        with self._write_lock:
            try:
                atomic_write(self.path(journal.container_id), data, durable=durable)
            except OSError as exc:
                raise CNIError(Code.STATE_FAILURE, f"cannot write journal for container "
                               f"{journal.container_id}: {exc}") from exc

    def record(self, journal: Journal, entry: JournalEntry) -> None:
        """Append one attachment's new state to the journal written by `save`."""
        step = next(i for i, e in enumerate(journal.entries) if e is entry)
        line = b"\n" + json.dumps({"step": step, "state": entry.state, "result": entry.result,
                                    "error": entry.error}, separators=(",", ":")).encode()
        path = self.path(journal.container_id)
        with self._write_lock:
            try:
                # no O_CREAT: a step line never makes a journal without its plan
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    if entry.state == ADDED:   # an ADD going on needs room for what comes after
                        _require_space(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise CNIError(Code.STATE_FAILURE, f"cannot write journal for container "
                               f"{journal.container_id}: {exc}") from exc

    def load(self, container_id: str) -> Journal | None:
        path = self.path(container_id)
        try:
            raw = path.read_bytes()
            # an older multus-dp's journal may be one pretty-printed document (no step lines)
            plan, *steps = [raw] if raw.startswith(b"{\n") else raw.split(b"\n")
            journal = Journal.from_json(json.loads(plan))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise CNIError(Code.STATE_FAILURE, f"journal {path} is corrupt: {exc}; "
                           "inspect it and remove it once the attachments are cleaned up") from exc
        for line in steps:
            _apply_step(journal, line)
        return journal

    def record_or_note(self, journal: Journal, entry: JournalEntry) -> None:
        """Record; a failure is noted on the journal instead of raised: an undo (rollback, DEL)
        never stops because its progress cannot be recorded. The file keeps what it had, which
        a later DEL can finish from (DEL of a done step is a no-op)."""
        try:
            self.record(journal, entry)
        except CNIError as exc:
            if journal.write_error is None:
                journal.write_error = exc

    def remove(self, container_id: str) -> None:
        """Remove the journal (under the container's lock) and any temp file of it a killed
        writer left."""
        remove_stale_temps(self.path(container_id))
        try:
            self.path(container_id).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CNIError(Code.STATE_FAILURE, f"cannot remove journal {self.path(container_id)}: {exc.strerror}; "
                           "a later DEL removes it") from exc
        # No fsync of the directory: the removal is visible to every process at once, and a
        # journal a power loss brings back only makes the runtime's DEL (or a GC) run the DELs
        # of its attachments again, with the netns gone after the reboot: a no-op
        # (docs/reliability.md). The plan's fsync is what power loss needs.

    def list_ids(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def lock_path(self, container_id: str) -> Path:
        return self.lock_dir / f"{container_id}.lock"

    @contextlib.contextmanager
    def container_lock(self, container_id: str) -> Iterator[None]:
        """flock per container: two processes never work on one container at once. The lock
        file goes when nothing is recorded for the container any more (DEL done, ADD rolled
        back, nothing ever added), so there is not one file per container forever."""
        fd = self._lock(container_id, blocking=True)
        assert fd is not None
        try:
            yield
        finally:
            self._unlock(container_id, fd)

    def _lock(self, container_id: str, blocking: bool) -> int | None:
        """The locked fd, or None (not blocking and someone holds it)."""
        path = self.lock_path(container_id)
        while True:
            fd = self._open_lock(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            # the holder before us may have unlinked the file: a lock on that inode guards
            # nothing (the next locker creates a new file), so lock the path's file again
            if _still_at(fd, path):
                return fd
            os.close(fd)

    def _open_lock(self, path: Path) -> int:
        """The lock file's fd, read-only: flock needs no write access, and an fd open for
        writing would keep the state dir from being remounted read-only. A full or read-only
        state dir must not stop a DEL: when no lock file can be made, the lock directory
        itself is locked (coarser, only while the state dir is broken)."""
        try:
            self.lock_dir.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
                raise CNIError(Code.STATE_FAILURE, f"cannot lock {path}: {exc.strerror or exc}") from exc
        for fallback in (self.lock_dir, self.dir.parent):
            try:
                return os.open(fallback, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
        raise CNIError(Code.STATE_FAILURE, f"cannot lock {path} nor {self.lock_dir}")

    def _unlock(self, container_id: str, fd: int) -> None:
        try:
            if not self.path(container_id).exists():
                # unlinked while still held: a waiter then sees a stale inode and retries
                with contextlib.suppress(OSError):
                    os.unlink(self.lock_path(container_id))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def clean_temp_files(self) -> int:
        """Remove journal temp files (`.<id>.json.XXXXXXXX.tmp`) a killed writer left behind.
        Each is removed under its container's lock, so no live writer loses its file; a
        container busy right now is skipped. Returns how many were removed."""
        if not self.dir.is_dir():
            return 0
        removed = 0
        for tmp in self.dir.glob(".*.json.*.tmp"):
            container_id = tmp.name[1:].rsplit(".json.", 1)[0]
            try:
                fd = self._lock(container_id, blocking=False)
            except CNIError:
                continue  # a read-only state dir: nothing can be cleaned now
            if fd is None:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed += 1
            finally:
                self._unlock(container_id, fd)
        return removed


STATES = (PLANNED, ADDED, FAILED, DELETED)


def _apply_step(journal: Journal, line: bytes) -> None:
    """One appended step line; a line that does not parse (cut short) or does not fit the
    plan is skipped: that step was not recorded."""
    try:
        step = json.loads(line)
    except ValueError:
        return
    if not isinstance(step, dict):
        return
    index, state, result, error = step.get("step"), step.get("state"), step.get("result"), step.get("error")
    if (not isinstance(index, int) or not 0 <= index < len(journal.entries) or state not in STATES
            or not isinstance(result, (dict, type(None))) or not isinstance(error, (str, type(None)))):
        return
    entry = journal.entries[index]
    entry.state, entry.result, entry.error = state, result, error


def _require_space(fd: int) -> None:
    """A state dir without a single free block is full, even when this line still fitted in
    the journal's last block: the ADD fails (and rolls back) with code 109 as it did when
    every step rewrote the file, rather than going on with a journal whose next steps (and
    DEL's) cannot be recorded. (An undo's lines, failed or deleted, need no such check: they
    are written if they fit, and an undo never stops for them.)"""
    stats = os.fstatvfs(fd)
    if stats.f_blocks and not stats.f_bfree:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _still_at(fd: int, path: Path) -> bool:
    """Is the locked fd still the file at `path`? (True for the fallback lock on a directory,
    only taken while no lock file can be made.)"""
    mine = os.fstat(fd)
    if stat.S_ISDIR(mine.st_mode):
        return True
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
