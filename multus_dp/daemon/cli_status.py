"""Show the daemon's state (ready?, in-flight, caches, attachments per pod, VF pools), a pod's
network-status, or the node's recorded attachments.

`multus-dp status` with no pod asks the running daemon first (when its socket answers) and
then lists the journals as before; `multus-dp status <ns>/<pod>` is unchanged.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from multus_dp.chain import cli_status as journal_status

from .config import DEFAULT_SOCKET
from .protocol import DaemonClient


def configure(parser: argparse.ArgumentParser) -> None:
    journal_status.configure(parser)
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"daemon socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the daemon")


def run(args: argparse.Namespace) -> int:
    if args.pod:
        return journal_status.run(args)
    reason = ""
    try:
        state = DaemonClient(args.socket, args.timeout).status()
    except (OSError, ValueError) as exc:
        state = None
        reason = getattr(exc, "strerror", None) or str(exc)
    if args.json:
        # one shape whether or not a daemon answers: scripts test `daemon` for null
        print(json.dumps({"daemon": state,
                          "daemonError": None if state is not None else f"not reachable at {args.socket} ({reason})",
                          "attachments": [j.to_json() for j in journal_status.load_journals(args.state_dir)]},
                         indent=2))
        return 0
    if state is None:
        print(f"daemon: not reachable at {args.socket} ({reason})")
        return journal_status.run(args)
    _print_daemon(state)
    return 0


def _print_daemon(state: dict[str, Any]) -> None:
    ready = "yes" if state["ready"] else f"no ({state['reason']})"
    print(f"daemon: pid {state['pid']} on {state['socket']}, ready: {ready}, up {state['uptimeSeconds']} s")
    caches = ", ".join(f"{k} {v}" for k, v in state.get("caches", {}).items()) or "none"
    print(f"caches: {caches}")
    inflight = state.get("inFlight", [])
    print(f"in flight: {len(inflight)} of max {state['maxConcurrency']} (+{state['maxQueue']} queued)")
    if inflight:
        journal_status._table(["COMMAND", "POD", "CONTAINER", "SECONDS"],
                              [[r["command"], r["pod"], r["container"][:12], str(r["seconds"])] for r in inflight])
    rows = [[a["pod"], a["containerID"][:12], n["network"], n["interface"], n["state"]]
            for a in state.get("attachments", []) for n in a.get("networks", [])]
    print(f"attachments: {len(state.get('attachments', []))} container(s)")
    if rows:
        journal_status._table(["POD", "CONTAINER", "NETWORK", "INTERFACE", "STATE"], rows)
    sriov = state.get("sriov") or {}
    if sriov.get("reason"):
        print(f"SR-IOV: not ready: {sriov['reason']}")
    pools = state.get("vfPools", [])
    if pools:
        print("VF pools:")
        journal_status._table(["POOL", "SIZE", "ALLOCATED"],
                              [[p["pool"], str(p["size"]), str(p["allocated"])] for p in pools])
    if state.get("kubelet"):
        print_kubelet(state["kubelet"])


def print_kubelet(kubelet: dict[str, Any]) -> None:
    """The device plugins per pool and who holds which VF (shared with `discover`)."""
    print(f"kubelet device assignments read from: {kubelet.get('assignmentsSource')}")
    if not kubelet.get("enabled"):
        print("device plugin: off (devicePlugin: false)")
        return
    if kubelet.get("configError"):
        print(f"device plugin pools: {kubelet['configError']}")
    pools = kubelet.get("pools", [])
    print(f"device plugin: {len(pools)} pool(s), kubelet at {kubelet.get('kubeletSocket')}")
    if pools:
        journal_status._table(
            ["RESOURCE", "REGISTERED", "ADVERTISED", "HEALTHY", "UNHEALTHY"],
            [[p["resource"], "yes" if p["registered"] else f"no ({p.get('registerError') or 'no kubelet.sock'})",
              str(p["advertised"]), str(p["healthy"]), str(p["unhealthy"])] for p in pools])
        rows = [[p["resource"], d["id"], d["health"], str(d["numaNode"]) if d["numaNode"] >= 0 else "-",
                 d.get("holder") or "-",
                 d.get("problem") or ""] for p in pools for d in p["devices"]]
        if rows:
            journal_status._table(["RESOURCE", "VF", "HEALTH", "NUMA", "HELD BY", "PROBLEM"], rows)
    if kubelet.get("holdersError"):
        print(f"holders unknown: {kubelet['holdersError']}")
