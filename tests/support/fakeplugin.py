"""Fake delegate plugins: small executable scripts that log what they get.

Each call appends one JSON line {command, env, stdin} to the plugin's log file and then
behaves as configured: advertise chosen versions, print a result, fail with a code,
sleep, or write a canary file (to prove it was or was not executed).
"""
from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The real interpreter: a pyenv shim would cost 100+ ms per call.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

SCRIPT = r'''#!{python} -IS
import json, os, sys, time
SPEC = json.loads({spec!r})
stdin = sys.stdin.read()
cmd = os.environ.get("CNI_COMMAND", "")
entry = {{"command": cmd, "env": {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}, "stdin": stdin}}
with open(SPEC["log"], "a") as fh:
    fh.write(json.dumps(entry) + "\n")
if SPEC.get("canary"):
    open(SPEC["canary"], "w").write(cmd)
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": SPEC["versions"]}}))
    sys.exit(0)
sleep = SPEC.get("sleep", {{}}).get(cmd, 0)
if SPEC.get("escape_child") and cmd == SPEC["escape_child"][0]:
    # a child in a session of its own (out of reach of a process-group kill) holding stdout
    import subprocess
    child = subprocess.Popen(["setsid", "sleep", str(SPEC["escape_child"][1])], stderr=subprocess.DEVNULL)
    open(SPEC["log"] + ".escaped", "w").write(str(child.pid))
if sleep:
    if SPEC.get("spawn_child"):
        import subprocess
        child = subprocess.Popen(["sleep", str(sleep)])
        open(SPEC["log"] + ".child", "w").write(str(child.pid))
    time.sleep(sleep)
fail = SPEC.get("fail", {{}}).get(cmd)
if fail:
    code, msg = fail
    print(json.dumps({{"code": code, "msg": msg}}))
    sys.exit(1)
if cmd == "ADD":
    conf = json.loads(stdin)
    version = conf.get("cniVersion", "1.0.0")
    if SPEC.get("raw_output") is not None:
        sys.stdout.write(SPEC["raw_output"]); sys.exit(0)
    res = {{"cniVersion": version,
           "interfaces": [{{"name": os.environ["CNI_IFNAME"], "mac": SPEC["mac"], "sandbox": os.environ.get("CNI_NETNS", "")}}],
           "ips": [{{"address": SPEC["address"], "interface": 0}}]}}
    if version.startswith("0.3") or version.startswith("0.4"):
        for ip in res["ips"]:
            ip["version"] = "6" if ":" in ip["address"] else "4"
    if version in ("0.1.0", "0.2.0"):
        res = {{"cniVersion": version, "ip4": {{"ip": SPEC["address"]}}}}
    print(json.dumps(res))
'''


@dataclass
class FakePlugin:
    name: str
    path: Path
    log: Path

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def commands(self) -> list[str]:
        return [c["command"] for c in self.calls() if c["command"] != "VERSION"]


class FakePluginDir:
    def __init__(self, root: Path) -> None:
        self.dir = root / "plugins"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs = root / "plugin-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def make(self, name: str, *, versions: list[str] | None = None, fail: dict[str, tuple[int, str]] | None = None,
             sleep: dict[str, float] | None = None, address: str | None = None, mac: str = "0a:58:00:00:00:01",
             canary: str | None = None, raw_output: str | None = None, spawn_child: bool = False,
             escape_child: tuple[str, float] | None = None) -> FakePlugin:
        """escape_child=(command, seconds): on that command, start `setsid sleep seconds` holding
        the plugin's stdout (as a badly daemonizing plugin does) before sleeping/failing."""
        self._count += 1
        log = self.logs / f"{name}.jsonl"
        spec = {
            "log": str(log), "versions": versions or ["0.3.0", "0.3.1", "0.4.0", "1.0.0"],
            "fail": fail or {}, "sleep": sleep or {}, "address": address or f"10.99.{self._count}.2/24",
            "mac": mac, "canary": canary, "raw_output": raw_output, "spawn_child": spawn_child,
            "escape_child": list(escape_child) if escape_child else None,
        }
        path = self.dir / name
        path.write_text(SCRIPT.format(python=PYTHON, spec=json.dumps(spec)))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return FakePlugin(name, path, log)
