"""Auto-configuration: find the primary network config in the CNI conf dir and generate
`00-multus-dp.conflist` that delegates to it (`clusterNetwork` = its path, its cniVersion).

The primary is the first `.conf`/`.conflist` by name that is not ours (neither our file
name nor a config whose plugin type is multus-dp, which would delegate to itself).
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus_dp.base.fileio import atomic_write

OUR_CONF_NAME = "00-multus-dp.conflist"
OUR_TYPE = "multus-dp"
CONF_SUFFIXES = (".conf", ".conflist")


class ConfGenError(Exception):
    """The primary config cannot be used; the message names the file."""


@dataclass(frozen=True)
class Primary:
    path: Path
    data: dict[str, Any]

    @property
    def cni_version(self) -> str:
        return str(self.data.get("cniVersion") or "1.0.0")

    def plugins(self) -> list[dict[str, Any]]:
        plugins = self.data.get("plugins")
        return [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else [self.data]


def _plugin_types(data: dict[str, Any]) -> set[str]:
    listed = data.get("plugins")
    plugins: list[Any] = listed if isinstance(listed, list) else [data]
    return {str(p.get("type")) for p in plugins if isinstance(p, dict)}


def candidate_files(conf_dir: Path) -> list[Path]:
    if not conf_dir.is_dir():
        return []
    return sorted(p for p in conf_dir.iterdir()
                  if p.suffix in CONF_SUFFIXES and p.name != OUR_CONF_NAME and not p.name.startswith(".")
                  and p.is_file())


def find_primary(conf_dir: Path) -> Primary | None:
    for path in candidate_files(conf_dir):
        try:
            data = json.loads(path.read_bytes())
        except OSError as exc:
            raise ConfGenError(f"cannot read CNI config {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfGenError(f"CNI config {path} is not valid JSON ({exc}); fix it or move it away") from exc
        if not isinstance(data, dict):
            raise ConfGenError(f"CNI config {path} is not a JSON object")
        if OUR_TYPE in _plugin_types(data):
            continue
        return Primary(path, data)
    return None


def render(primary: Primary, plugin_keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """Our conflist: one multus-dp plugin with the primary as clusterNetwork. The primary's
    capabilities are copied so the runtime passes us the runtimeConfig its plugins expect."""
    capabilities: dict[str, bool] = {}
    for delegate in primary.plugins():
        for key, enabled in (delegate.get("capabilities") or {}).items():
            if enabled:
                capabilities[str(key)] = True
    plugin: dict[str, Any] = {"type": OUR_TYPE, "clusterNetwork": str(primary.path)}
    if capabilities:
        plugin["capabilities"] = dict(sorted(capabilities.items()))
    plugin.update(plugin_keys or {})
    return {"cniVersion": primary.cni_version, "name": "multus-dp-network", "plugins": [plugin]}


def encode(conf: dict[str, Any]) -> bytes:
    return (json.dumps(conf, indent=2) + "\n").encode()


def write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Atomic (temp + rename): a runtime never reads a half-written config. True if written."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    atomic_write(path, data, mode)
    return True


def remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
