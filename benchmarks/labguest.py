"""The host half of a lab benchmark: boot the QEMU guest, run the benchmark's guest half
there (`python -m benchmarks.<module> --guest`), keep its results in benchmarks/results."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
GUEST_OUT = "/lab-out"   # the guest's writable share (scripts/lab/run-in-guest)


def run_in_guest(module: str, stem: str, rounds: int, render_md: Callable[[dict[str, Any]], str]) -> int:
    """`stem`.json and `stem`.md under benchmarks/results from one guest run; its exit status."""
    command = (f"{REPO}/.venv/bin/python -m benchmarks.{module} --guest --rounds {rounds} "
               f"--out {GUEST_OUT}/{stem}.json")
    out = Path(tempfile.mkdtemp(prefix=f"{stem}-"))
    done = subprocess.run([str(REPO / "scripts/lab/run-in-guest"), "--out", str(out), command])
    produced = out / f"{stem}.json"
    if done.returncode != 0 or not produced.is_file():
        print(f"{module}: the guest run failed (exit {done.returncode}); see {out}", file=sys.stderr)
        return done.returncode or 1
    doc = json.loads(produced.read_text())
    doc["host"] = {"cores": os.cpu_count(), "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(render_md(doc))
    print(render_md(doc))
    return 0


def host_note(doc: dict[str, Any]) -> list[str]:
    """The report's line on the host the guest ran on (a guest figure moves with its load)."""
    if "host" not in doc:
        return []
    return [f"Host: {doc['host']['cores']} cores shared with other work, load average after the run "
            f"{' / '.join(map(str, doc['host']['loadavg_after']))}."]


def main(argv: list[str] | None, description: str | None, module: str, stem: str,
         guest_main: Callable[[int, Path], object], render_md: Callable[[dict[str, Any]], str]) -> int:
    """The command line both halves share: `--rounds`, `--guest` (run here, in the guest), `--out`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--guest", action="store_true", help="run the measurements here (inside the lab guest)")
    parser.add_argument("--out", type=Path, default=Path(GUEST_OUT) / f"{stem}.json")
    args = parser.parse_args(argv)
    if args.guest:
        guest_main(args.rounds, args.out)
        return 0
    return run_in_guest(module, stem, args.rounds, render_md)
