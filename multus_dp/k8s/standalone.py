"""Standalone sources: no API server needed.

Networks (NetworkAttachmentDefinition and legacy `Network` objects, YAML or JSON, several
per file, `List` kinds too) come from a directory (`networksDir`). Pod identity comes from
CNI_ARGS and pod annotations from the runtime's `io.kubernetes.cri.pod-annotations`
capability (containerd fills it in), so no PodSource is needed at all.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import yaml

from multus_dp import logs
from multus_dp.base.jsonin import decode

from .sources import LEGACY_GROUP, LEGACY_KIND, NAD_GROUP, NAD_KIND

log = logs.get("k8s.standalone")
SUFFIXES = (".yaml", ".yml", ".json")


class DirectoryNetworkSource:
    """Reads a directory of network objects; reloads when any file changes (mtime)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int], ...] | None = None
        self._nads: dict[tuple[str, str], dict[str, Any]] = {}
        self._networks: dict[tuple[str, str], dict[str, Any]] = {}
        self.load_errors: list[str] = []

    def _files(self) -> list[Path]:
        root = Path(self.directory)
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())

    def _refresh(self) -> None:
        files = self._files()
        stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        if stamp == self._stamp:
            return
        nads: dict[tuple[str, str], dict[str, Any]] = {}
        networks: dict[tuple[str, str], dict[str, Any]] = {}
        errors: list[str] = []
        for path in files:
            try:
                for obj in _objects(path):
                    self._index(obj, path, nads, networks, errors)
            except (OSError, ValueError, yaml.YAMLError, RecursionError) as exc:  # YAML nests recursively
                errors.append(f"{path}: {exc}")
        for err in errors:
            log.warning("network file problem: %s", err)
        self._nads, self._networks, self.load_errors, self._stamp = nads, networks, errors, stamp

    @staticmethod
    def _index(obj: Any, path: Path, nads: dict, networks: dict, errors: list[str]) -> None:
        if not isinstance(obj, dict):
            errors.append(f"{path}: a document is not an object")
            return
        kind = obj.get("kind")
        group = str(obj.get("apiVersion", "")).split("/")[0]
        found = obj.get("metadata")
        meta: dict[str, Any] = found if isinstance(found, dict) else {}
        name = meta.get("name")
        if not name:
            errors.append(f"{path}: {kind or 'object'} without metadata.name")
            return
        key = (meta.get("namespace") or "default", name)
        if kind == NAD_KIND and group == NAD_GROUP:
            nads[key] = obj
        elif kind == LEGACY_KIND and group in (LEGACY_GROUP, ""):
            networks[key] = obj
        # other kinds (pods, CRDs) may share the directory: ignored

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._refresh()
            return self._nads.get((namespace, name))

    def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._refresh()
            return self._networks.get((namespace, name))


def _objects(path: Path) -> list[Any]:
    text = path.read_text()
    if path.suffix == ".json":
        docs = [decode(text)]
    else:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    out: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def networks_dir_exists(directory: str) -> bool:
    return os.path.isdir(directory)
