"""Thin mode's stderr goes to the runtime: an internal error is one line there, the traceback
only in the log file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import sys
from multus_dp import logs
logs.setup("warning", log_file=sys.argv[1], stderr_tracebacks=sys.argv[2] == "yes")
try:
    {}["missing"]
except KeyError:
    logs.get("entry").exception("internal error")
'''


def run(tmp_path: Path, tracebacks: bool) -> tuple[dict, dict]:
    log = tmp_path / f"{tracebacks}.log"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(log), "yes" if tracebacks else "no"],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stderr), json.loads(log.read_text())


def test_thin_mode_stderr_has_no_traceback_the_log_file_has_it(tmp_path: Path) -> None:
    stderr, logged = run(tmp_path, tracebacks=False)
    assert "traceback" not in stderr and stderr["error"] == "KeyError: 'missing'" and stderr["level"] == "error"
    assert "Traceback" in logged["traceback"] and "KeyError" in logged["traceback"]


def test_the_daemon_keeps_tracebacks_on_stderr(tmp_path: Path) -> None:
    stderr, _ = run(tmp_path, tracebacks=True)
    assert "KeyError" in stderr["traceback"]
