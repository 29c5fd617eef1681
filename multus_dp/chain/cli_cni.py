"""Run as the CNI plugin in-process (thin mode): CNI_* env and the config on stdin."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from multus_dp import logs
from multus_dp.base import defaults
from multus_dp.base.jsonin import decode

LOG_LEVEL_ENV = "MULTUS_DP_LOG_LEVEL"
LOG_FILE_ENV = "MULTUS_DP_LOG_FILE"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Reads CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH and "
                     "the network configuration on stdin; prints the result or a CNI error on stdout. "
                     f"Logs as the configuration's logLevel/logFile/logToStderr say; ${LOG_LEVEL_ENV} and "
                     f"${LOG_FILE_ENV} override them.")


def run(args: argparse.Namespace | None) -> int:
    stdin = sys.stdin.buffer.read()
    if os.environ.get("CNI_COMMAND") == "VERSION":
        # runtimes call VERSION to validate configs: answer before importing pydantic & co.
        from multus_dp.cni.versions import version_reply

        sys.stdout.write(json.dumps(version_reply(stdin)) + "\n")
        return 0
    from multus_dp.chain.entry import handle

    setup_logs(stdin, os.environ)
    reply = handle(dict(os.environ), stdin)
    if reply.stdout:
        sys.stdout.write(reply.stdout + "\n")
        sys.stdout.flush()
    return reply.exit_code


def setup_logs(stdin: bytes, env: Mapping[str, str]) -> None:
    """Thin mode's logging. Precedence, per setting:
    level: $MULTUS_DP_LOG_LEVEL, else the config's `logLevel`, else info;
    file:  $MULTUS_DP_LOG_FILE, else the config's `logFile`, else none;
    stderr: the config's `logToStderr` (default true; forced on when the file cannot be opened).
    The environment wins so a node can be debugged without editing its CNI config. The keys are
    read from the raw JSON: logging starts before the config is validated, and also when it is
    not valid (that error is worth a log line)."""
    conf = _raw_conf(stdin)
    level = env.get(LOG_LEVEL_ENV) or _text(conf.get("logLevel")) or defaults.LOG_LEVEL
    log_file = env.get(LOG_FILE_ENV) or _text(conf.get("logFile"))
    to_stderr = conf.get("logToStderr", defaults.LOG_TO_STDERR)
    # stderr goes to the runtime: tracebacks stay in the log file, stderr gets the one-line error
    logs.setup(level=level, log_file=log_file,
               to_stderr=to_stderr if isinstance(to_stderr, bool) else defaults.LOG_TO_STDERR,
               stderr_tracebacks=False)


def _raw_conf(stdin: bytes) -> dict[str, Any]:
    try:
        conf = decode(stdin)
    except ValueError:   # not JSON, too large or too deep (decode says which)
        return {}
    return conf if isinstance(conf, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
