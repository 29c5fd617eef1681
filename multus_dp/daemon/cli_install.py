"""Install the shim as the `multus-dp` CNI plugin and generate 00-multus-dp.conflist."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from multus_dp import logs
from multus_dp.base import defaults

from .confgen import ConfGenError
from .install import (ConfInstaller, InstallError, Reconciled, cleanup, install_on_demand_file, install_shim,
                      install_socket_file, on_demand_command)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bin-dir", default=defaults.CNI_BIN_DIR, help=f"CNI bin dir (default {defaults.CNI_BIN_DIR})")
    parser.add_argument("--conf-dir", default=defaults.CNI_CONF_DIR,
                        help=f"CNI conf dir (default {defaults.CNI_CONF_DIR})")
    parser.add_argument("--cleanup", action="store_true", help="remove what install wrote and exit")
    parser.add_argument("--watch", action="store_true",
                        help="keep running: regenerate when the primary config changes, withdraw our config "
                             "while the readiness indicator file is missing")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between conf dir checks (--watch)")
    parser.add_argument("--readiness-indicator-file", help="write our config only while this file exists")
    parser.add_argument("--socket", help="socketPath written into our config (the shim's daemon socket)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help=f"extra key of our plugin config, e.g. --set stateDir='\"{defaults.STATE_DIR}\"'")
    parser.add_argument("--on-demand", action="store_true",
                        help="thin mode: the shim starts `multus-dp daemon --on-demand` when no daemon listens "
                             "(writes <bin-dir>/multus-dp.on-demand; without it that file is removed)")
    parser.add_argument("--idle-timeout", type=float,
                        help=f"--on-demand: the daemon exits after this many seconds without a request "
                             f"(default {defaults.DAEMON_IDLE_TIMEOUT:g})")
    parser.add_argument("--state-dir", help=f"--on-demand: the daemon's state dir (default {defaults.STATE_DIR})")
    parser.add_argument("--daemon-log-file",
                        help=f"--on-demand: the daemon's log (default <state-dir>/{defaults.ON_DEMAND_LOG_NAME})")
    parser.add_argument("--daemon-log-level", help="--on-demand: the daemon's log level (default info)")
    parser.add_argument("--no-conf", action="store_true",
                        help="install the binary only, no 00-multus-dp.conflist (thin mode with your own config)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _plugin_keys(args: argparse.Namespace) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InstallError(f"--set {item!r}: expected KEY=JSON")
        try:
            keys[key] = json.loads(raw)
        except ValueError:
            keys[key] = raw  # a bare string is the common case
    if args.socket:
        keys["socketPath"] = args.socket
    return keys


def run(args: argparse.Namespace) -> int:
    bin_dir, conf_dir = Path(args.bin_dir), Path(args.conf_dir)
    if args.cleanup:
        removed = cleanup(bin_dir, conf_dir)
        if args.json:
            print(json.dumps({"removed": [str(p) for p in removed]}))
        else:
            print("\n".join(f"removed {p}" for p in removed) or "nothing to remove")
        return 0
    if not args.on_demand and (args.idle_timeout is not None or args.state_dir or args.daemon_log_file
                               or args.daemon_log_level):
        print("multus-dp install: --idle-timeout, --state-dir, --daemon-log-file and --daemon-log-level go with "
              "--on-demand",
              file=sys.stderr)
        return 2
    if args.no_conf and args.watch:
        print("multus-dp install: --watch keeps a conflist current; --no-conf writes none", file=sys.stderr)
        return 2
    try:
        installer = ConfInstaller(conf_dir, args.readiness_indicator_file, _plugin_keys(args))
        shim_written = install_shim(bin_dir)
        install_socket_file(bin_dir, args.socket)
        command = on_demand_command(args.idle_timeout, args.state_dir, args.daemon_log_file,
                                    args.daemon_log_level) if args.on_demand else None
        install_on_demand_file(bin_dir, command)
        outcome = Reconciled("skipped", installer.conf_path, reason="--no-conf") if args.no_conf \
            else installer.reconcile()
    except (InstallError, ConfGenError, OSError) as exc:
        print(f"multus-dp install: {exc}", file=sys.stderr)
        return 1
    shim: dict[str, Any] = {"path": str(bin_dir / "multus-dp"), "state": "written" if shim_written else "unchanged",
                            "onDemand": command}
    if args.json and not args.watch:
        print(json.dumps({"shim": shim, "conf": outcome.to_json()}))
    else:
        print(f"shim {shim['path']}: {shim['state']}"
              + (f" (on demand: {' '.join(command)})" if command else ""))
        _say(outcome)
    if not args.watch:
        return 0 if outcome.state in ("written", "unchanged", "skipped") else 3
    logs.setup()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"watching {conf_dir} every {args.poll_interval:g} s (SIGTERM to stop)", flush=True)
    installer.watch(stop, args.poll_interval, on_change=_say)
    return 0


def _say(outcome: Reconciled) -> None:
    text = f"config {outcome.conf}: {outcome.state}"
    if outcome.primary:
        text += f" (clusterNetwork {outcome.primary})"
    if outcome.reason:
        text += f" - {outcome.reason}"
    print(text, flush=True)
