"""Prepare SR-IOV NICs: VFs per PF, VF defaults, vfio-pci for DPDK VFs, hugepages check.

Idempotent: a second run with the same config changes nothing and says so.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

from multus_dp.base import defaults
from multus_dp.cni.errors import CNIError
from multus_dp.hardware import nodeprep_state
from multus_dp.hardware.nodeprep import NodePrep, NodePrepReport, load_config
from multus_dp.hardware.nodeprep_state import FAILED, OK, RUNNING, NodePrepState
from multus_dp.hardware.vfconfig import VfConfigurator
from multus_dp.hardware.vfio import NetInspector
from multus_dp.hardware.writer import SysfsWriter


@dataclass
class Seams:
    """The side effects node-prep has; None means the real one."""
    writer: SysfsWriter | None = None
    vf_config: VfConfigurator | None = None
    net: NetInspector | None = None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="node-prep YAML (docs/hardware.md: Node preparation)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--sysfs-root", default=None,
                        help=f"sysfs root (default: the config's sysfsRoot, {defaults.SYSFS_ROOT})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (progress stays on stderr)")
    parser.add_argument("--state-dir", default=defaults.STATE_DIR,
                        help="where the outcome is recorded when the config itself cannot be read "
                             f"(default {defaults.STATE_DIR}; otherwise the config's stateDir)")
    parser.add_argument("--force", action="store_true",
                        help="change numVfs under allocated VFs; bind VFs that are up/addressed on the host")


def run(args: argparse.Namespace, seams: Seams | None = None) -> int:
    seams = seams or Seams()
    started = time.time()

    def record(state_dir: str, state: NodePrepState) -> None:
        """The outcome, for the daemon (hardware/nodeprep_state.py); a dry run records nothing."""
        if args.dry_run:
            return
        try:
            nodeprep_state.write(state_dir, state)
        except OSError as exc:
            print(f"node-prep: warning: cannot record the outcome in {state_dir}: {exc}", file=sys.stderr)
    try:
        config = load_config(args.config)
    except CNIError as exc:
        print(f"node-prep: {exc.msg}", file=sys.stderr)
        record(args.state_dir, NodePrepState(FAILED, args.config, exc.msg, started, time.time()))
        return 2
    if args.sysfs_root:
        config.sysfsRoot = args.sysfs_root
    record(config.stateDir, NodePrepState(RUNNING, args.config, started=started))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
    try:
        prep = NodePrep(config, writer=seams.writer, vf_config=seams.vf_config, net=seams.net,
                        force=args.force, dry_run=args.dry_run, progress=progress)
        report = prep.run()
    except CNIError as exc:
        print(f"node-prep: {exc.msg}", file=sys.stderr)
        record(config.stateDir, NodePrepState(FAILED, args.config, exc.msg, started, time.time()))
        return 2
    record(config.stateDir, _outcome(report, args.config, started))
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(report, args.config))
    return 0 if report.ok else 1


def _outcome(report: NodePrepReport, config_path: str, started: float) -> NodePrepState:
    failed = [p for p in report.pfs if p.status == "failed"]
    problems = [*report.problems, *(f"{p.pf}: {p.error}" for p in failed)]
    return NodePrepState(OK if report.ok else FAILED, config_path, "; ".join(problems) or None, started, time.time(),
                         [p.pf for p in failed])


def render(report: NodePrepReport, config_path: str) -> str:
    lines = []
    for pf in report.pfs:
        head = f"{pf.pf} ({pf.bdf or 'not found'}): {pf.status}"
        lines.append(head)
        lines += [f"  {'would ' if report.dry_run else ''}{a}" for a in pf.actions]
        if pf.error:
            lines.append(f"  error: {pf.error}")
            lines.append(f"  left as it was{': undid ' + ', '.join(pf.rolled_back) if pf.rolled_back else ''}")
    lines += [f"error: {p}" for p in report.problems]
    count = sum(len(p.actions) for p in report.pfs if p.status in ("changed", "planned"))
    if not report.ok:
        failed = [p.pf for p in report.pfs if p.status == "failed"]
        lines.append(f"node-prep FAILED{' for ' + ', '.join(failed) if failed else ''}"
                     f"{'; nothing was changed' if report.problems else ''}")
    elif not report.changed:
        lines.append(f"nothing to do: the node already matches {config_path}")
    elif report.dry_run:
        lines.append(f"dry run: {count} change(s) planned, none made")
    else:
        lines.append(f"done: {count} change(s) made")
    return "\n".join(lines)
