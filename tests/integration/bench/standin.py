"""A STAND-IN for a reference meta-plugin, for testing `--reference` only. It is not Multus
and its figures are never reported as Multus: it execs Multus-style `delegates` in order
(ADD: eth0, net1, ...; DEL in reverse) and prints the first delegate's result.

`write_standin(path, mode)`: mode "honest" does the work; "lying" prints a plausible result
and does nothing; "leaky" does ADD properly but DEL does nothing (a broken reference)."""
from __future__ import annotations

import stat
from pathlib import Path

from tests.support.fakeplugin import PYTHON

SCRIPT = r'''#!{python} -IS
# reference meta-plugin STAND-IN (tests only; not Multus)
import json, os, subprocess, sys
MODE = {mode!r}
conf = json.loads(sys.stdin.read() or "{{}}")
cmd = os.environ.get("CNI_COMMAND", "")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}})); sys.exit(0)
delegates = conf.get("delegates", [])
names = [os.environ.get("CNI_IFNAME", "eth0")] + [f"net{{i}}" for i in range(1, len(delegates))]
if MODE == "lying" or (MODE == "leaky" and cmd == "DEL"):
    if cmd == "ADD":
        print(json.dumps({{"cniVersion": conf.get("cniVersion"), "ips": [{{"address": "10.231.1.77/24"}}]}}))
    sys.exit(0)
pairs = list(zip(delegates, names))
first = None
for delegate, ifname in (pairs if cmd == "ADD" else reversed(pairs)):
    plugin = None
    for d in os.environ.get("CNI_PATH", "").split(":"):
        if os.access(os.path.join(d, delegate["type"]), os.X_OK):
            plugin = os.path.join(d, delegate["type"]); break
    env = dict(os.environ, CNI_IFNAME=ifname)
    proc = subprocess.run([plugin], input=json.dumps(delegate).encode(), env=env, capture_output=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout.decode()); sys.exit(proc.returncode)
    if first is None and proc.stdout.strip():
        first = proc.stdout.decode()
if cmd == "ADD":
    sys.stdout.write(first or "")
'''


def write_standin(path: Path, mode: str = "honest") -> Path:
    path.write_text(SCRIPT.format(python=PYTHON, mode=mode))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


