"""Selection over a standalone cluster on disk, through the real entry, with fake delegates."""
from __future__ import annotations

import json

import pytest

from tests.support.world import World, legacy_network, nad

ANN = "k8s.v1.cni.cncf.io/networks"


@pytest.fixture
def world(tmp_path, fake_plugins):
    for name in ("cluster", "pa", "pb", "pc", "capable", "legacy0", "legacy1"):
        fake_plugins.make(name)
    w = World(tmp_path, fake_plugins.dir)
    w.add(nad("cluster-net", {"cniVersion": "1.0.0", "type": "cluster"}, namespace="kube-system"),
          nad("net-a", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1"),
          nad("net-b", {"cniVersion": "1.0.0", "type": "pb"}, namespace="ns1"),
          nad("net-c", {"cniVersion": "0.4.0", "name": "c-chain", "plugins": [{"type": "pc"}]}, namespace="other"),
          nad("cap", {"cniVersion": "1.0.0", "type": "capable", "capabilities": {
              "ips": True, "mac": True, "portMappings": True, "bandwidth": True, "infinibandGUID": True}},
              namespace="ns1"))
    w.plugins = fake_plugins
    return w


def ifnames(world, *plugin_names):
    log = {p: world.plugins.dir / p for p in plugin_names}
    out = {}
    for name in plugin_names:
        calls = [json.loads(line) for line in (world.plugins.logs / f"{name}.jsonl").read_text().splitlines()]
        adds = [c for c in calls if c["command"] == "ADD"]
        out[name] = [c["env"]["CNI_IFNAME"] for c in adds]
    return out


def test_comma_form_names_and_order(world) -> None:
    conf = world.conf(clusterNetwork="cluster-net")
    reply = world.call("ADD", conf, {ANN: "net-a, net-b@data0 ,other/net-c"})
    assert reply.exit_code == 0, reply.stdout
    assert ifnames(world, "cluster", "pa", "pb", "pc") == {
        "cluster": ["eth0"], "pa": ["net1"], "pb": ["data0"], "pc": ["net3"]}  # net<position>, as Multus
    status = json.loads((world.state / "status" / "ns1_pod1.json").read_text())["networkStatus"]
    assert [s["name"] for s in status] == ["kube-system/cluster-net", "ns1/net-a", "ns1/net-b", "other/net-c"]
    assert [s["interface"] for s in status] == ["eth0", "net1", "data0", "net3"]
    assert status[0]["default"] is True and not any(s["default"] for s in status[1:])
    assert world.call("DEL", conf, {ANN: "net-a, net-b@data0 ,other/net-c"}).exit_code == 0
    assert world.journal_ids() == []


def test_json_form_runtime_args_go_to_their_own_network(world) -> None:
    conf = world.conf(clusterNetwork="cluster-net",
                      runtimeConfig={"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    value = json.dumps([{"name": "cap", "ips": ["10.5.0.7/24"], "mac": "02:00:00:00:00:07",
                         "portMappings": [{"hostPort": 9000, "containerPort": 90}],
                         "bandwidth": {"ingressRate": 1000, "ingressBurst": 100},
                         "infiniband-guid": "00:11:22:33:44:55:66:77", "cni-args": {"foo": "pod"}},
                        {"name": "net-a", "interface": "fast0"}])
    reply = world.call("ADD", conf, {ANN: value})
    assert reply.exit_code == 0, reply.stdout
    cap = json.loads([l for l in (world.plugins.logs / "capable.jsonl").read_text().splitlines()
                      if '"ADD"' in l][-1])["stdin"]
    cap = json.loads(cap)
    assert cap["runtimeConfig"] == {"ips": ["10.5.0.7/24"], "mac": "02:00:00:00:00:07",
                                    "portMappings": [{"hostPort": 9000, "containerPort": 90}],
                                    "bandwidth": {"ingressRate": 1000, "ingressBurst": 100},
                                    "infinibandGUID": "00:11:22:33:44:55:66:77"}
    assert cap["args"]["cni"] == {"foo": "pod"}
    cluster = [json.loads(l) for l in (world.plugins.logs / "cluster.jsonl").read_text().splitlines()]
    assert "runtimeConfig" not in json.loads([c for c in cluster if c["command"] == "ADD"][0]["stdin"])
    assert ifnames(world, "capable", "pa") == {"capable": ["net1"], "pa": ["fast0"]}
    # default-route changes the pod's routes: tested with a real netns in tests/integration/chain


