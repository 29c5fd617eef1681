"""A table of bad annotations, NADs and Network objects: each ADD fails with an error that
names the pod, the element and the rule broken — and nothing is executed or left behind."""
from __future__ import annotations

import json

import pytest

from tests.support.world import World, legacy_network, nad

ANN = "k8s.v1.cni.cncf.io/networks"


def j(value) -> str:
    return json.dumps(value)


# (id, annotations, extra objects, code, substrings the message must contain)
CASES = [
    # comma form
    ("comma-empty-element", {ANN: "net-a,,net-b"}, [], 107, ["element 2", "empty element"]),
    ("comma-uppercase-name", {ANN: "Net-A"}, [], 107, ["'Net-A'", "DNS-1123"]),
    ("comma-underscore-name", {ANN: "net_a"}, [], 107, ["'net_a'", "DNS-1123"]),
    ("comma-bad-namespace", {ANN: "Bad_NS/net-a"}, [], 107, ["namespace", "'Bad_NS'"]),
    ("comma-empty-ifname", {ANN: "net-a@"}, [], 107, ["interface", "empty"]),
    ("comma-long-ifname", {ANN: "net-a@abcdefghijklmnop"}, [], 107, ["interface", "15 bytes"]),
    ("comma-ifname-slash", {ANN: "net-a@a/b"}, [], 107, ["interface", "'/'"]),
    ("comma-ifname-dotdot", {ANN: "net-a@.."}, [], 107, ["interface", "'.'"]),
    ("comma-trailing-dash", {ANN: "net-a-"}, [], 107, ["'net-a-'", "DNS-1123"]),
    # JSON form
    ("json-invalid", {ANN: "[{\"name\": }]"}, [], 107, ["not valid JSON"]),
    ("json-not-list", {ANN: j({"name": "net-a"})}, [], 107, ["must be a list"]),
    ("json-element-not-object", {ANN: j(["net-a"])}, [], 107, ["element 1", "must be an object"]),
    ("json-missing-name", {ANN: j([{"interface": "x1"}])}, [], 107, ["name:", "Field required"]),
    ("json-unknown-key", {ANN: j([{"name": "net-a", "colour": "red"}])}, [], 107,
     ["unknown key", "colour", "strictAnnotations"]),
    ("json-ipam-claim", {ANN: j([{"name": "net-a", "ipam-claim-reference": "x"}])}, [], 107, ["ipam-claim-reference"]),
    ("json-ips-not-list", {ANN: j([{"name": "cap", "ips": "10.1.1.1/24"}])}, [], 107, ["ips:", "list"]),
    ("json-ip-no-prefix", {ANN: j([{"name": "cap", "ips": ["10.1.1.1"]}])}, [], 107, ["'10.1.1.1'", "prefix"]),
    ("json-ip-garbage", {ANN: j([{"name": "cap", "ips": ["10.1.1.300/24"]}])}, [], 107, ["10.1.1.300/24"]),
    ("json-mac-short", {ANN: j([{"name": "cap", "mac": "02:00:00:00:00"}])}, [], 107, ["mac:", "six hex"]),
    ("json-mac-multicast", {ANN: j([{"name": "cap", "mac": "01:00:5e:00:00:01"}])}, [], 107, ["multicast"]),
    ("json-mac-zero", {ANN: j([{"name": "cap", "mac": "00:00:00:00:00:00"}])}, [], 107, ["all-zero"]),
    ("json-port-range", {ANN: j([{"name": "cap", "portMappings": [{"hostPort": 70000, "containerPort": 80}]}])},
     [], 107, ["hostPort", "1-65535"]),
    ("json-port-zero", {ANN: j([{"name": "cap", "portMappings": [{"hostPort": 80, "containerPort": 0}]}])},
     [], 107, ["containerPort"]),
    ("json-port-protocol", {ANN: j([{"name": "cap", "portMappings": [{"hostPort": 80, "containerPort": 80,
                                                                      "protocol": "icmp"}]}])},
     [], 107, ["protocol", "icmp"]),
    ("json-port-hostip", {ANN: j([{"name": "cap", "portMappings": [{"hostPort": 80, "containerPort": 80,
                                                                    "hostIP": "nope"}]}])}, [], 107, ["hostIP"]),
    ("json-port-unknown", {ANN: j([{"name": "cap", "portMappings": [{"hostPort": 80, "containerPort": 80,
                                                                     "proto": "tcp"}]}])}, [], 107, ["proto"]),
    ("json-bandwidth-negative", {ANN: j([{"name": "cap", "bandwidth": {"ingressRate": -1}}])}, [], 107,
     ["ingressRate", "non-negative"]),
    ("json-bandwidth-no-burst", {ANN: j([{"name": "cap", "bandwidth": {"egressRate": 1000}}])}, [], 107,
     ["egressBurst"]),
    ("json-bandwidth-string", {ANN: j([{"name": "cap", "bandwidth": {"ingressRate": "1M", "ingressBurst": 1}}])},
     [], 107, ["ingressRate"]),
    ("json-default-route-bad", {ANN: j([{"name": "net-a", "default-route": ["gateway"]}])}, [], 107,
     ["default-route", "'gateway'"]),
    ("json-default-route-two-v4", {ANN: j([{"name": "net-a", "default-route": ["10.0.0.1", "10.0.0.2"]}])},
     [], 107, ["at most one IPv4"]),
    ("json-guid-bad", {ANN: j([{"name": "cap", "infiniband-guid": "00:11"}])}, [], 107, ["InfiniBand GUID"]),
    ("json-cni-args-list", {ANN: j([{"name": "net-a", "cni-args": ["x"]}])}, [], 107, ["cni-args:", "dictionary"]),
    ("json-deviceid-bad", {ANN: j([{"name": "net-a", "deviceID": "../../x"}])}, [], 107, ["deviceID"]),
    ("json-bad-interface", {ANN: j([{"name": "net-a", "interface": "eth 1"}])}, [], 107, ["interface"]),
    # capability rule (spec; strictAnnotations only — Multus passes or drops): a request the
    # network's plugins do not declare
    ("cap-ips-undeclared", {ANN: j([{"name": "net-a", "ips": ["10.1.1.5/24"]}])}, [], 107,
     ["ns1/net-a", "'ips'", "capability"]),
    ("cap-mac-undeclared", {ANN: j([{"name": "net-a", "mac": "02:00:00:00:00:09"}])}, [], 107, ["'mac'"]),
    ("cap-ports-undeclared", {ANN: j([{"name": "net-a", "portMappings": [{"hostPort": 1, "containerPort": 1}]}])},
     [], 107, ["'portMappings'"]),
    ("cap-bandwidth-undeclared", {ANN: j([{"name": "net-a", "bandwidth": {"ingressRate": 1, "ingressBurst": 1}}])},
     [], 107, ["'bandwidth'"]),
    ("cap-guid-undeclared", {ANN: j([{"name": "net-a", "infiniband-guid": "00:11:22:33:44:55:66:77"}])},
     [], 107, ["'infinibandGUID'"]),
    # interface names
    ("duplicate-ifname", {ANN: "net-a@data0,net-b@data0"}, [], 7, ["'data0'", "ns1/net-a", "ns1/net-b"]),
    ("ifname-clashes-eth0", {ANN: "net-a@eth0"}, [], 7, ["'eth0'"]),
    # NADs
    ("nad-missing", {ANN: "nope"}, [], 105, ["ns1/nope", "not found"]),
    ("nad-invalid-json", {ANN: "broken"}, [nad("broken", "{not json", namespace="ns1")], 7,
     ["NetworkAttachmentDefinition ns1/broken", "not valid JSON"]),
    ("nad-config-list", {ANN: "listy"}, [nad("listy", "[1,2]", namespace="ns1")], 7, ["ns1/listy", "JSON object"]),
    ("nad-no-type", {ANN: "typeless"}, [nad("typeless", {"cniVersion": "1.0.0"}, namespace="ns1")], 7,
     ["ns1/typeless", "neither 'plugins' nor 'type'"]),
    ("nad-bad-version", {ANN: "oldver"}, [nad("oldver", {"cniVersion": "one", "type": "pa"}, namespace="ns1")], 7,
     ["ns1/oldver", "one"]),
    ("nad-plugin-path-type", {ANN: "evil"}, [nad("evil", {"cniVersion": "1.0.0", "type": "../../bin/sh"},
                                                   namespace="ns1")], 7, ["ns1/evil", "../../bin/sh"]),
    ("nad-empty-config-no-file", {ANN: "ghost"}, [nad("ghost", "", namespace="ns1")], 105,
     ["ns1/ghost", "empty spec.config"]),
    ("nad-empty-plugins", {ANN: "noplug"}, [nad("noplug", {"cniVersion": "1.0.0", "name": "x", "plugins": []},
                                                   namespace="ns1")], 7, ["ns1/noplug", "plugins"]),
    # legacy Network objects
    ("legacy-missing", {"networks": j([{"name": "nowhere"}])}, [], 105, ["Network 'nowhere'"]),
    ("legacy-annotation-not-json", {"networks": "flannel-conf"}, [], 107, ["annotation networks", "JSON"]),
    ("legacy-annotation-empty-list", {"networks": "[]"}, [], 107, ["non-empty"]),
    ("legacy-annotation-extra-key", {"networks": j([{"name": "ok-net", "interface": "x"}])}, [], 107,
     ["only a \"name\""]),
    ("legacy-args-not-list", {"networks": j([{"name": "argsobj"}])},
     [legacy_network("argsobj", "pa", '{"ipam": {}}')], 7, ["Network default/argsobj", "JSON list"]),
    ("legacy-args-invalid", {"networks": j([{"name": "argsbad"}])},
     [legacy_network("argsbad", "pa", "[{oops")], 7, ["Network default/argsbad", "not valid JSON"]),
    ("legacy-no-plugin", {"networks": j([{"name": "noplugin"}])},
     [{"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": "noplugin"}, "args": "[{}]"}],
     7, ["Network default/noplugin", "\"plugin\""]),
    ("legacy-second-without-type", {"networks": j([{"name": "chain2"}])},
     [legacy_network("chain2", "pa", [{}, {"ipam": {}}])], 7, ["element 2", "\"type\""]),
    ("both-annotations", {"networks": j([{"name": "x"}]), ANN: "net-a"}, [], 107, ["both"]),
    ("default-network-bad", {"v1.multus-cni.io/default-network": "Bad Name"}, [], 107,
     ["v1.multus-cni.io/default-network"]),
]


