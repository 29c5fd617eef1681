"""`AddedInterface` events, one per attachment, as Multus emits them."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

COMPONENT = "multus-dp"
REASON = "AddedInterface"


def added_interface_message(entry: dict[str, Any]) -> str:
    """Multus' wording: `Add <ifname> [<ips>] from <network>`."""
    ips = ",".join(str(ip) for ip in entry.get("ips") or [])
    return f"Add {entry.get('interface', '?')} [{ips}] from {entry.get('name', '?')}"


def added_interface_events(namespace: str, name: str, uid: str, status: list[dict[str, Any]], node: str,
                           now: datetime) -> list[dict[str, Any]]:
    stamp = now.isoformat().replace("+00:00", "Z")
    events = []
    for entry in status:
        events.append({
            "apiVersion": "v1", "kind": "Event",
            # client-go's recorder names events <object>.<unique suffix>
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name,
                               **({"uid": uid} if uid else {})},
            "reason": REASON, "message": added_interface_message(entry), "type": "Normal",
            "source": {"component": COMPONENT, "host": node},
            "reportingComponent": COMPONENT, "reportingInstance": node,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        })
    return events
