"""An attachment: one network delegated into the pod under one interface name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multus_dp.cni.config import NetworkConfig, parse_network_config


@dataclass
class PodRef:
    namespace: str = ""
    name: str = ""
    uid: str = ""

    def label(self) -> str:
        return f"{self.namespace or 'default'}/{self.name}" if self.name else "(unknown pod)"


@dataclass(frozen=True)
class Notice:
    """Something the pod asked for that was ignored or dropped (as Multus does): logged, and a
    Warning Event on the pod. `reason` is the Event's reason."""

    reason: str
    message: str


UNSUPPORTED_ANNOTATION_KEY = "UnsupportedAnnotationKey"
CAPABILITY_NOT_DECLARED = "CapabilityNotDeclared"


@dataclass
class Attachment:
    network: str                 # "ns/name" for NADs; the conf name for the cluster network
    ifname: str
    config: dict[str, Any]       # the raw conflist handed to the delegate(s)
    is_default: bool = False
    capability_args: dict[str, Any] = field(default_factory=dict)
    device_id: str | None = None
    default_route: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # CNI_ARGS of this attachment's own (Multus' MAC= and IP= for `mac`/`ips` requests)
    cni_args: list[tuple[str, str]] = field(default_factory=list)
    # selection-time warnings; not journaled (only the ADD reports them)
    notices: list[Notice] = field(default_factory=list)

    def netconf(self) -> NetworkConfig:
        return parse_network_config(self.config)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network, "ifname": self.ifname, "config": self.config,
            "isDefault": self.is_default, "capabilityArgs": self.capability_args,
            "deviceID": self.device_id, "defaultRoute": self.default_route, "extra": self.extra,
            "cniArgs": [list(kv) for kv in self.cni_args],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Attachment":
        return cls(
            network=data["network"], ifname=data["ifname"], config=data["config"],
            is_default=bool(data.get("isDefault")), capability_args=dict(data.get("capabilityArgs") or {}),
            device_id=data.get("deviceID"), default_route=list(data.get("defaultRoute") or []),
            extra=dict(data.get("extra") or {}),
            cni_args=[(str(k), str(v)) for k, v in data.get("cniArgs") or []],
        )
