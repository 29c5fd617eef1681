"""Helpers for thick-mode tests: the built shim, a daemon subprocess, a tracing delegate.

The daemon runs exactly as on a node (`python -m multus_dp daemon --config ...`) but on a
temp socket and temp state; the shim is exec'd the way a runtime execs a CNI plugin.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import multus_dp
from tests.support.fakeplugin import PYTHON
from tests.support.prereq import require

SHIM = Path(multus_dp.__file__).parent / "bin" / "multus-dp-shim"


def require_shim() -> str:
    require(os.access(SHIM, os.X_OK), f"the built shim {SHIM} (pip install -e . compiles native/shim.c)")
    return str(SHIM)


def run_shim(shim: str, command: str, conf: Mapping[str, Any] | bytes, *, container: str = "", netns: str = "",
             ifname: str = "eth0", cni_path: str = "", args: str = "", extra_env: Mapping[str, str] | None = None,
             user: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Exec the shim as a runtime does: CNI_* env, the config on stdin, a minimal environment."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command}
    for key, value in (("CNI_CONTAINERID", container), ("CNI_NETNS", netns), ("CNI_IFNAME", ifname),
                       ("CNI_PATH", cni_path), ("CNI_ARGS", args)):
        if value:
            env[key] = value
    env.update(extra_env or {})
    stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    argv = [shim]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", shim]
    proc = subprocess.run(argv, input=stdin, env=env, capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


class DaemonProcess:
    """`multus-dp daemon` as a real subprocess with its own config file."""

    def __init__(self, root: Path, **keys: Any) -> None:
        self.root = root
        self.log = root / "daemon.log"
        self.config_path = root / "daemon.json"
        self.keys = {"socketPath": str(root / "run" / "daemon.sock"), "stateDir": str(root / "state"),
                     "metricsAddress": "", "logFile": str(self.log), "logLevel": "info", **keys}
        self.socket = str(self.keys["socketPath"])
        self.stderr = root / "daemon.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> DaemonProcess:
        from multus_dp.daemon.protocol import DaemonClient

        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.keys))
        with self.stderr.open("ab") as stderr:  # a file: a pipe nobody drains could block the daemon
            self.proc = subprocess.Popen([sys.executable, "-m", "multus_dp", "daemon", "--config",
                                          str(self.config_path)], stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        client = DaemonClient(self.socket, timeout=2.0)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}: {self.stderr.read_text()}")
            try:
                if client.healthy():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not come up on {self.socket}; log: {self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.terminate(30)
            except subprocess.TimeoutExpired:
                self.kill()


TRACER = r'''#!{python} -IS
# A delegate that records when each call starts and ends (CLOCK_MONOTONIC, shared by all
# processes), so a test can see which calls overlapped.
import json, os, sys, time
log, sleep = {log!r}, {sleep!r}
cmd = os.environ.get("CNI_COMMAND", "")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}})); sys.exit(0)
conf = json.loads(sys.stdin.read() or "{{}}")
cid = os.environ.get("CNI_CONTAINERID", "")
def note(what):
    with open(log, "a") as fh:
        fh.write(json.dumps({{"what": what, "cmd": cmd, "cid": cid, "t": time.monotonic_ns()}}) + "\n")
note("start")
time.sleep(sleep.get(cmd, 0))
note("end")
if cmd == "ADD":
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.0.0"),
                       "interfaces": [{{"name": os.environ.get("CNI_IFNAME", ""),
                                        "sandbox": os.environ.get("CNI_NETNS", "")}}],
                       "ips": [{{"address": "10.77.0.2/24", "interface": 0}}]}}))
'''


def make_tracer(directory: Path, name: str, log: Path, sleep: Mapping[str, float] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(TRACER.format(python=PYTHON, log=str(log), sleep=dict(sleep or {})))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def intervals(log: Path) -> list[dict[str, Any]]:
    """[{cmd, cid, start, end}] from a tracer log, one per call."""
    open_calls: dict[tuple[str, str], list[int]] = {}
    out = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        key = (rec["cmd"], rec["cid"])
        if rec["what"] == "start":
            open_calls.setdefault(key, []).append(rec["t"])
        else:
            out.append({"cmd": rec["cmd"], "cid": rec["cid"], "start": open_calls[key].pop(0), "end": rec["t"]})
    return out


def max_overlap(calls: list[dict[str, Any]]) -> int:
    events = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best
