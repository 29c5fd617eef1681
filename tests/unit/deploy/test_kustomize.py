"""`kubectl kustomize deploy`: one place sets the image and the namespace; what it renders is
what the other deploy tests validate file by file."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.prereq import require_binary

from .manifests import DEPLOY, kube_docs

KUSTOMIZATION = DEPLOY / "kustomization.yaml"


def render(deploy_dir: Path) -> list[dict]:
    kubectl = require_binary("kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(deploy_dir)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def images(docs: list[dict]) -> set[str]:
    found = set()
    for doc in docs:
        spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
        for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            found.add(c["image"])
    return found


def test_renders_every_resource_it_lists_unchanged_but_for_namespace() -> None:
    docs = render(DEPLOY)
    listed = yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    by_file = {(d.kind, d.name) for d in kube_docs() if d.path in listed}
    assert {(d["kind"], d["metadata"]["name"]) for d in docs} == by_file
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] in ("DaemonSet", "ConfigMap",
                                                                          "ServiceAccount")} == {"kube-system"}
    assert images(docs) == {"localhost/multus-dp:0.1.0"}
    nad_crd = next(d for d in docs if d["metadata"]["name"] == "network-attachment-definitions.k8s.cni.cncf.io")
    assert nad_crd["spec"]["names"]["shortNames"] == ["nad", "net-attach-def"]


def test_one_line_changes_the_image_of_every_container(tmp_path: Path) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    config = yaml.safe_load(KUSTOMIZATION.read_text())
    config["images"] = [{"name": "localhost/multus-dp", "newName": "registry.example/net/multus-dp",
                         "newTag": "9.9.9"}]
    config["namespace"] = "multus-dp-system"
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(config))
    docs = render(copy)
    assert images(docs) == {"registry.example/net/multus-dp:9.9.9"}
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    assert daemonset["metadata"]["namespace"] == "multus-dp-system"
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    assert {s["namespace"] for s in binding["subjects"]} == {"multus-dp-system"}
