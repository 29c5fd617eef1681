"""Malformed API objects: a clear CNI error naming the object, and nothing left behind."""
from __future__ import annotations

import json

import pytest

from multus_dp.k8s.kinds import NADS, NETWORKS, PODS

from .emulator import pod
from .flow import Node, legacy_network, nad

NPWG = {"k8s.v1.cni.cncf.io/networks": "bad"}
SEED = {"networks": '[{"name": "good"}, {"name": "bad"}]'}


def bad_nad(**spec) -> dict:
    obj = nad("bad", "pa")
    obj.pop("spec")
    if spec:
        obj["spec"] = spec
    return obj


CASES = [
    # (id, kind, object, pod annotations, code, words the message must contain)
    ("nad-invalid-json", NADS, bad_nad(config='{"type": "pa",'), NPWG, 7,
     ["NetworkAttachmentDefinition ns1/bad", "not valid JSON"]),
    ("nad-config-not-a-string", NADS, bad_nad(config={"type": "pa"}), NPWG, 7,
     ["NetworkAttachmentDefinition ns1/bad", "spec.config must be a JSON string"]),
    ("nad-config-a-list", NADS, bad_nad(config='[{"type": "pa"}]'), NPWG, 7,
     ["NetworkAttachmentDefinition ns1/bad", "JSON object"]),
    ("nad-config-without-type", NADS, bad_nad(config='{"cniVersion": "1.0.0", "name": "bad"}'), NPWG, 7,
     ["NetworkAttachmentDefinition ns1/bad", "type"]),
    ("nad-without-spec", NADS, bad_nad(), NPWG, 105,
     ["NetworkAttachmentDefinition ns1/bad", "empty spec.config"]),
    ("network-args-not-a-list", NETWORKS, legacy_network("bad", "pa", '{"ipam": {}}', namespace="ns1"), SEED, 7,
     ["Network ns1/bad", "\"args\" must be a JSON list"]),
    ("network-args-invalid-json", NETWORKS, legacy_network("bad", "pa", "[{", namespace="ns1"), SEED, 7,
     ["Network ns1/bad", "\"args\" is not valid JSON"]),
    ("network-args-list-of-numbers", NETWORKS, legacy_network("bad", "pa", [1, 2], namespace="ns1"), SEED, 7,
     ["Network ns1/bad", "\"args\""]),
    ("network-without-plugin", NETWORKS, {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                                          "metadata": {"name": "bad", "namespace": "ns1"}, "args": "[{}]"}, SEED, 7,
     ["Network ns1/bad", "plugin"]),
]


@pytest.mark.parametrize("kind,obj,annotations,code,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_object_is_a_clear_error(emu, fake_plugins, make_sources, tmp_path, kind, obj, annotations,
                                           code, words) -> None:
    plugins = [fake_plugins.make(name) for name in ("cluster", "pa", "good-plugin")]
    emu.seed(NADS, nad("cluster-net", "cluster", namespace="kube-system"))
    emu.seed(NETWORKS, legacy_network("good", "good-plugin", [{}], namespace="ns1"))
    emu.seed(kind, obj)
    emu.seed(PODS, pod("web", annotations=annotations))
    node = Node(make_sources(), fake_plugins, tmp_path / "state")
    mark = emu.mark()
    reply = node.call("ADD", node.conf(clusterNetwork="cluster-net"))
    assert reply.exit_code == 1
    err = json.loads(reply.stdout)
    assert err["code"] == code, err
    for word in [*words, "ns1/web"]:
        assert word in err["msg"], err["msg"]
    assert [p.commands() for p in plugins] == [[], [], []]           # no delegate ran
    assert list((node.state / "attachments").glob("*.json")) == []
    assert node.sources.publisher.flush(5) and emu.since(mark) == []  # nothing read, nothing written
