"""The exec seam: run a plugin binary with env + stdin under a deadline.

Every delegate and VERSION probe goes through an `Executor`. The real one runs the
plugin in its own process group and kills the whole group when the deadline passes,
so a hung plugin cannot leave children behind. It stops waiting at the deadline whatever
holds the output pipes: a child that escaped the group (`setsid daemon &`) can keep them
open long after the plugin is gone, so EOF on the pipes never bounds the call.

A plugin can also be started ahead (`spawn`) and given its stdin later (`finish`): a plugin
acts only on the configuration it reads on stdin, so its exec and runtime start-up (~1-2 ms
for a Go plugin) can overlap the delegate before it without anything happening early.
`cancel` kills one that is not needed after all (it read nothing).
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol

CHROOT = "/usr/sbin/chroot"
PIPE_CHUNK = 65536


@dataclass(frozen=True)
class ExecOutcome:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    seconds: float = 0.0


@dataclass(eq=False)
class Spawned:
    """A plugin process started by `spawn`, waiting for its stdin."""
    proc: subprocess.Popen[bytes]


class Executor(Protocol):
    def run(self, path: str, env: dict[str, str], stdin: bytes, timeout: float) -> ExecOutcome: ...

    def spawn(self, path: str, env: dict[str, str]) -> Spawned: ...

    def finish(self, spawned: Spawned, stdin: bytes, timeout: float) -> ExecOutcome: ...

    def cancel(self, spawned: Spawned) -> None: ...


class SubprocessExecutor:
    """Runs plugins as real processes, each the leader of a new process group.

    One selector waits for the pipes and for the process itself (a pidfd) under the
    deadline: no polling with sleeps (which adds about a millisecond to every plugin
    call), no reliance on the pipes' EOF. Once the plugin exited, output still arriving
    is read for at most `exit_drain` seconds (a child it left behind may hold the pipes)."""

    def __init__(self, reap_timeout: float = 5.0, chroot: str | None = None, chroot_command: str = CHROOT,
                 exit_drain: float = 1.0) -> None:
        self.reap_timeout = reap_timeout
        self.exit_drain = exit_drain
        # chrootDir: the plugin runs with this as its root. Through chroot(8), which execs the
        # plugin in the same process (same PID and process group): no preexec_fn in a
        # threaded daemon, and the group kill still reaches it.
        self.prefix = [chroot_command, chroot] if chroot else []

    def run(self, path: str, env: dict[str, str], stdin: bytes, timeout: float) -> ExecOutcome:
        return self.finish(self.spawn(path, env), stdin, timeout)

    def spawn(self, path: str, env: dict[str, str]) -> Spawned:
        """The plugin's process, started; it waits for its stdin (`finish`)."""
        return Spawned(subprocess.Popen(
            [*self.prefix, path], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True,
        ))

    def cancel(self, spawned: Spawned) -> None:
        """Kill a spawned plugin that will not get its stdin (its whole group), reap it."""
        proc = spawned.proc
        _kill_group(proc.pid)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    def finish(self, spawned: Spawned, stdin: bytes, timeout: float) -> ExecOutcome:
        """Feed the spawned plugin its stdin and collect its outcome; the deadline runs from now."""
        start = time.monotonic()
        proc = spawned.proc
        timed_out = False
        try:
            out, err, exited = _exchange(proc, stdin, start + timeout, self.exit_drain)
            if not exited and proc.poll() is None:
                timed_out = True
                _kill_group(proc.pid)
            proc.wait()
        finally:
            if proc.returncode is None:  # interrupted (KeyboardInterrupt, a bug): leave nothing running
                _kill_group(proc.pid)
                proc.wait()
        return ExecOutcome(proc.returncode, out, err, timed_out=timed_out, seconds=time.monotonic() - start)


def _exchange(proc: subprocess.Popen[bytes], stdin: bytes, deadline: float,
              exit_drain: float) -> tuple[bytes, bytes, bool]:
    """Feed stdin, collect stdout/stderr until the process exited and both pipes reached
    EOF, or the deadline passed. Returns (stdout, stderr, exited); our pipe ends are closed."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    pending = memoryview(stdin)
    pidfd = os.pidfd_open(proc.pid)
    exited = False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(err_fd, selectors.EVENT_READ)
            if pending:
                os.set_blocking(in_fd, False)
                sel.register(in_fd, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
            while len(sel.get_map()) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, _ in sel.select(left):
                    fd = key.fd
                    if fd == pidfd:
                        exited = True
                        sel.unregister(pidfd)
                        deadline = min(deadline, time.monotonic() + exit_drain)
                    elif fd == in_fd:
                        try:
                            pending = pending[os.write(fd, pending[:PIPE_CHUNK]):]
                        except BrokenPipeError:  # a plugin that does not read its stdin
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(fd)
                            proc.stdin.close()
                    else:
                        data = os.read(fd, PIPE_CHUNK)
                        if data:
                            chunks[fd].append(data)
                        else:
                            sel.unregister(fd)
        return b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), exited
    finally:
        os.close(pidfd)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
