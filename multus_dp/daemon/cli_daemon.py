"""Run the node daemon: CNI requests from the shim on a unix socket, health, status, metrics."""
from __future__ import annotations

import argparse
import sys

from multus_dp import logs

from .config import DEFAULT_METRICS_ADDRESS, DEFAULT_SOCKET, ConfigError, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="daemon config file (JSON or YAML); flags override its keys")
    parser.add_argument("--socket", dest="socketPath", help=f"unix socket to serve on (default {DEFAULT_SOCKET})")
    parser.add_argument("--state-dir", dest="stateDir", help="stateDir whose attachments `status` lists")
    parser.add_argument("--max-concurrency", dest="maxConcurrency", type=int, help="CNI operations at once")
    parser.add_argument("--metrics-address", dest="metricsAddress",
                        help=f"host:port for Prometheus metrics, '' to turn off (default {DEFAULT_METRICS_ADDRESS})")
    parser.add_argument("--log-level", dest="logLevel", help="debug, info, warning, error")
    parser.add_argument("--log-file", dest="logFile", help="JSON log file (default: stderr)")
    parser.add_argument("--readiness-indicator-file", dest="readinessindicatorfile",
                        help="not ready until this file exists")
    parser.epilog = ("Protocol: HTTP/1.1 over the socket; POST /cni, GET /healthz /readyz /status /metrics. "
                     "SIGTERM: stop accepting, finish in-flight work, exit.")


def run(args: argparse.Namespace) -> int:
    from .server import Daemon, DaemonError

    keys = ("socketPath", "stateDir", "maxConcurrency", "metricsAddress", "logLevel", "logFile",
            "readinessindicatorfile")
    try:
        config = load_config(args.config, {k: getattr(args, k) for k in keys})
    except ConfigError as exc:
        print(f"multus-dp daemon: {exc}", file=sys.stderr)
        return 2
    logs.setup(config.logLevel, config.logFile, to_stderr=not config.logFile)
    try:
        return Daemon(config).run_forever()
    except (DaemonError, ConfigError) as exc:
        print(f"multus-dp daemon: {exc}", file=sys.stderr)
        return 1
