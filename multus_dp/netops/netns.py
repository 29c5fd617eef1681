"""Netns handles and fork-free netlink sockets for the Python (pyroute2) backend.

A socket is opened inside a netns by `setns` in the calling thread and straight back
(Python 3.11 has no os.setns: libc through ctypes). If going back fails the process
aborts: a thread left in a pod's netns would silently act on the wrong interfaces.
The messages match native/netops.c word for word.
"""
from __future__ import annotations

import ctypes
import os
import socket
import sys

from .errors import NetOpsError

CLONE_NEWNET = 0x40000000
SELF_NS_PATH = "/proc/thread-self/ns/net"
NETLINK_ROUTE = 0
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> int:
    """0 or the errno."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        return ctypes.get_errno()
    return 0


class Netns:
    """An open netns: fd -1 means the calling thread's own (no setns needed)."""

    def __init__(self, ref: str | int | None, op: str, dev: str, *, need_fd: bool = False) -> None:
        self.fd, self.owned = -1, False
        if isinstance(ref, int):
            self.fd, self.desc = ref, f"netns fd {ref}"
            return
        if ref is None:
            self.desc = "own netns"
            if not need_fd:
                return
            path = SELF_NS_PATH
            failure = f"{op} {dev}: open {SELF_NS_PATH}"
        else:
            self.desc = f"netns {ref}"
            path = ref
            failure = f"{op} {dev}: open {self.desc}"
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise NetOpsError(exc.errno or 0, f"{failure}: {os.strerror(exc.errno or 0)}") from None
        self.owned = True

    def close(self) -> None:
        if self.owned and self.fd >= 0:
            os.close(self.fd)
        self.fd, self.owned = -1, False

    def __enter__(self) -> "Netns":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain_socket() -> int:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)  # asyncio (pyroute2 0.9) wants DGRAM
    return sock.detach()


def socket_in(ns: Netns, op: str, dev: str) -> int:
    """A NETLINK_ROUTE socket fd created inside `ns` by this thread."""
    if ns.fd < 0:
        try:
            return _plain_socket()
        except OSError as exc:
            raise NetOpsError(exc.errno or 0, f"{op} {dev}: open netlink socket in {ns.desc}: "
                                              f"{os.strerror(exc.errno or 0)}") from None
    try:
        self_fd = os.open(SELF_NS_PATH, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetOpsError(exc.errno or 0, f"{op} {dev}: open {SELF_NS_PATH}: {os.strerror(exc.errno or 0)}") from None
    try:
        err = setns(ns.fd)
        if err:
            raise NetOpsError(err, f"{op} {dev}: enter {ns.desc}: {os.strerror(err)}")
        try:
            return _plain_socket()
        except OSError as exc:
            raise NetOpsError(exc.errno or 0, f"{op} {dev}: open netlink socket in {ns.desc}: "
                                              f"{os.strerror(exc.errno or 0)}") from None
        finally:
            back = setns(self_fd)
            if back:
                sys.stderr.write(f"netops: cannot return to own netns after entering {ns.desc}: "
                                 f"{os.strerror(back)}\n")
                os.abort()
    finally:
        os.close(self_fd)


def current_netns_id() -> tuple[int, int]:
    """(st_dev, st_ino) of the calling thread's netns: what tests compare before/after."""
    st = os.stat(SELF_NS_PATH)
    return st.st_dev, st.st_ino