def test_cni_args_pod_wins_over_nad(world) -> None:
    world.add(nad("argy", {"cniVersion": "1.0.0", "type": "pa", "args": {"cni": {"foo": "nad", "keep": 1}}},
                  namespace="ns1"))
    reply = world.call("ADD", world.conf(clusterNetwork="cluster-net"),
                       {ANN: json.dumps([{"name": "argy", "cni-args": {"foo": "pod"}}])})
    assert reply.exit_code == 0, reply.stdout
    sent = json.loads(json.loads((world.plugins.logs / "pa.jsonl").read_text().splitlines()[-1])["stdin"])
    assert sent["args"]["cni"] == {"foo": "pod", "keep": 1}


def test_seed_legacy_flow(world) -> None:
    world.add(legacy_network("flannel-conf", "legacy0", [{"delegate": {"isDefaultGateway": True}}]),
              legacy_network("ptp-conf", "legacy1", '[ { "ipam": { "type": "host-local", "subnet": "10.168.1.0/24" } } ]'))
    conf = world.conf(delegates=[{"cniVersion": "1.0.0", "name": "unused", "type": "cluster"}])
    reply = world.call("ADD", conf, {"networks": '[{"name":"flannel-conf"},{"name":"ptp-conf"}]'}, namespace="default")
    assert reply.exit_code == 0, reply.stdout
    assert ifnames(world, "legacy0", "legacy1") == {"legacy0": ["eth0"], "legacy1": ["net0"]}
    sent = json.loads(json.loads((world.plugins.logs / "legacy1.jsonl").read_text().splitlines()[-1])["stdin"])
    assert sent["type"] == "legacy1" and sent["name"] == "ptp-conf" and sent["ipam"]["subnet"] == "10.168.1.0/24"
    assert not (world.plugins.logs / "cluster.jsonl").exists() or "ADD" not in (world.plugins.logs / "cluster.jsonl").read_text()


def test_delegates_masterplugin_seed_naming(world) -> None:
    conf = world.conf(delegates=[{"cniVersion": "1.0.0", "name": "x", "type": "pa"},
                                 {"cniVersion": "1.0.0", "name": "y", "type": "pb", "masterplugin": True},
                                 {"cniVersion": "1.0.0", "name": "z", "type": "pc"}])
    assert world.call("ADD", conf, {}).exit_code == 0
    assert ifnames(world, "pa", "pb", "pc") == {"pa": ["net0"], "pb": ["eth0"], "pc": ["net1"]}


def test_default_network_annotation_and_default_networks(world) -> None:
    world.add(nad("alt", {"cniVersion": "1.0.0", "type": "pb"}, namespace="kube-system"),
              nad("always", {"cniVersion": "1.0.0", "type": "pc"}, namespace="kube-system"))
    conf = world.conf(clusterNetwork="cluster-net", defaultNetworks=["always"])
    assert world.call("ADD", conf, {"v1.multus-cni.io/default-network": "alt", ANN: "net-a"}).exit_code == 0
    assert ifnames(world, "pb", "pc", "pa") == {"pb": ["eth0"], "pc": ["net1"], "pa": ["net2"]}
    # pods in systemNamespaces skip defaultNetworks
    assert world.call("ADD", conf, {}, cid="c2", namespace="kube-system", pod="sys").exit_code == 0
    assert ifnames(world, "pc")["pc"] == ["net1"]


def test_namespace_isolation(world) -> None:
    conf = world.conf(clusterNetwork="cluster-net", namespaceIsolation=True, globalNamespaces="default,shared")
    reply = world.call("ADD", conf, {ANN: "other/net-c"})
    err = json.loads(reply.stdout)
    assert err["code"] == 107 and "other/net-c" in err["msg"] and "namespaceIsolation" in err["msg"]
    world.add(nad("shared-net", {"cniVersion": "1.0.0", "type": "pa"}, namespace="shared"))
    assert world.call("ADD", conf, {ANN: "shared/shared-net"}, cid="c2").exit_code == 0


@pytest.mark.parametrize("form", ["file", "dir", "nad", "name"])
def test_cluster_network_forms(world, form) -> None:
    primary = {"cniVersion": "1.0.0", "name": "primary", "type": "cluster"}
    (world.conf_dir / "10-primary.conf").write_text(json.dumps(primary))
    (world.conf_dir / "00-multus-dp.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "ours",
                                                                       "plugins": [{"type": "pa"}]}))
    target = {"file": str(world.conf_dir / "10-primary.conf"), "dir": str(world.conf_dir),
              "nad": "cluster-net", "name": "primary"}[form]
    assert world.call("ADD", world.conf(clusterNetwork=target), {}).exit_code == 0
    assert ifnames(world, "cluster")["cluster"] == ["eth0"]


