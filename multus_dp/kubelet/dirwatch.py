"""Directory watching with inotify (through libc): a change in a watched directory calls back.

The device plugin manager watches the kubelet's device-plugins directory (a restarting kubelet
deletes the sockets and creates a new kubelet.sock) and the pools file's directory (a ConfigMap
update is a symlink swap there), so it reacts at once instead of at its next periodic pass.
The periodic pass stays the safety net: a directory that does not exist yet is watched from
the first `ensure()` after it appears, and without inotify (no libc symbol) nothing is lost
but latency.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import threading
from collections.abc import Callable

from multus_dp import logs

log = logs.get("kubelet.dirwatch")
IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x4, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
MASK = (IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        return libc
    except (OSError, AttributeError):
        return None


class DirWatch:
    def __init__(self, directories: list[str], on_change: Callable[[], None]) -> None:
        self.directories = list(dict.fromkeys(directories))
        self.on_change = on_change
        self._libc = _libc()
        self._fd = -1
        self._watched: dict[str, tuple[int, int]] = {}   # directory -> (st_dev, st_ino) watched
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._libc is None:
            log.warning("no inotify: directory changes are noticed by the periodic pass only")
            return
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            log.warning("inotify_init1 failed (%s): periodic pass only", os.strerror(ctypes.get_errno()))
            return
        self.ensure()
        self._thread = threading.Thread(target=self._loop, name="device-plugin-dirwatch", daemon=True)
        self._thread.start()

    def ensure(self) -> None:
        """Watch every directory that exists now (again, if it was replaced)."""
        if self._fd < 0 or self._libc is None:
            return
        for directory in self.directories:
            try:
                st = os.stat(directory)
            except OSError:
                continue
            if self._watched.get(directory) == (st.st_dev, st.st_ino):
                continue
            if self._libc.inotify_add_watch(self._fd, os.fsencode(directory), MASK) < 0:
                log.warning("cannot watch %s: %s", directory, os.strerror(ctypes.get_errno()))
                continue
            self._watched[directory] = (st.st_dev, st.st_ino)

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(500):
                continue
            try:
                os.read(self._fd, 64 * 1024)   # the events themselves do not matter: any change wakes
            except BlockingIOError:
                continue
            except OSError:
                return
            self.on_change()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
