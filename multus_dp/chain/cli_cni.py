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
    stdin = sys.stdin.buffer.read()
    if os.environ.get("CNI_COMMAND") == "VERSION":
        # runtimes call VERSION to validate configs: answer before importing pydantic & co.
        import json

        from multus_dp.cni.versions import version_reply

        sys.stdout.write(json.dumps(version_reply(stdin)) + "\n")
        return 0
    from multus_dp.chain.entry import handle

    logs.setup(level=os.environ.get("MULTUS_DP_LOG_LEVEL", "warning"),
               log_file=os.environ.get("MULTUS_DP_LOG_FILE") or _conf_log_file(stdin), stderr_tracebacks=False)
    reply = handle(dict(os.environ), stdin)
    if reply.stdout:
        sys.stdout.write(reply.stdout + "\n")
        sys.stdout.flush()
    return reply.exit_code


def _conf_log_file(stdin: bytes) -> str | None:
    from multus_dp.base.jsonin import decode

    try:
        value = decode(stdin).get("logFile")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and value else None