# refused only with strictAnnotations (Multus ignores unknown keys and undeclared requests;
# tests/unit/networks/test_multus_compat.py covers that default)
STRICT = {"json-unknown-key", "json-ipam-claim"} | {c[0] for c in CASES if c[0].startswith("cap-")}


@pytest.fixture
def world(tmp_path, fake_plugins):
    fake_plugins.make("cluster")
    fake_plugins.make("pa")
    w = World(tmp_path, fake_plugins.dir)
    w.add(nad("cluster-net", {"cniVersion": "1.0.0", "type": "cluster"}, namespace="kube-system"),
          nad("net-a", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1"),
          nad("net-b", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1"),
          nad("cap", {"cniVersion": "1.0.0", "type": "pa", "capabilities": {
              "ips": True, "mac": True, "portMappings": True, "bandwidth": True, "infinibandGUID": True}},
              namespace="ns1"))
    w.plugins = fake_plugins
    return w


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case,annotations,objects,code,texts", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, case, annotations, objects, code, texts) -> None:
    if objects:
        world.add(*objects)
    reply = world.call("ADD", world.conf(clusterNetwork="cluster-net", strictAnnotations=case in STRICT), annotations)
    assert reply.exit_code == 1
    err = json.loads(reply.stdout)
    assert err["code"] == code, err
    assert "pod ns1/pod1" in err["msg"], err
    for text in texts:
        assert text in err["msg"], (text, err["msg"])
    # nothing ran, nothing left
    for log in world.plugins.logs.glob("*.jsonl"):
        assert '"ADD"' not in log.read_text(), f"{log.stem} was executed"
    assert world.journal_ids() == []
