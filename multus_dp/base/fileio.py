"""The one way to replace a file: a unique temp file beside it, fsync, rename, cleanup.

A reader never sees half a file, two writers never share a temp name, and a failure leaves no
temp file behind. `durable` also fsyncs the directory, so the rename survives a power loss
(it costs a few ms on a busy disk: the journal's plan and VF snapshots need it, derived files
such as status files do not).
"""
from __future__ import annotations

import contextlib
import os
import secrets

# O_NOFOLLOW as mkstemp: a planted symlink under the temp name is never written through
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o600, durable: bool = True) -> None:
    target = os.fspath(path)
    payload = data.encode() if isinstance(data, str) else data
    directory, name = os.path.split(target)
    directory = directory or "."
    try:
        fd, tmp = _create_temp(directory, name)
    except FileNotFoundError:   # the directory's first file: make it (rare, so not on every write)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = _create_temp(directory, name)
    try:
        try:
            os.fchmod(fd, mode)   # exactly `mode`, whatever the umask
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(directory)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new temp file `.<name>.<8 hex>.tmp` beside the target (the pattern the temp-file
    cleanups look for), created exclusively."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temp file name beside {os.path.join(directory, name)}")


def remove_stale_temps(path: str | os.PathLike[str]) -> None:
    """Remove the temp files of `path` that a killed atomic_write left (`.<name>.<hex>.tmp`).
    A plain prefix test, not a glob: a glob pattern is compiled to a regex anew for every name."""
    directory, name = os.path.split(os.fspath(path))
    directory = directory or "."
    prefix = f".{name}."
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory):
            if entry.startswith(prefix) and entry.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, entry))


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or unlink in `directory` durable (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
