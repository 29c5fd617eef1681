"""The README stays a short front page with the two commands CI depends on; every link in the
docs resolves (file and heading); the YAML examples in the docs are accepted by Kubernetes'
schemas and multus-dp's own parsers, and the SR-IOV ones say what deploy/examples say."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from multus_dp.networks.annotations import NETWORKS_ANNOTATION, parse_networks_annotation
from multus_dp.networks.objects import nad_definition
from multus_dp.sriov.config import parse_sriov_config

from ..deploy.manifests import crds, one, pruned_fields, schema_errors

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_LIMIT = 12 * 1024
COMMANDS = ("```sh\n./setup.sh && .venv/bin/multus-dp demo\n```\n",
            "```sh\n./setup.sh && .venv/bin/pytest\n```\n")
# pages that are not for readers (none now: configuration.md took in its notes)
UNLISTED: set[str] = set()
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    return [README, REPO / "deploy" / "README.md", *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks (links and headings inside them are not real)."""
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", prose(path.read_text()), flags=re.M)}


def yaml_blocks(path: Path) -> list[dict]:
    blocks = re.findall(r"^( *)```yaml\n(.*?)^\1```", path.read_text(), flags=re.S | re.M)
    return [doc for _, block in blocks for doc in yaml.safe_load_all(textwrap.dedent(block)) if doc]


def test_readme_is_short() -> None:
    assert len(README.read_bytes()) <= README_LIMIT


def test_readme_keeps_the_two_commands_near_the_top_in_order() -> None:
    text = README.read_text()
    demo, tests = (text.find(command) for command in COMMANDS)
    assert 0 < demo < tests < 2000, "CI (.ci/run) and the checker run these exact lines"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves_to_a_file_and_heading(path: Path) -> None:
    problems = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        rel = str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(resolved)
        if not resolved.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and resolved.is_file() and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {rel}")
    assert problems == []


def test_readme_links_every_docs_page() -> None:
    linked = {str((REPO / t.partition("#")[0]).resolve().relative_to(REPO)) for t in LINK.findall(README.read_text())
              if not re.match(r"[a-z]+:", t)}
    pages = {str(p.relative_to(REPO)) for p in DOCS.glob("*.md")}
    assert pages - UNLISTED - linked == set()
    assert "docs/development/README.md" in linked


def test_readme_quick_start_network_and_pod_are_valid() -> None:
    nad, pod = yaml_blocks(README)
    assert schema_errors(nad, crds()[("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")]) == []
    assert pruned_fields(nad, crds()[("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")]) == []
    kubernetes_validate.validate(pod, "1.30.0", strict=True)
    definition = nad_definition(nad, f"default/{nad['metadata']['name']}", conf_dirs=[])
    assert [p["type"] for p in definition.plugins()] == ["bridge"]
    selections = parse_networks_annotation(pod["metadata"]["annotations"][NETWORKS_ANNOTATION], "default", "default/p")
    assert [s.name for s in selections] == [nad["metadata"]["name"]]


def test_sriov_guide_nads_are_the_deploy_examples() -> None:
    nads = [doc for doc in yaml_blocks(DOCS / "sriov-dpdk.md") if doc.get("kind") == "NetworkAttachmentDefinition"]
    assert [n["metadata"]["name"] for n in nads] == ["sriov-kernel", "vfw-outside"]
    for nad in nads:
        name = nad["metadata"]["name"]
        ours = nad_definition(nad, f"default/{name}", conf_dirs=[])
        example = nad_definition(one("NetworkAttachmentDefinition", name), f"default/{name}", conf_dirs=[])
        assert ours.plugins() == example.plugins() and ours.resource_name == example.resource_name
        parse_sriov_config({**ours.plugins()[0], "name": name})


def test_slug_matches_github() -> None:
    assert slug("Node preparation (`multus-dp node-prep`)") == "node-preparation-multus-dp-node-prep"
    assert slug("Which VF an attachment gets; allocation records") == "which-vf-an-attachment-gets-allocation-records"
    assert slug("DPDK workloads: `multus-dp-eal`") == "dpdk-workloads-multus-dp-eal"
