"""Whole ADD/DEL flows through the real entry, selection and the Kubernetes sources, with
fake delegates and kmock's emulator as the API server."""
from __future__ import annotations

import json

import pytest

from multus_dp.k8s.kinds import NADS, NETWORKS, PODS

from .conftest import eventually
from .emulator import pod
from .flow import Node, legacy_network, nad

STATUS = "k8s.v1.cni.cncf.io/network-status"


@pytest.fixture
def node(tmp_path, fake_plugins, make_sources):
    def make(**keys) -> Node:
        return Node(make_sources(**keys), fake_plugins, tmp_path / "state")
    return make


def network_status(emu, name: str = "web", namespace: str = "ns1") -> list[dict] | None:
    obj = emu.get(PODS, namespace, name)
    value = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(STATUS)
    return json.loads(value) if value else None


def ifnames(plugin) -> list[str]:
    return [c["env"]["CNI_IFNAME"] for c in plugin.calls() if c["command"] == "ADD"]


def seed_npwg(emu, fake_plugins) -> dict:
    plugins = {"cluster": fake_plugins.make("cluster", address="10.244.1.5/24"),
               "pa": fake_plugins.make("pa", address="192.168.50.7/24")}
    emu.seed(NADS, nad("cluster-net", "cluster", namespace="kube-system"))
    emu.seed(NADS, nad("net-a", "pa"))
    emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-a", "keep": "me"}))
    return plugins


def test_npwg_flow_warm_cache_one_write_zero_reads(emu, fake_plugins, node) -> None:
    seed_npwg(emu, fake_plugins)
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    mark = emu.mark()
    reply = n.call("ADD", conf)
    assert reply.exit_code == 0, reply.stdout
    assert n.sources.publisher.flush(10)
    on_add = emu.since(mark)
    reads = [r for r in on_add if not r.write]
    patches = [r for r in on_add if r.method == "PATCH"]
    events = [r for r in on_add if r.method == "POST"]
    assert reads == []
    assert [(r.path, r.headers["Content-Type"]) for r in patches] == [
        ("/api/v1/namespaces/ns1/pods/web/status", "application/merge-patch+json")]
    assert set(patches[0].body) == {"metadata"} and set(patches[0].body["metadata"]) == {"uid", "annotations"}
    assert list(patches[0].body["metadata"]["annotations"]) == [STATUS]
    assert len(on_add) == 1 + len(events) and len(events) == 2
    assert [e.body["message"] for e in events] == ["Add eth0 [10.244.1.5] from kube-system/cluster-net",
                                                   "Add net1 [192.168.50.7] from ns1/net-a"]
    assert {e.body["reason"] for e in events} == {"AddedInterface"}

    status = network_status(emu)
    assert [(s["name"], s["interface"], s["ips"], s["default"]) for s in status] == [
        ("kube-system/cluster-net", "eth0", ["10.244.1.5"], True), ("ns1/net-a", "net1", ["192.168.50.7"], False)]
    assert emu.get(PODS, "ns1", "web")["metadata"]["annotations"]["keep"] == "me"  # a merge, not a rewrite

    assert n.call("DEL", conf).exit_code == 0
    assert n.sources.publisher.flush(10)
    assert network_status(emu) is None
    assert emu.get(PODS, "ns1", "web")["metadata"]["annotations"]["keep"] == "me"


def test_seed_flow_legacy_networks_attach_eth0_and_net0(emu, fake_plugins, node) -> None:
    flannel = fake_plugins.make("flannel", address="10.1.0.4/16")
    ptp = fake_plugins.make("ptp-seed", address="10.2.0.4/24")
    emu.seed(NETWORKS, legacy_network("flannel-conf", "flannel", [{"delegate": {"isDefaultGateway": True}}]))
    emu.seed(NETWORKS, legacy_network("ptp-conf", "ptp-seed", [{"ipam": {"type": "host-local"}}]))
    emu.seed(PODS, pod("web", annotations={"networks": '[{"name": "flannel-conf"}, {"name": "ptp-conf"}]'}))
    n = node()
    conf = n.conf()
    mark = emu.mark()
    reply = n.call("ADD", conf)
    assert reply.exit_code == 0, reply.stdout
    assert ifnames(flannel) == ["eth0"] and ifnames(ptp) == ["net0"]
    assert n.sources.publisher.flush(10)
    on_add = emu.since(mark)
    assert [r for r in on_add if not r.write] == []  # ns1 misses and the default hits: all from the cache
    assert [r.method for r in on_add if r.method != "POST"] == ["PATCH"]
    status = network_status(emu)
    assert [(s["name"], s["interface"], s["ips"]) for s in status] == [
        ("default/flannel-conf", "eth0", ["10.1.0.4"]), ("default/ptp-conf", "net0", ["10.2.0.4"])]
    assert n.call("DEL", conf).exit_code == 0


