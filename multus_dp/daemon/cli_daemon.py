"""Run the node daemon: CNI requests from the shim on a unix socket, health, status, metrics."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from multus_dp import logs
from multus_dp.base import defaults

from .config import DEFAULT_METRICS_ADDRESS, DEFAULT_SOCKET, ConfigError, DaemonConfig, load_config

KEYS = ("socketPath", "stateDir", "maxConcurrency", "metricsAddress", "logLevel", "logFile",
        "readinessindicatorfile", "idleTimeout")


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
    parser.add_argument("--idle-timeout", dest="idleTimeout", type=float,
                        help="exit after this many seconds without a request (default: never; "
                             f"--on-demand: {defaults.DAEMON_IDLE_TIMEOUT:g})")
    parser.add_argument("--on-demand", action="store_true",
                        help="thin mode's daemon, started by the shim when none listens: no config file, each "
                             "request's config supplies every key; metrics only on the socket; logs to "
                             f"<state-dir>/{defaults.ON_DEMAND_LOG_NAME} unless --log-file")
    parser.epilog = ("Protocol: HTTP/1.1 over the socket; POST /cni, GET /healthz /readyz /status /metrics. "
                     "SIGTERM: stop accepting, finish in-flight work, exit.")


def run(args: argparse.Namespace) -> int:
    from .server import Daemon, DaemonError

    overrides: dict[str, Any] = {k: getattr(args, k) for k in KEYS}
    if args.on_demand:
        if args.config:
            print("multus-dp daemon: --on-demand takes no --config: each request's config supplies the keys",
                  file=sys.stderr)
            return 2
        overrides = on_demand_defaults(overrides)
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"multus-dp daemon: {exc}", file=sys.stderr)
        return 2
    if args.on_demand:
        return run_on_demand(config)
    logs.setup(config.logLevel, config.logFile, to_stderr=not config.logFile)
    try:
        return Daemon(config).run_forever()
    except (DaemonError, ConfigError) as exc:
        print(f"multus-dp daemon: {exc}", file=sys.stderr)
        return 1


def on_demand_defaults(flags: dict[str, Any]) -> dict[str, Any]:
    """The on-demand daemon's keys: the flags, over defaults fit for a daemon nobody deployed
    (no TCP port, an idle exit, a log file under the state dir; no device plugin)."""
    state_dir = flags.get("stateDir") or defaults.STATE_DIR
    out = {"metricsAddress": "", "idleTimeout": defaults.DAEMON_IDLE_TIMEOUT, "devicePlugin": False,
           "logFile": os.path.join(state_dir, defaults.ON_DEMAND_LOG_NAME)}
    out.update({k: v for k, v in flags.items() if v is not None})
    return out


def run_on_demand(config: DaemonConfig) -> int:
    """The shim started us detached, stdio on /dev/null: everything goes to the log file,
    Python's own last words (a crash, a traceback) included."""
    from .metrics import DaemonMetrics
    from .ondemand import OnDemandContext
    from .server import Daemon, DaemonError

    log_file = config.logFile or os.path.join(config.stateDir, defaults.ON_DEMAND_LOG_NAME)
    try:
        os.makedirs(os.path.dirname(log_file) or ".", mode=0o700, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
    except OSError as exc:
        print(f"multus-dp daemon: cannot open the log file {log_file}: {exc.strerror}", file=sys.stderr)
    logs.setup(config.logLevel, log_file, to_stderr=False)
    metrics = DaemonMetrics()
    try:
        return Daemon(config, OnDemandContext(config, metrics), metrics).run_forever()
    except (DaemonError, ConfigError) as exc:
        logs.get("daemon").error("cannot start: %s", exc)   # stderr is the log file too
        return 1
