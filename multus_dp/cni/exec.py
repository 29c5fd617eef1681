"""The exec seam: run a plugin binary with env + stdin under a deadline.

Every delegate and VERSION probe goes through an `Executor`. The real one runs the
plugin in its own process group and kills the whole group when the deadline passes,
so a hung plugin cannot leave children behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Protocol

CHROOT = "/usr/sbin/chroot"


@dataclass(frozen=True)
class ExecOutcome:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    seconds: float = 0.0


class Executor(Protocol):
    def run(self, path: str, env: dict[str, str], stdin: bytes, timeout: float) -> ExecOutcome: ...


class SubprocessExecutor:
    """Runs plugins as real processes, each the leader of a new process group.

    The deadline is a timer that kills the group, not `communicate(timeout=...)`: with a
    timeout CPython reaps the child by polling with sleeps, which adds about a millisecond
    to every plugin call."""

    def __init__(self, reap_timeout: float = 5.0, chroot: str | None = None, chroot_command: str = CHROOT) -> None:
        self.reap_timeout = reap_timeout
        # chrootDir: the plugin runs with this as its root. Through chroot(8), which execs the
        # plugin in the same process (same PID and process group): no preexec_fn in a
        # threaded daemon, and the group kill still reaches it.
        self.prefix = [chroot_command, chroot] if chroot else []

    def run(self, path: str, env: dict[str, str], stdin: bytes, timeout: float) -> ExecOutcome:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*self.prefix, path], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            out, err = proc.communicate(stdin)
        finally:
            timer.cancel()
            if proc.returncode is None:
                _kill_group(proc.pid)
                proc.wait()
        if expired.is_set():
            return ExecOutcome(proc.returncode if proc.returncode is not None else -9, out, err,
                               timed_out=True, seconds=time.monotonic() - start)
        return ExecOutcome(proc.returncode, out, err, seconds=time.monotonic() - start)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
