#!/usr/bin/python3
"""A stand-in for qemu-system-x86_64 that plays the lab guest's part without booting.

It finds the results share (`-virtfs local,path=OUT,mount_tag=out`) and the node ids in the
guest script OUT/cmd.sh, then behaves as FAKE_GUEST says:
  results   JUnit XML: the i-th node id gets FAKE_OUTCOMES[i] (passed|failed|skipped|absent)
  die       exits 1 without recording a status, after its shell was "up"
  die-booting  exits 1 before the shell is up (a boot hiccup: the host boots again)
  hang      sleeps until killed
  nojunit   records status 3 but writes no JUnit XML
Every start is appended to FAKE_BOOTS (the pid), so tests can count boots and check kills.
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr


def out_dir(argv: list[str]) -> Path:
    for value in argv:
        if value.startswith("local,") and "mount_tag=out" in value:
            return Path(dict(kv.split("=", 1) for kv in value.split(",")[1:] if "=" in kv)["path"])
    raise SystemExit("fake qemu: no out share")


def node_ids(cmd: str) -> list[str]:
    for line in cmd.splitlines():
        if " -m pytest " in line:
            return [w for w in shlex.split(line.split(" > ")[0]) if w.startswith("tests/lab/")]
    return []


def junit(ids: list[str], outcomes: list[str]) -> str:
    cases = []
    for nodeid, outcome in zip(ids, outcomes):
        if outcome == "absent":
            continue
        path, _, name = nodeid.partition("::")
        classname = path.removesuffix(".py").replace("/", ".")
        body = {"failed": '<failure message="AssertionError: boom from guest">E   AssertionError: boom from guest</failure>',
                "skipped": '<skipped type="pytest.skip" message="no igb here" />'}.get(outcome, "")
        cases.append(f"<testcase classname={quoteattr(classname)} name={quoteattr(name)} time=\"0.1\">{body}</testcase>")
    return f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'


def main() -> int:
    with open(os.environ["FAKE_BOOTS"], "a") as boots:
        boots.write(f"{os.getpid()}\n")
    out = out_dir(sys.argv)
    mode = os.environ.get("FAKE_GUEST", "results")
    if mode == "die-booting":
        return 1
    (out / "serial.log").write_text("LAB: shell ready 1.00s\n")
    if mode == "die":
        return 1
    if mode == "hang":
        time.sleep(600)
    if mode == "results":
        ids = node_ids((out / "cmd.sh").read_text())
        (out / "junit.xml").write_text(junit(ids, os.environ.get("FAKE_OUTCOMES", "").split(",")))
    (out / "summary.txt").write_text("== fake guest summary ==\n")
    (out / "rc").write_text("0\n" if mode == "results" and "failed" not in os.environ.get("FAKE_OUTCOMES", "") else "3\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
