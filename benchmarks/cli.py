"""Attach/detach latency benchmark: multus-dp (thin, thin with a kubeconfig, thick) against the direct-delegate floor
and an optional reference meta-plugin, interleaved, every run verified; JSON, Markdown, PNG.

Runs as root on a node with the CNI plugins (bridge, ptp, macvlan, host-local); creates its own
bridges, veths and netns (names start with mb<pid>) and removes them, also on SIGINT/SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multus_dp.base import defaults

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALL_SCENARIOS = (1, 2, 3, 4, 5, 6)
DEFAULT_SCENARIOS = (1, 2, 3, 4, 5)   # 6 (a cluster on one machine) runs when asked for
RUNNERS = ("floor", "thin", "thin-kubeconfig", "thick", "thin-python")
DEFAULT_RUNNERS = ("floor", "thin", "thin-kubeconfig", "thick")   # thin-python: the per-call Python path, on request


def _default_cni_dir() -> str:
    for d in (os.environ.get("MULTUS_DP_BENCH_CNI_DIR", ""), "/usr/lib/cni", defaults.CNI_BIN_DIR):
        if d and os.access(os.path.join(d, "bridge"), os.X_OK):
            return d
    return "/usr/lib/cni"


def _int_list(value: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma list of scenario numbers") from exc
    bad = [v for v in out if v not in ALL_SCENARIOS]
    if bad:
        raise argparse.ArgumentTypeError(f"no scenario {bad}; scenarios are {ALL_SCENARIOS}")
    return out


def _names(value: str) -> list[str]:
    out = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in out if v not in RUNNERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown runner(s) {bad}; runners are {RUNNERS} (+ --reference PATH)")
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios", type=_int_list, default=list(DEFAULT_SCENARIOS),
                        help="comma list: 1 seed pod, 2 four networks, 3 vFW pod, 4 burst, 5 API load, "
                             "6 a cluster on one machine (default 1-5)")
    parser.add_argument("--runners", type=_names, default=list(DEFAULT_RUNNERS),
                        help=f"comma list of {', '.join(RUNNERS)} (default {','.join(DEFAULT_RUNNERS)}; a runner "
                             "that cannot start is reported)")
    parser.add_argument("--reference", metavar="PATH",
                        help="a CNI meta-plugin binary taking Multus' `delegates` config, measured side by side")
    parser.add_argument("--runs", type=int, default=30, help="measured runs per scenario and runner (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="verified but unrecorded runs first (default 3)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="scenario 4: measured rounds of --pods pods at once (default 5)")
    parser.add_argument("--pods", type=int, default=32, help="scenario 4: pods attached at once (default 32)")
    parser.add_argument("--settle", type=float, default=0.1,
                        help="seconds from an ADD's return to its DEL, the same for every runner (the kernel "
                             "finishes bringing the links up meanwhile, as on a node; default 0.1)")
    parser.add_argument("--cluster-nodes", type=int, default=5, help="scenario 6: daemons (nodes) (default 5)")
    parser.add_argument("--cluster-pods", type=int, default=4, help="scenario 6: pods per node (default 4)")
    parser.add_argument("--cluster-networks", type=int, default=2,
                        help="scenario 6: NADs per pod, besides the cluster network (default 2)")
    parser.add_argument("--cluster-idle", type=float, default=30.0,
                        help="scenario 6: seconds of each idle window (default 30; 300 for the 5-minute figure)")
    parser.add_argument("--cluster-nad-scope", choices=("cluster", "pod-namespaces"), default="cluster",
                        help="scenario 6: the daemons' kubeNadScope (default cluster)")
    parser.add_argument("--cluster-no-legacy-crd-pass", action="store_true",
                        help="scenario 6: skip the second start-up + idle window with the legacy Network CRD")
    parser.add_argument("--cni-dir", default=_default_cni_dir(),
                        help=f"where the delegate plugins are (default /usr/lib/cni, else {defaults.CNI_BIN_DIR})")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"results directory (default {RESULTS_DIR})")
    parser.add_argument("--name", default="attach", help="file name stem of the results (default attach)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="parent of the run's scratch dir (IPAM, state, sockets; default the system temp dir)")
    parser.add_argument("--subnet-base", default="10.231",
                        help="first two octets of the /24s the scenarios use (default 10.231)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one CNI call may take (default 120)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--json", action="store_true", help="print the result document as JSON on stdout")
    parser.epilog = ("Progress goes to stderr. Results: <out>/<name>.json, .md, -latency.png, -phases.png. "
                     "A broken run (wrong or leftover interfaces, addresses, leases, journals) drops that runner "
                     "from the scenario with the reason and makes the exit status 1.")


class Interrupted(Exception):
    pass


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("multus-dp bench: needs root (it creates netns, bridges and veths)", file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0 or args.rounds < 1 or args.pods < 1 or args.settle < 0:
        print("multus-dp bench: --runs, --rounds and --pods must be >= 1, --warmup and --settle >= 0",
              file=sys.stderr)
        return 2
    if min(args.cluster_nodes, args.cluster_pods, args.cluster_networks) < 1 or args.cluster_idle <= 0:
        print("multus-dp bench: --cluster-nodes, --cluster-pods, --cluster-networks must be >= 1, "
              "--cluster-idle > 0", file=sys.stderr)
        return 2
    if args.reference and not os.access(args.reference, os.X_OK):
        print(f"multus-dp bench: --reference {args.reference} is not an executable file", file=sys.stderr)
        return 2
    old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        from .session import Session

        session = Session(args, progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
        try:
            doc, written = session.run()
        except (KeyboardInterrupt, Interrupted) as exc:
            print(f"bench: interrupted ({exc or 'SIGINT'}); cleaned up, no results written", file=sys.stderr)
            return 130
        finally:
            session.close()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        from .report import markdown

        print(markdown(doc))
        print("\nwritten: " + ", ".join(str(p) for p in written))
    broken = [s["number"] for s in doc["scenarios"] if s.get("status") == "broken"]
    if broken:
        print(f"bench: broken runs in scenario(s) {broken}: see 'failed' in the results", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").strip().splitlines()[0])
    configure(parser)
    return run(parser.parse_args(argv))