def test_empty_nad_config_found_by_name_in_conf_dir(world) -> None:
    (world.conf_dir / "macvlan.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "from-file", "plugins": [{"type": "pb"}]}))
    world.add(nad("from-file", "", namespace="ns1"))
    assert world.call("ADD", world.conf(clusterNetwork="cluster-net"), {ANN: "from-file"}).exit_code == 0
    assert ifnames(world, "pb")["pb"] == ["net1"]


def test_explicit_names_do_not_collide_with_generated(world) -> None:
    reply = world.call("ADD", world.conf(clusterNetwork="cluster-net"), {ANN: "net-a,net-b@net1,other/net-c"})
    assert reply.exit_code == 0, reply.stdout
    assert ifnames(world, "pa", "pb", "pc") == {"pa": ["net2"], "pb": ["net1"], "pc": ["net3"]}


def test_device_ids_from_kubelet_assignment(world, tmp_path) -> None:
    import dataclasses

    from multus_dp.chain.context import standalone_context
    from multus_dp.chain.entry import handle
    from multus_dp.networks.conf import MultusConf

    world.add(nad("vf-net", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1", resource="intel.com/sriov"))

    class Kubelet:  # the DeviceAssignments seam: what the kubelet gave each pod
        source = "test"

        def assigned(self, resource: str) -> set[str]:
            return set()

        def device_ids(self, pod_uid: str, resource: str, namespace: str = "", name: str = "") -> list[str]:
            return {("uid-1", "intel.com/sriov"): ["0000:af:06.1", "0000:af:06.0"]}.get((pod_uid, resource), [])

    def factory(conf: MultusConf):
        return dataclasses.replace(standalone_context(conf), assignments=Kubelet()).runner(conf)

    conf = world.conf(clusterNetwork="cluster-net",
                      runtimeConfig={"io.kubernetes.cri.pod-annotations": {ANN: "vf-net,vf-net@vf1"}})
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": str(world.plugin_dir), "CNI_ARGS": "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p;K8S_POD_UID=uid-1"}
    reply = handle(env, json.dumps(conf).encode(), factory)
    assert reply.exit_code == 0, reply.stdout
    calls = [json.loads(line) for line in (world.plugins.logs / "pa.jsonl").read_text().splitlines()]
    sent = {c["env"]["CNI_IFNAME"]: json.loads(c["stdin"]) for c in calls if c["command"] == "ADD"}
    assert {k: v["deviceID"] for k, v in sent.items()} == {"net1": "0000:af:06.0", "vf1": "0000:af:06.1"}
    assert {k: v["pciBusID"] for k, v in sent.items()} == {"net1": "0000:af:06.0", "vf1": "0000:af:06.1"}
    assert "runtimeConfig" not in sent["net1"]  # pa declares no capabilities
    # a third attachment of that resource has no device left
    conf["runtimeConfig"]["io.kubernetes.cri.pod-annotations"][ANN] = "vf-net,vf-net@vf1,vf-net@vf2"
    env["CNI_CONTAINERID"] = "c2"
    err = json.loads(handle(env, json.dumps(conf).encode(), factory).stdout)
    assert err["code"] == 108 and "intel.com/sriov" in err["msg"]


def test_standalone_ignored_requests_are_logged(world, caplog) -> None:
    """Without Kubernetes there is no Event to send: the log line says what was ignored."""
    value = json.dumps([{"name": "net-a", "colour": "red", "mac": "02:00:00:00:00:05"}])
    with caplog.at_level("WARNING"):
        reply = world.call("ADD", world.conf(clusterNetwork="cluster-net"), {ANN: value})
    assert reply.exit_code == 0, reply.stdout
    warned = [r.getMessage() for r in caplog.records if r.name.endswith("chain")]
    assert any("'colour'" in m and "ns1/net-a" in m and "ignored" in m for m in warned), warned
    assert any("'mac'" in m and "CNI_ARGS MAC=" in m for m in warned), warned
    sent = [json.loads(line) for line in (world.plugins.logs / "pa.jsonl").read_text().splitlines()][-1]
    assert sent["env"]["CNI_ARGS"].endswith(";MAC=02:00:00:00:00:05")
    # strictAnnotations: the same annotation is refused, nothing runs
    reply = world.call("ADD", world.conf(clusterNetwork="cluster-net", strictAnnotations=True), {ANN: value},
                       cid="c2")
    assert reply.exit_code == 1 and json.loads(reply.stdout)["code"] == 107
