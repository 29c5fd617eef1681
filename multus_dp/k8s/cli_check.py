"""Check this node's access to the Kubernetes API: credentials, RBAC rules, what the caches would hold."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multus_dp.cni.errors import CNIError

# the least-privilege rules of docs/kubernetes.md (RBAC): (verb, group, resource, subresource)
RULES = [
    ("get", "", "pods", ""), ("list", "", "pods", ""), ("watch", "", "pods", ""), ("patch", "", "pods", "status"),
    ("get", "k8s.cni.cncf.io", "network-attachment-definitions", ""),
    ("list", "k8s.cni.cncf.io", "network-attachment-definitions", ""),
    ("watch", "k8s.cni.cncf.io", "network-attachment-definitions", ""),
    ("get", "kubernetes.com", "networks", ""), ("list", "kubernetes.com", "networks", ""),
    ("watch", "kubernetes.com", "networks", ""), ("create", "", "events", ""),
]


@dataclass
class Line:
    check: str
    ok: bool | None     # None: unknown / not applicable
    detail: str


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", help="a multus-dp CNI config (JSON) to take kubeconfig, nodeName and kube* keys from")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: the config's, else in-cluster)")
    parser.add_argument("--node", help="node name (default: nodeName, $MULTUS_DP_NODE_NAME, $NODE_NAME, hostname)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _conf(args: argparse.Namespace) -> Any:
    from multus_dp.networks.conf import MultusConf, parse_multus_conf

    conf = parse_multus_conf(Path(args.conf).read_bytes()) if args.conf else MultusConf()
    updates = {k: v for k, v in (("kubeconfig", args.kubeconfig), ("nodeName", args.node)) if v}
    return conf.model_copy(update=updates)


def checks(conf: Any) -> list[Line]:
    from .api import ApiError
    from .kinds import NADS, NETWORKS, PODS
    from .kube import build_sources

    sources = build_sources(conf, watch=False)
    if sources is None:
        return [Line("credentials", None, "no kubeconfig and not in a pod: multus-dp uses the standalone sources")]
    api = sources.api
    lines = [Line("credentials", True, sources.credentials.source.describe()),
             Line("node", True, sources.node_name)]
    try:
        lines.append(Line("API server", True, api.server_version()))
    except ApiError as err:
        return lines + [Line("API server", False, str(err))]
    for kind, selector in ((PODS, f"spec.nodeName={sources.node_name}"), (NADS, None), (NETWORKS, None)):
        try:
            items, _ = api.list_objects(kind, selector)
            if selector:  # as the cache does: a server that ignored the selector is not trusted
                items = [i for i in items if (i.get("spec") or {}).get("nodeName") == sources.node_name]
            lines.append(Line(f"list {kind.describe()}", True, f"{len(items)} object(s)"
                              + (f" on node {sources.node_name}" if selector else "")))
        except ApiError as err:
            absent = err.status == 404 and kind != PODS
            lines.append(Line(f"list {kind.describe()}", None if absent else False,
                              "CRD not installed" if absent else str(err)))
    for verb, group, resource, sub in RULES:
        name = f"can {verb} {resource}{'/' + sub if sub else ''}{'.' + group if group else ''}"
        try:
            allowed = api.can_i(verb, group, resource, sub)
        except ApiError as err:
            allowed, detail = None, f"no verdict: {err}"
        else:
            detail = {True: "allowed", False: "DENIED (see docs/kubernetes.md, RBAC)", None: "no verdict"}[allowed]
        lines.append(Line(name, allowed, detail))
    sources.credentials.close()
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        lines = checks(_conf(args))
    except CNIError as exc:
        print(f"multus-dp k8s-check: {exc.msg}", file=sys.stderr)
        return 2
    failed = any(line.ok is False for line in lines)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(line) for line in lines]}, indent=2))
        return 1 if failed else 0
    width = max(len(line.check) for line in lines)
    for line in lines:
        mark = {True: "ok", False: "FAIL", None: "-"}[line.ok]
        print(f"{line.check:<{width}}  {mark:<4}  {line.detail}")
    return 1 if failed else 0
