"""Run as the CNI plugin in-process (thin mode): CNI_* env and the config on stdin."""
from __future__ import annotations

import argparse
import os
import sys

from multus_dp import logs


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Reads CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH and "
                     "the network configuration on stdin; prints the result or a CNI error on stdout.")


def run(args: argparse.Namespace | None) -> int:
    from multus_dp.chain.entry import handle

    stdin = sys.stdin.buffer.read()
    logs.setup(level=os.environ.get("MULTUS_DP_LOG_LEVEL", "warning"),
               log_file=os.environ.get("MULTUS_DP_LOG_FILE") or _conf_log_file(stdin))
    reply = handle(dict(os.environ), stdin)
    if reply.stdout:
        sys.stdout.write(reply.stdout + "\n")
        sys.stdout.flush()
    return reply.exit_code


def _conf_log_file(stdin: bytes) -> str | None:
    import json

    try:
        value = json.loads(stdin).get("logFile")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and value else None
