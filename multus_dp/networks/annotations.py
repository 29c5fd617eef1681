"""Pod annotations that select networks.

- `k8s.v1.cni.cncf.io/networks` (multi-net spec v1.3): a comma list `[ns/]name[@ifname]` or a
  JSON list of selection elements. Both forms go through the same validation (the pydantic
  `SelectionElement` below, with the shared rules of rules.py). Unknown JSON keys are ignored
  as Multus ignores them (the caller warns about them) unless `strictAnnotations` is on.
- `networks` (the seed document's original Multus flow): a JSON list of `{"name": ...}`
  naming legacy `Network` objects; the first is the master plugin.
- `v1.multus-cni.io/default-network`: replaces the cluster network for one pod.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from multus_dp.base.jsonin import decode
from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code

from . import rules

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
LEGACY_NETWORKS_ANNOTATION = "networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"


def _check(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


class SelectionElement(BaseModel):
    """One element of the JSON form (the comma form is turned into the same shape): the spec's
    keys plus Multus' `deviceID` and its deprecated `interfaceRequest`. Unknown keys are kept
    aside (`model_extra`): Multus ignores them, `strictAnnotations` refuses them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    namespace: str | None = None
    interface: str | None = None
    interface_request: str | None = Field(default=None, alias="interfaceRequest")
    ips: list[str] | None = None
    mac: str | None = None
    default_route: list[str] | None = Field(default=None, alias="default-route")
    port_mappings: list[dict[str, Any]] | None = Field(default=None, alias="portMappings")
    bandwidth: dict[str, Any] | None = None
    cni_args: dict[str, Any] | None = Field(default=None, alias="cni-args")
    infiniband_guid: str | None = Field(default=None, alias="infiniband-guid")
    device_id: str | None = Field(default=None, alias="deviceID")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _check(rules.name_problem(v))
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str | None) -> str | None:
        if v is not None:
            _check(rules.namespace_problem(v))
        return v

    @field_validator("interface", "interface_request")
    @classmethod
    def _interface(cls, v: str | None) -> str | None:
        if v is not None:
            _check(rules.interface_problem(v))
        return v

    @field_validator("ips")
    @classmethod
    def _ips(cls, v: list[str] | None) -> list[str] | None:
        for ip in v or []:
            _check(rules.cidr_problem(ip))
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is not None:
            _check(rules.mac_problem(v))
        return v

    @field_validator("default_route")
    @classmethod
    def _default_route(cls, v: list[str] | None) -> list[str] | None:
        families = []
        for gw in v or []:
            _check(rules.ip_problem(gw))
            families.append(":" in gw)
        if len(families) != len(set(families)):
            raise ValueError("at most one IPv4 and one IPv6 gateway")
        return v

    @field_validator("port_mappings")
    @classmethod
    def _port_mappings(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for port in v or []:
            _check(rules.port_mapping_problem(port))
        return v

    @field_validator("bandwidth")
    @classmethod
    def _bandwidth(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            _check(rules.bandwidth_problem(v))
        return v

    @field_validator("infiniband_guid")
    @classmethod
    def _guid(cls, v: str | None) -> str | None:
        if v is not None:
            _check(rules.guid_problem(v))
        return v

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, v: str | None) -> str | None:
        if v is not None:
            _check(rules.device_id_problem(v))
        return v


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
    ignored_keys: list[str] = field(default_factory=list)  # unknown keys Multus ignores too

    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _bad(pod: str, where: str, problem: str) -> CNIError:
    return CNIError(Code.BAD_ANNOTATION, f"pod {pod}: {where}: {problem}")


def parse_networks_annotation(value: str, pod_namespace: str, pod: str,
                              strict: bool = False) -> list[NetworkSelection]:
    """Both forms, as Multus tells them apart (JSON when the value has `[`, `{` or `"`).
    Unknown JSON keys are recorded on the selection (`ignored_keys`), or refused when `strict`."""
    text = value.strip()
    if not text:
        return []
    if any(c in text for c in "[{\""):
        return _parse_json_form(text, pod_namespace, pod, strict)
    return _parse_comma_form(text, pod_namespace, pod)


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
        out.append(_element(element, index, pod_namespace, pod, where, strict=True))
    return out


def _parse_json_form(text: str, pod_namespace: str, pod: str, strict: bool) -> list[NetworkSelection]:
    where = f"annotation {NETWORKS_ANNOTATION}"
    try:
        data = decode(text)
    except ValueError as exc:
        raise _bad(pod, where, f"not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise _bad(pod, where, "the JSON form must be a list of selection objects")
    out = []
    for index, element in enumerate(data):
        label = element.get("name") if isinstance(element, dict) else element
        out.append(_element(element, index, pod_namespace, pod, f"{where} element {index + 1} ({label!r})", strict))
    return out


def _element(element: Any, index: int, pod_namespace: str, pod: str, where: str, strict: bool) -> NetworkSelection:
    if not isinstance(element, dict):
        raise _bad(pod, where, "must be an object")
    try:
        model = SelectionElement.model_validate(element)
    except ValidationError as exc:
        raise _bad(pod, where, describe(exc)) from exc
    unknown = sorted(model.model_extra or {})
    if strict and "ipam-claim-reference" in unknown:
        raise _bad(pod, where, "\"ipam-claim-reference\" is not supported")
    if strict and unknown:
        allowed = ", ".join(f.alias or name for name, f in SelectionElement.model_fields.items()
                            if name != "interface_request")
        raise _bad(pod, where, f"unknown key(s) {unknown}; allowed: {allowed} (strictAnnotations is on)")
    return NetworkSelection(
        name=model.name, namespace=model.namespace or pod_namespace or "default",
        interface=model.interface if model.interface is not None else model.interface_request,
        ips=list(model.ips or []), mac=model.mac, default_route=list(model.default_route or []),
        port_mappings=[dict(p) for p in model.port_mappings or []], bandwidth=model.bandwidth,
        cni_args=dict(model.cni_args or {}), infiniband_guid=model.infiniband_guid, device_id=model.device_id,
        index=index, ignored_keys=unknown,
    )


def parse_legacy_networks(value: str, pod: str) -> list[str]:
    """The seed's `networks` annotation: `[{"name": "flannel-conf"}, {"name": "ptp-conf"}]`."""
    where = f"annotation {LEGACY_NETWORKS_ANNOTATION}"
    try:
        data = decode(value)
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
