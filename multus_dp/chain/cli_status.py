"""Show a pod's network-status (`multus-dp status <ns>/<pod>`) or all attachments on this node."""
from __future__ import annotations

import argparse
import json

from multus_dp.base import defaults

from .journal import Journal, JournalStore
from .publish import FileStatusPublisher


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pod", nargs="?", help="namespace/name of a pod; omit to list every attachment")
    parser.add_argument("--state-dir", default=defaults.STATE_DIR,
                        help=f"multus-dp stateDir (default {defaults.STATE_DIR})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if args.pod:
        namespace, _, name = args.pod.rpartition("/")
        data = FileStatusPublisher(args.state_dir).read(namespace or "default", name)
        if data is None:
            print(f"no network-status recorded for pod {namespace or 'default'}/{name} under {args.state_dir}")
            return 1
        status = data["networkStatus"]
        if args.json:
            print(json.dumps(status, indent=2))
            return 0
        print(f"pod {namespace or 'default'}/{name} (container {data['containerID']})")
        _table(["NETWORK", "INTERFACE", "IPS", "MAC", "DEFAULT", "DEVICE"],
               [[s["name"], s.get("interface", ""), ",".join(s.get("ips", [])), s.get("mac", ""),
                 "yes" if s.get("default") else "", _device(s)] for s in status])
        return 0
    journals = load_journals(args.state_dir)
    rows = [[j.pod.label(), j.container_id[:12], e.attachment.network, e.attachment.ifname, e.state]
            for j in journals for e in j.entries]
    if args.json:
        print(json.dumps([j.to_json() for j in journals], indent=2))
    elif rows:
        _table(["POD", "CONTAINER", "NETWORK", "INTERFACE", "STATE"], rows)
    else:
        print(f"no attachments recorded under {args.state_dir}")
    return 0


def load_journals(state_dir: str) -> list[Journal]:
    """Every attachment journal under `state_dir`."""
    store = JournalStore(state_dir)
    journals = (store.load(cid) for cid in store.list_ids())
    return [journal for journal in journals if journal is not None]


def _device(entry: dict) -> str:
    info = entry.get("device-info") or {}
    return (info.get("pci") or {}).get("pci-address", "")


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for row in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
