"""The socket's directory: nobody but root (or the daemon's own uid) may change what is in it.

A local user who can write the directory (or rename one of its parents) can move the socket
aside and bind an impostor: the shim would then get `DEL` exit 0 from it and the pod's links
and leases leak. So the daemon refuses to start on such a path, and creates missing
directories itself with safe modes.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

SOCKET_DIR_MODE = 0o700
PARENT_DIR_MODE = 0o755


class UnsafeSocketDir(Exception):
    """The socket's directory or a parent is not safe; the message says which and why."""


def prepare(directory: Path) -> None:
    """Create what is missing (parents 0755, the socket's directory 0700, whatever the umask),
    then check the whole chain from / down."""
    directory = Path(os.path.abspath(directory))
    missing = [p for p in (directory, *directory.parents) if not os.path.lexists(p)]
    for path in reversed(missing):
        mode = SOCKET_DIR_MODE if path == directory else PARENT_DIR_MODE
        os.mkdir(path, mode)
        os.chmod(path, mode)
    check(directory)


def check(directory: Path) -> None:
    me = os.geteuid()
    trusted = {0, me}
    hint = (f"make it owned by root (or uid {me}) and not writable by group/others "
            "(`chown root`, `chmod go-w`), or choose another socketPath")
    directory = Path(os.path.abspath(directory))
    real = Path(os.path.realpath(directory))
    # the path as given (a symlink in it can be re-pointed by its owner) and where it leads
    for chain_end in dict.fromkeys((directory, real)):
        for path in (chain_end, *chain_end.parents):
            st = os.lstat(path)
            if st.st_uid not in trusted:
                raise UnsafeSocketDir(f"socket directory {directory}: {path} is owned by uid {st.st_uid}; {hint}")
            if stat.S_ISLNK(st.st_mode):
                continue
            writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            # a sticky parent (/tmp) is fine: others cannot rename or remove what is ours in it
            sticky_parent = path != chain_end and st.st_mode & stat.S_ISVTX
            if writable and not sticky_parent:
                who = " and ".join(w for bit, w in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others")) if writable & bit)
                raise UnsafeSocketDir(f"socket directory {directory}: {path} is writable by {who} "
                                      f"(mode {stat.S_IMODE(st.st_mode):04o}); {hint}")
