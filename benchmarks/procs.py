"""The harness's one seam for side effects on processes: exec a program with a timer around
it, run `ip`, and compile the floor driver. Every latency figure comes from `timed()`."""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Call:
    """One exec of a CNI plugin (or of something standing in for one)."""
    argv: tuple[str, ...]
    seconds: float
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        out = (self.stdout.strip() or self.stderr.strip())[-600:]
        return f"{' '.join(self.argv[:2])} exited {self.exit_code}: {out}"


def timed(argv: Sequence[str], env: Mapping[str, str], stdin: bytes = b"", timeout: float = 120.0) -> Call:
    """Fork+exec `argv`, feed stdin, wait; the clock runs from spawn to reap (what a runtime sees)."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), input=stdin, env=dict(env), capture_output=True, timeout=timeout)
    seconds = time.perf_counter() - start
    return Call(tuple(argv), seconds, proc.returncode, proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace"))


class IpError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise IpError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def build_floor_driver(out_dir: Path, compiler: str = "cc") -> Path:
    """Compile benchmarks/floor/floor.c into out_dir (once per source change)."""
    src = Path(__file__).parent / "floor" / "floor.c"
    out = out_dir / "floor"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([compiler, "-O2", "-o", str(out), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot compile the floor driver {src} with {compiler}: {proc.stderr.strip()}")
    os.chmod(out, 0o755)
    return out


def wait_or_kill(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> None:
    """Wait for a process asked to exit; SIGKILL it after `timeout` seconds."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, timeout: float = 30.0) -> None:
    """SIGTERM a process the harness started (a daemon finishes its requests), then wait_or_kill."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        wait_or_kill(proc, timeout)
