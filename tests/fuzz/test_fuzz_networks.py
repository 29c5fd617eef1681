"""Fuzzed network selection: the networks annotation (both forms, the legacy one, the
default-network override), NetworkAttachmentDefinitions and legacy Network objects in the
standalone networks directory."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.support import NAMES, NASTY, check_reply, json_values, mutate, nested, pod_files, scratch
from tests.support.fakeplugin import FakePluginDir
from tests.support.world import World, legacy_network, nad

ANN = "k8s.v1.cni.cncf.io/networks"
LEGACY = "networks"
DEFAULT = "v1.multus-cni.io/default-network"
SELECTION_KEYS = ["name", "namespace", "interface", "interfaceRequest", "ips", "mac", "default-route",
                  "portMappings", "bandwidth", "cni-args", "infiniband-guid", "deviceID", "ipam-claim-reference"]


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fake = FakePluginDir(tmp_path_factory.mktemp("fuzz-plugins"))
    fake.make("pa")
    fake.make("pb")
    return fake.dir


def world_with_networks(root: Path, plugins: Path, *extra: dict[str, Any]) -> World:
    world = World(root, plugins)
    world.add(nad("net-a", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1"),
              nad("net-b", {"cniVersion": "1.0.0", "plugins": [{"type": "pb"}]}, namespace="ns1"),
              legacy_network("leg", "pa", [{"cniVersion": "0.3.1"}], namespace="ns1"), *extra)
    return world


def add_then_del(world: World, conf: dict[str, Any], annotations: dict[str, str]) -> None:
    added = world.call("ADD", conf, annotations=annotations, namespace="ns1")
    check_reply(added, f"ADD {annotations}")
    if added.exit_code == 0:
        deleted = world.call("DEL", conf, annotations=annotations, namespace="ns1")
        check_reply(deleted, "DEL")
        assert deleted.exit_code == 0, deleted.stdout
    assert pod_files(world.state) == []


def cluster(world: World) -> dict[str, Any]:
    return world.conf(delegates=[{"cniVersion": "1.0.0", "name": "cluster", "type": "pa"}], maxAttachments=6,
                      delegateTimeout=10)


ELEMENT_NAMES = st.one_of(st.sampled_from(["net-a", "net-b", "ns1/net-a", "default/net-a", "leg"]), NAMES)
COMMA_FORM = st.lists(st.tuples(ELEMENT_NAMES, st.one_of(st.none(), NAMES)), min_size=1, max_size=4).map(
    lambda items: ",".join(n if i is None else f"{n}@{i}" for n, i in items))
SELECTION = st.dictionaries(st.sampled_from(SELECTION_KEYS), st.one_of(ELEMENT_NAMES, json_values(6)), max_size=4)
JSON_FORM = st.lists(st.one_of(SELECTION, json_values(4)), max_size=4).map(json.dumps)
ANNOTATION = st.one_of(COMMA_FORM, JSON_FORM, NASTY, st.text(max_size=30),
                       st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n),
                       st.integers(min_value=60, max_value=400).map(lambda n: '[{"name": "net-a", "cni-args": '
                                                                    + nested(n) + "}]"))


@given(annotation=ANNOTATION, key=st.sampled_from([ANN, ANN, LEGACY, DEFAULT]))
def test_networks_annotation(plugins: Path, annotation: str, key: str) -> None:
    with scratch() as root:
        world = world_with_networks(root, plugins)
        add_then_del(world, cluster(world), {key: annotation})


def nad_object() -> st.SearchStrategy[dict[str, Any]]:
    valid_config = {"cniVersion": "1.0.0", "name": "fz", "type": "pb", "ipam": {}}
    config = st.one_of(mutate(valid_config).map(json.dumps), json_values(8).map(json.dumps), NASTY,
                       st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n))
    base = nad("fz", "{}", namespace="ns1")
    return st.builds(lambda cfg, spec, meta, other: {**base, **other,
                                                     "spec": {**spec, "config": cfg} if spec is not None else None,
                                                     "metadata": {**base["metadata"], **meta}},
                     config, st.one_of(st.none(), st.dictionaries(NAMES, json_values(3), max_size=2)),
                     st.dictionaries(st.sampled_from(["annotations", "labels", "uid"]), json_values(4), max_size=2),
                     st.dictionaries(st.sampled_from(["kind", "apiVersion", "status"]), json_values(2), max_size=1))


def write(world: World, obj: Any, as_json: bool) -> None:
    if as_json:
        (world.networks / "fuzzed.json").write_text(json.dumps(obj))
    else:
        (world.networks / "fuzzed.yaml").write_text(yaml.safe_dump(obj))


@given(obj=nad_object(), as_json=st.booleans())
def test_network_attachment_definition(plugins: Path, obj: dict[str, Any], as_json: bool) -> None:
    with scratch() as root:
        world = world_with_networks(root, plugins)
        write(world, obj, as_json)
        add_then_del(world, cluster(world), {ANN: "net-a,fz"})


def legacy_object() -> st.SearchStrategy[dict[str, Any]]:
    base = legacy_network("fz", "pb", [{"cniVersion": "0.3.1"}], namespace="ns1")
    args = st.one_of(st.just('[{"cniVersion": "0.3.1"}]'), st.just('[{}, {"type": "pb"}]'), st.lists(mutate({"cniVersion": "0.3.1", "type": "pa", "name": "x"}), max_size=3).map(json.dumps),
                     json_values(6), NASTY, st.integers(min_value=1, max_value=50_000).map(lambda n: "[" * n))
    return st.builds(lambda plugin, a, drop: {k: v for k, v in {**base, "plugin": plugin, "args": a}.items()
                                              if k not in drop},
                     st.one_of(st.sampled_from(["pa", "pb", "../pa", "/bin/true"]), NAMES, json_values(2)),
                     st.one_of(st.just('[{"cniVersion": "0.3.1"}]'), args),
                     st.sets(st.sampled_from(["plugin", "args", "metadata"]), max_size=1))


@given(obj=legacy_object(), as_json=st.booleans(), names=st.sampled_from(['[{"name": "fz"}]',
                                                                          '[{"name": "leg"}, {"name": "fz"}]']))
def test_legacy_network_object(plugins: Path, obj: dict[str, Any], as_json: bool, names: str) -> None:
    with scratch() as root:
        world = world_with_networks(root, plugins)
        write(world, obj, as_json)
        add_then_del(world, cluster(world), {LEGACY: names})
