"""Pod annotations that select networks.

- `k8s.v1.cni.cncf.io/networks` (multi-net spec v1.3): a comma list `[ns/]name[@ifname]` or a
  JSON list of selection elements. Both forms go through the same validation.
- `networks` (the seed document's original Multus flow): a JSON list of `{"name": ...}`
  naming legacy `Network` objects; the first is the master plugin.
- `v1.multus-cni.io/default-network`: replaces the cluster network for one pod.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from multus_dp.cni.errors import CNIError, Code

from . import rules

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
LEGACY_NETWORKS_ANNOTATION = "networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"

# JSON element keys: the spec's, plus Multus' deviceID and its deprecated interfaceRequest
KNOWN_KEYS = ("name", "namespace", "interface", "ips", "mac", "default-route", "portMappings", "bandwidth",
              "cni-args", "infiniband-guid", "deviceID", "interfaceRequest")


@dataclass
class NetworkSelection:
    name: str
    namespace: str                      # already defaulted to the pod's namespace
    interface: str | None = None
    ips: list[str] = field(default_factory=list)
    mac: str | None = None
    default_route: list[str] = field(default_factory=list)
    port_mappings: list[dict[str, Any]] = field(default_factory=list)
    bandwidth: dict[str, Any] | None = None
    cni_args: dict[str, Any] = field(default_factory=dict)
    infiniband_guid: str | None = None
    device_id: str | None = None
    index: int = 0                      # position in the annotation (for messages)

    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _bad(pod: str, where: str, problem: str) -> CNIError:
    return CNIError(Code.BAD_ANNOTATION, f"pod {pod}: {where}: {problem}")


def parse_networks_annotation(value: str, pod_namespace: str, pod: str) -> list[NetworkSelection]:
    text = value.strip()
    if not text:
        return []
    if text[0] in "[{\"":
        selections = _parse_json_form(text, pod_namespace, pod)
    else:
        selections = _parse_comma_form(text, pod_namespace, pod)
    return selections


def _parse_comma_form(text: str, pod_namespace: str, pod: str) -> list[NetworkSelection]:
    out: list[NetworkSelection] = []
    for index, raw in enumerate(text.split(",")):
        item = raw.strip()
        where = f"annotation {NETWORKS_ANNOTATION} element {index + 1} ({item!r})"
        if not item:
            raise _bad(pod, where, "empty element (stray comma?)")
        element: dict[str, Any] = {}
        rest = item
        if "@" in rest:
            rest, _, ifname = rest.partition("@")
            element["interface"] = ifname
        if "/" in rest:
            namespace, _, name = rest.partition("/")
            element["namespace"] = namespace
        else:
            name = rest
        element["name"] = name
        out.append(_element(element, index, pod_namespace, pod, where))
    return out


def _parse_json_form(text: str, pod_namespace: str, pod: str) -> list[NetworkSelection]:
    where = f"annotation {NETWORKS_ANNOTATION}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(pod, where, f"not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise _bad(pod, where, "the JSON form must be a list of selection objects")
    out = []
    for index, element in enumerate(data):
        label = element.get("name") if isinstance(element, dict) else element
        out.append(_element(element, index, pod_namespace, pod,
                            f"{where} element {index + 1} ({label!r})"))
    return out


def _element(element: Any, index: int, pod_namespace: str, pod: str, where: str) -> NetworkSelection:
    if not isinstance(element, dict):
        raise _bad(pod, where, "must be an object")
    unknown = sorted(set(element) - set(KNOWN_KEYS))
    if "ipam-claim-reference" in unknown:
        raise _bad(pod, where, "\"ipam-claim-reference\" is not supported")
    if unknown:
        raise _bad(pod, where, f"unknown key(s) {unknown}; allowed: {', '.join(KNOWN_KEYS[:11])}")

    def check(key: str, problem: str | None) -> None:
        if problem:
            raise _bad(pod, where, f"\"{key}\": {problem}")

    name = element.get("name")
    check("name", rules.name_problem(name))
    namespace = element.get("namespace", pod_namespace)
    if "namespace" in element or namespace:
        check("namespace", rules.namespace_problem(namespace))
    interface = element.get("interface", element.get("interfaceRequest"))
    if interface is not None:
        check("interface", rules.interface_problem(interface))
    ips = element.get("ips", [])
    if not isinstance(ips, list):
        check("ips", "must be a list of IP addresses with prefix length")
    for ip in ips:
        check("ips", rules.cidr_problem(ip))
    mac = element.get("mac")
    if mac is not None:
        check("mac", rules.mac_problem(mac))
    default_route = element.get("default-route", [])
    if not isinstance(default_route, list):
        check("default-route", "must be a list of gateway IP addresses")
    families = []
    for gw in default_route:
        check("default-route", rules.ip_problem(gw))
        families.append(":" in gw)
    if len(families) != len(set(families)):
        check("default-route", "at most one IPv4 and one IPv6 gateway")
    ports = element.get("portMappings", [])
    if not isinstance(ports, list):
        check("portMappings", "must be a list")
    for port in ports:
        check("portMappings", rules.port_mapping_problem(port))
    bandwidth = element.get("bandwidth")
    if bandwidth is not None:
        check("bandwidth", rules.bandwidth_problem(bandwidth))
    cni_args = element.get("cni-args", {})
    if cni_args is not None and not isinstance(cni_args, dict):
        check("cni-args", "must be an object")
    guid = element.get("infiniband-guid")
    if guid is not None:
        check("infiniband-guid", rules.guid_problem(guid))
    device_id = element.get("deviceID")
    if device_id is not None:
        check("deviceID", rules.device_id_problem(device_id))
    return NetworkSelection(
        name=name, namespace=namespace or "default", interface=interface, ips=list(ips), mac=mac,
        default_route=list(default_route), port_mappings=[dict(p) for p in ports], bandwidth=bandwidth,
        cni_args=dict(cni_args or {}), infiniband_guid=guid, device_id=device_id, index=index,
    )


def parse_legacy_networks(value: str, pod: str) -> list[str]:
    """The seed's `networks` annotation: `[{"name": "flannel-conf"}, {"name": "ptp-conf"}]`."""
    where = f"annotation {LEGACY_NETWORKS_ANNOTATION}"
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise _bad(pod, where, f"not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise _bad(pod, where, "must be a non-empty JSON list of {\"name\": ...} objects")
    names = []
    for index, element in enumerate(data):
        if not isinstance(element, dict) or set(element) - {"name"}:
            raise _bad(pod, f"{where} element {index + 1}", "must be an object with only a \"name\" key")
        problem = rules.name_problem(element.get("name"))
        if problem:
            raise _bad(pod, f"{where} element {index + 1}", f"\"name\": {problem}")
        names.append(element["name"])
    return names


def parse_default_network(value: str, default_namespace: str, pod: str) -> tuple[str, str]:
    """`v1.multus-cni.io/default-network`: `[ns/]name` of one NAD."""
    text = value.strip()
    where = f"annotation {DEFAULT_NETWORK_ANNOTATION}"
    if text.startswith("["):
        selections = parse_networks_annotation(text, default_namespace, pod)
        if len(selections) != 1:
            raise _bad(pod, where, "must name exactly one network")
        return selections[0].namespace, selections[0].name
    namespace, _, name = text.rpartition("/")
    namespace = namespace or default_namespace
    for key, problem in (("namespace", rules.namespace_problem(namespace)), ("name", rules.name_problem(name))):
        if problem:
            raise _bad(pod, where, f"{key}: {problem}")
    return namespace, name