def test_api_going_away_keeps_cached_pods_working_and_publishing_catches_up(emu, fake_plugins, node) -> None:
    seed_npwg(emu, fake_plugins)
    emu.seed(PODS, pod("other", annotations={"k8s.v1.cni.cncf.io/networks": "net-a"}))
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    emu.stop_server()
    eventually(lambda: not n.sources.nad_store.live, what="the informers to notice the outage")

    add = n.call("ADD", conf)                                  # cached pod, cached NADs
    assert add.exit_code == 0, add.stdout
    assert n.call("ADD", conf, pod="other", cid="c2").exit_code == 0
    assert n.call("DEL", conf, pod="other", cid="c2").exit_code == 0
    unknown = n.call("ADD", conf, pod="brand-new", cid="c3")  # not cached: needs the API
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["code"] == 11, unknown.stdout
    assert "brand-new" in json.loads(unknown.stdout)["msg"]
    assert sorted(p.stem for p in (n.state / "attachments").glob("*.json")) == ["c1"]
    eventually(lambda: n.sources.metrics.get("publish_failures") >= 1, what="a failed publish")
    assert n.sources.publisher.pending() >= 1

    emu.start_server()
    eventually(lambda: network_status(emu), what="publishing to catch up")
    assert [s["interface"] for s in network_status(emu)] == ["eth0", "net1"]
    assert n.sources.publisher.flush(10)
    assert network_status(emu, "other") is None
    eventually(lambda: n.sources.nad_store.live, what="the watches to reconnect")
    assert n.sources.metrics.get("relists") >= 1


def test_statefulset_recreation_with_a_stale_cache_asks_the_api(emu, fake_plugins, node) -> None:
    seed_npwg(emu, fake_plugins)
    # the pod watch connects but delivers nothing: the cache keeps what the LIST saw
    emu.react(lambda k: k["watch", k.resource("", "v1", "pods")] << (b"", ...))
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    # the pod is re-created under the same name; the watch has not delivered it yet
    emu.seed(PODS, pod("web", uid="uid-web-2", annotations={"k8s.v1.cni.cncf.io/networks": "net-a"}))
    mark = emu.mark()
    reply = n.call("ADD", conf, uid="uid-web-2")
    assert reply.exit_code == 0, reply.stdout
    assert n.sources.publisher.flush(10)
    assert [(r.method, r.path) for r in emu.since(mark) if not r.write] == [("GET", "/api/v1/namespaces/ns1/pods/web")]
    assert network_status(emu) is not None


def test_uid_mismatch_fails_add_and_leaves_nothing(emu, fake_plugins, node) -> None:
    plugins = seed_npwg(emu, fake_plugins)
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    reply = n.call("ADD", conf, uid="uid-of-a-deleted-pod")
    assert reply.exit_code == 1
    err = json.loads(reply.stdout)
    assert err["code"] == 106 and "uid-of-a-deleted-pod" in err["msg"] and "uid-web" in err["msg"]
    assert list((n.state / "attachments").glob("*.json")) == []
    assert plugins["cluster"].commands() == [] and plugins["pa"].commands() == []
    assert n.sources.publisher.flush(10) and network_status(emu) is None


def test_static_pod_mirror_uid_is_accepted_and_used_for_the_patch(emu, fake_plugins, node) -> None:
    seed_npwg(emu, fake_plugins)
    emu.seed(PODS, pod("etcd-node1", uid="mirror-uid", annotations={
        "kubernetes.io/config.source": "file", "kubernetes.io/config.mirror": "static-hash",
        "k8s.v1.cni.cncf.io/networks": "net-a"}))
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    mark = emu.mark()
    reply = n.call("ADD", conf, pod="etcd-node1", uid="static-hash")
    assert reply.exit_code == 0, reply.stdout
    assert n.sources.publisher.flush(10)
    patches = [r for r in emu.since(mark) if r.method == "PATCH"]
    assert [p.body["metadata"]["uid"] for p in patches] == ["mirror-uid"]
    assert network_status(emu, "etcd-node1") is not None


def test_del_of_a_pod_that_is_gone_succeeds(emu, fake_plugins, node) -> None:
    plugins = seed_npwg(emu, fake_plugins)
    n = node()
    conf = n.conf(clusterNetwork="cluster-net")
    assert n.call("ADD", conf).exit_code == 0
    emu.delete(PODS, "ns1", "web")
    eventually(lambda: n.sources.pod_store.get("ns1", "web") is None, what="the pod delete")
    assert n.call("DEL", conf).exit_code == 0                 # journal-driven
    assert n.call("DEL", conf).exit_code == 0                 # again: nothing recorded, pod gone
    assert plugins["pa"].commands() == ["ADD", "DEL"]        # the second DEL had nothing to undo
    assert n.sources.publisher.flush(10)


def test_thin_mode_does_plain_gets_and_publishes_inline(emu, fake_plugins, make_sources, tmp_path) -> None:
    seed_npwg(emu, fake_plugins)
    n = Node(make_sources(watch=False), fake_plugins, tmp_path / "state")
    conf = n.conf(clusterNetwork="cluster-net")
    mark = emu.mark()
    assert n.call("ADD", conf).exit_code == 0
    seen = emu.since(mark, watches=True)
    assert [r.path for r in seen if not r.write] == [
        "/api/v1/namespaces/ns1/pods/web",
        "/apis/k8s.cni.cncf.io/v1/namespaces/kube-system/network-attachment-definitions/cluster-net",
        "/apis/k8s.cni.cncf.io/v1/namespaces/ns1/network-attachment-definitions/net-a"]
    assert network_status(emu) is not None  # published before the ADD returned: nothing runs after exit
