"""Structured JSON logs: one object per line with pod/container/network fields."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from multus_dp.base import defaults

LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO, "info": logging.INFO,
          "warning": logging.WARNING, "error": logging.ERROR, "panic": logging.CRITICAL}
_CONTEXT_KEYS = ("pod", "container", "network", "ifname", "command", "phase", "vf", "duration_ms", "reason")


class JSONFormatter(logging.Formatter):
    def __init__(self, tracebacks: bool = True) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info and not self.tracebacks:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
        elif record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(level: str = defaults.LOG_LEVEL, log_file: str | None = None, to_stderr: bool = True,
          stderr_tracebacks: bool = True) -> None:
    """Configure the multus_dp logger once. Never logs to stdout: stdout is the CNI reply.
    `stderr_tracebacks=False` (thin mode: stderr goes to the runtime) keeps tracebacks in the
    log file only; stderr gets the one-line error."""
    root = logging.getLogger("multus_dp")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(LEVELS.get(level.lower(), logging.INFO))
    root.propagate = False
    formatter = JSONFormatter()
    if log_file:
        try:
            file_handler = logging.FileHandler(log_file)
            file_handler.setFormatter(formatter)
            root.addHandler(file_handler)
        except OSError:
            to_stderr = True
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(JSONFormatter(tracebacks=stderr_tracebacks))
        root.addHandler(stream)


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"multus_dp.{name}")
