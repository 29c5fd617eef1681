"""NetworkAttachmentDefinitions, legacy `Network` objects and CNI conf files -> delegate configs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus_dp.base.jsonin import decode
from multus_dp.cni.config import parse_network_config
from multus_dp.cni.errors import CNIError, Code
from multus_dp.k8s.sources import RESOURCE_NAME_ANNOTATION

CONF_SUFFIXES = (".conf", ".conflist", ".json")
LEGACY_DEFAULT_CNI_VERSION = "0.3.1"


@dataclass
class NetworkDefinition:
    ref: str                          # "ns/name" (or a conf name for files)
    config: dict[str, Any]            # raw conflist
    resource_name: str | None = None  # k8s.v1.cni.cncf.io/resourceName

    def plugins(self) -> list[dict[str, Any]]:
        return list(self.config.get("plugins") or [])

    def capabilities(self) -> set[str]:
        caps: set[str] = set()
        for plugin in self.plugins():
            caps |= {k for k, v in (plugin.get("capabilities") or {}).items() if v}
        return caps


def _invalid(kind: str, ref: str, problem: str) -> CNIError:
    return CNIError(Code.INVALID_CONFIG, f"{kind} {ref}: {problem}")


def _metadata(obj: Any, kind: str, ref: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _invalid(kind, ref, "is not an object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise _invalid(kind, ref, "has no metadata.name")
    if not isinstance(meta["name"], str):
        raise _invalid(kind, ref, "metadata.name must be a string")
    if not isinstance(meta.get("annotations") or {}, dict):
        raise _invalid(kind, ref, "metadata.annotations must be an object")
    return meta


def nad_definition(obj: Any, ref: str, conf_dirs: list[str]) -> NetworkDefinition:
    """A NAD: `spec.config` inline (single config or conflist, `name` injected when missing);
    an empty `spec.config` looks the config up by name in the conf dirs."""
    kind = "NetworkAttachmentDefinition"
    meta = _metadata(obj, kind, ref)
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise _invalid(kind, ref, "spec is not an object")
    raw = spec.get("config", "")
    if not isinstance(raw, str):
        raise _invalid(kind, ref, "spec.config must be a JSON string")
    annotations = meta.get("annotations") or {}
    resource = annotations.get(RESOURCE_NAME_ANNOTATION) or None
    if resource is not None and not isinstance(resource, str):
        raise _invalid(kind, ref, f"annotation {RESOURCE_NAME_ANNOTATION} must be a string")
    if not raw.strip():
        config = find_conf_by_name(meta["name"], conf_dirs)
        if config is None:
            raise CNIError(Code.NETWORK_NOT_FOUND, f"{kind} {ref} has an empty spec.config and no CNI config "
                           f"named {meta['name']!r} exists in {conf_dirs}")
        return NetworkDefinition(ref, config, resource)
    try:
        data = decode(raw)
    except ValueError as exc:
        raise _invalid(kind, ref, f"spec.config is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _invalid(kind, ref, "spec.config must be a JSON object")
    try:
        net = parse_network_config(data, default_name=meta["name"])
    except CNIError as exc:
        raise _invalid(kind, ref, f"spec.config: {exc.msg}") from exc
    return NetworkDefinition(ref, net.raw, resource)


def legacy_network_definition(obj: Any, ref: str) -> NetworkDefinition:
    """A seed-era `Network` (kubernetes.com/v1): top-level `plugin` = CNI type, `args` = a string
    holding a JSON list; its first object is the plugin's config. Further objects, each with its
    own `type`, are chained after it (a conflist)."""
    kind = "Network"
    meta = _metadata(obj, kind, ref)
    plugin = obj.get("plugin")
    if not isinstance(plugin, str) or not plugin:
        raise _invalid(kind, ref, "has no \"plugin\" (the CNI plugin type)")
    args = obj.get("args", "[{}]")
    if isinstance(args, str):
        try:
            args = decode(args) if args.strip() else [{}]
        except ValueError as exc:
            raise _invalid(kind, ref, f"\"args\" is not valid JSON: {exc}") from exc
    if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
        raise _invalid(kind, ref, "\"args\" must be a JSON list of plugin config objects")
    first = {**args[0], "type": plugin}
    chained = args[1:]
    for index, extra in enumerate(chained, start=2):
        if not isinstance(extra.get("type"), str):
            raise _invalid(kind, ref, f"\"args\" element {index} needs its own \"type\"")
    version = first.pop("cniVersion", LEGACY_DEFAULT_CNI_VERSION)
    name = first.pop("name", meta["name"])
    conflist = {"cniVersion": version, "name": name, "plugins": [first, *chained]}
    try:
        net = parse_network_config(conflist)
    except CNIError as exc:
        raise _invalid(kind, ref, exc.msg) from exc
    return NetworkDefinition(ref, net.raw)


def load_conf_file(path: str) -> dict[str, Any]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CNIError(Code.IO_FAILURE, f"cannot read CNI config {path}: {exc}") from exc
    try:
        return parse_network_config(data).raw
    except CNIError as exc:
        raise CNIError(exc.code, f"CNI config {path}: {exc.msg}") from exc


def conf_files(directory: str, skip: tuple[str, ...] = ()) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names
            if n.endswith(CONF_SUFFIXES) and n not in skip and os.path.isfile(os.path.join(directory, n))]


def find_conf_by_name(name: str, dirs: list[str]) -> dict[str, Any] | None:
    for directory in dirs:
        for path in conf_files(directory):
            try:
                config = load_conf_file(path)
            except CNIError:
                continue  # a broken unrelated file does not hide the one we want
            if config.get("name") == name:
                return config
    return None
