"""Events on the pod: `AddedInterface` per attachment, as Multus emits them, and Warnings for
what the pod asked for and did not get (an ignored annotation key, an undeclared capability);
and on the node: SR-IOV not ready because node-prep failed."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

COMPONENT = "multus-dp"
REASON = "AddedInterface"


def added_interface_message(entry: dict[str, Any]) -> str:
    """Multus' wording: `Add <ifname> [<ips>] from <network>`."""
    ips = ",".join(str(ip) for ip in entry.get("ips") or [])
    return f"Add {entry.get('interface', '?')} [{ips}] from {entry.get('name', '?')}"


def pod_event(namespace: str, name: str, uid: str, reason: str, message: str, event_type: str, node: str,
              stamp: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Event",
        # client-go's recorder names events <object>.<unique suffix>
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name,
                           **({"uid": uid} if uid else {})},
        "reason": reason, "message": message, "type": event_type,
        "source": {"component": COMPONENT, "host": node},
        "reportingComponent": COMPONENT, "reportingInstance": node,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


def node_event(node: str, reason: str, message: str, event_type: str, now: datetime) -> dict[str, Any]:
    """An event on this node (namespace `default`, where `kubectl describe node` finds it)."""
    stamp = _stamp(now)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{node}.{uuid.uuid4().hex[:16]}", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node},
        "reason": reason, "message": message, "type": event_type,
        "source": {"component": COMPONENT, "host": node},
        "reportingComponent": COMPONENT, "reportingInstance": node,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


def _stamp(now: datetime) -> str:
    return now.isoformat().replace("+00:00", "Z")


def added_interface_events(namespace: str, name: str, uid: str, status: list[dict[str, Any]], node: str,
                           now: datetime) -> list[dict[str, Any]]:
    stamp = _stamp(now)
    return [pod_event(namespace, name, uid, REASON, added_interface_message(entry), "Normal", node, stamp)
            for entry in status]


def warning_events(namespace: str, name: str, uid: str, notices: Iterable[tuple[str, str]], node: str,
                   now: datetime) -> list[dict[str, Any]]:
    """One `Warning` per (reason, message)."""
    stamp = _stamp(now)
    return [pod_event(namespace, name, uid, reason, message, "Warning", node, stamp) for reason, message in notices]
