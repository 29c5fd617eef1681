"""Reading deploy/: every YAML document, classified, plus our CRDs' schemas applied the way the
API server applies them (validation, then pruning of fields the schema does not know)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
# YAML files in deploy/ that are configs of ours, not Kubernetes objects
NODE_PREP_CONFIGS = ("examples/node-prep.yaml", "uninstall/node-prep-uninstall.yaml")
# kustomize's own file (rendered by `kubectl kustomize deploy`, see test_kustomize.py)
KUSTOMIZATION_FILES = ("kustomization.yaml",)


@dataclass
class Doc:
    path: str          # relative to deploy/
    index: int         # document number in the file
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.obj.get("kind", "")

    @property
    def name(self) -> str:
        return self.obj.get("metadata", {}).get("name", "")

    def label(self) -> str:
        return f"{self.path}#{self.index} {self.kind}/{self.name}"


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def kube_docs() -> list[Doc]:
    docs = []
    for path in yaml_files():
        rel = str(path.relative_to(DEPLOY))
        if rel in NODE_PREP_CONFIGS or rel in KUSTOMIZATION_FILES:
            continue
        for index, obj in enumerate(d for d in yaml.safe_load_all(path.read_text()) if d is not None):
            docs.append(Doc(rel, index, obj))
    return docs


def docs_of(kind: str, path_prefix: str = "") -> list[Doc]:
    return [d for d in kube_docs() if d.kind == kind and d.path.startswith(path_prefix)]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [d.obj for d in kube_docs() if d.kind == kind and d.name == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


# ---- our CRDs ------------------------------------------------------------------------------------
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(group/version, kind) -> the served version's openAPIV3Schema."""
    out = {}
    for doc in docs_of("CustomResourceDefinition"):
        spec = doc.obj["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return out


def structural_problems(schema: dict[str, Any], where: str = "") -> list[str]:
    """The API server's structural-schema rules that matter for our schemas: every node states
    its type unless it preserves unknown fields or is int-or-string; metadata only name/type."""
    problems = []
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "type" not in schema and not preserve and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{where or '(root)'}: no type")
    for key in ("properties", "patternProperties"):
        for name, sub in (schema.get(key) or {}).items():
            problems += structural_problems(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        problems += structural_problems(schema["items"], f"{where}[]")
    for forbidden in ("$ref", "definitions", "dependencies", "additionalItems"):
        if forbidden in schema:
            problems.append(f"{where}: {forbidden} is not allowed in a CRD schema")
    return problems


def schema_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'.'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in validator.iter_errors(obj)]


def pruned_fields(obj: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields the API server would silently drop (not in the schema, no preserve-unknown)."""
    if isinstance(obj, dict) and schema.get("type") == "object" or (isinstance(obj, dict) and "properties" in schema):
        if where == ".metadata":
            return []  # ObjectMeta has its own schema
        props = schema.get("properties") or {}
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
        extra = schema.get("additionalProperties")
        out = []
        for key, value in obj.items():
            if key in props:
                out += pruned_fields(value, props[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                out += pruned_fields(value, extra, f"{where}.{key}")
            elif not keep_unknown:
                out.append(f"{where}.{key}")
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [p for i, v in enumerate(obj) for p in pruned_fields(v, schema["items"], f"{where}[{i}]")]
    return []


def json_path(obj: Any, path: str) -> Any:
    """The simple `.a.b` JSONPaths of printer columns."""
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj
