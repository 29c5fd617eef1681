"""Watch caches against kmock's Kubernetes emulator with the real `kubernetes` client."""
from __future__ import annotations

from multus_dp.k8s.kinds import NADS, NETWORKS, PODS

from .conftest import eventually
from .emulator import pod


def nad(name: str, namespace: str = "ns1", config: str = '{"cniVersion": "1.0.0", "type": "macvlan"}',
        annotations: dict[str, str] | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": config}}


def test_warm_cache_answers_without_any_request(emu, make_sources) -> None:
    emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-a"}))
    emu.seed(NADS, nad("net-a"))
    sources = make_sources()
    mark = emu.mark()
    info = sources.pod_source.get_pod("ns1", "web", "uid-web")
    obj = sources.network_source.get_nad("ns1", "net-a")
    assert info is not None and info.annotations == {"k8s.v1.cni.cncf.io/networks": "net-a"}
    assert obj is not None and obj["spec"]["config"].startswith("{")
    assert emu.since(mark) == []
    assert sources.metrics.get("cache_hits") == 2


def test_pods_are_watched_for_this_node_only(emu, make_sources) -> None:
    emu.seed(PODS, pod("mine", node="node1"))
    emu.seed(PODS, pod("theirs", node="node2"))
    sources = make_sources()
    pod_lists = [r for r in emu.requests() if r.path == "/api/v1/pods"]
    assert pod_lists and all(r.params.get("fieldSelector") == "spec.nodeName=node1" for r in pod_lists)
    assert sources.pod_store.keys() == [("ns1", "mine")]


def test_pod_annotations_are_trimmed_to_what_selection_reads(emu, make_sources) -> None:
    emu.seed(PODS, pod("web", annotations={
        "k8s.v1.cni.cncf.io/networks": "a", "networks": "legacy", "v1.multus-cni.io/default-network": "x",
        "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 5000 + "}",
        "k8s.v1.cni.cncf.io/network-status": "[]", "unrelated.example.com/blob": "y"}))
    sources = make_sources()
    assert sorted(sources.pod_store.get("ns1", "web").annotations) == [
        "k8s.v1.cni.cncf.io/networks", "networks", "v1.multus-cni.io/default-network"]


def test_nad_created_after_start_is_seen_through_the_watch(emu, make_sources) -> None:
    sources = make_sources()
    mark = emu.mark()
    # a miss in a synced cache with a connected watch is an answer: no GET
    assert sources.network_source.get_nad("ns1", "late") is None
    assert emu.since(mark) == []
    emu.create(NADS, nad("late"))
    eventually(lambda: sources.nad_store.get("ns1", "late"), what="the watch to deliver the NAD")
    mark = emu.mark()
    assert sources.network_source.get_nad("ns1", "late")["metadata"]["name"] == "late"
    assert emu.since(mark) == []


def test_updates_and_deletes_reach_the_cache(emu, make_sources) -> None:
    emu.seed(NADS, nad("n1", config='{"type": "old"}'))
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    emu.patch(NADS, "ns1", "n1", {"spec": {"config": '{"type": "new"}'}})
    eventually(lambda: sources.nad_store.get("ns1", "n1")["spec"]["config"] == '{"type": "new"}', what="update")
    emu.delete(NADS, "ns1", "n1")
    emu.delete(PODS, "ns1", "web")
    eventually(lambda: sources.nad_store.get("ns1", "n1") is None and sources.pod_store.get("ns1", "web") is None,
               what="deletes")


def test_410_gone_relists(emu, make_sources) -> None:
    emu.seed(NADS, nad("before"))
    gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                                        "reason": "Expired", "message": "too old resource version: 1 (99)"}}
    # the first NAD watch answers 410 Gone at once, as an API server does after compaction
    emu.react(lambda k: k["watch", k.resource("k8s.cni.cncf.io", "v1", "network-attachment-definitions")][:1]
              << (gone,))
    sources = make_sources()
    lists = lambda: [r for r in emu.requests()  # noqa: E731
                     if r.path.endswith("/network-attachment-definitions") and not r.watch]
    eventually(lambda: len(lists()) >= 2, what="a relist after 410")
    assert sources.metrics.get("relists") >= 1
    emu.create(NADS, nad("after"))
    eventually(lambda: sources.nad_store.get("ns1", "after"), what="the watch after the relist")
    assert sources.nad_store.get("ns1", "before") is not None


def test_missing_crd_is_an_empty_synced_cache(emu, make_sources) -> None:
    # a cluster without the legacy Network CRD: the list is 404, lookups answer "not found" without a GET
    emu.react(lambda k: k["list", k.resource("kubernetes.com", "v1", "networks")] << 404)
    sources = make_sources()
    assert sources.synced()
    mark = emu.mark()
    assert sources.network_source.get_network("ns1", "anything") is None
    assert emu.since(mark) == []


def test_legacy_networks_are_cached(emu, make_sources) -> None:
    emu.seed(NETWORKS, {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                        "metadata": {"name": "flannel-conf", "namespace": "default"},
                        "plugin": "flannel", "args": '[{"delegate": {"isDefaultGateway": true}}]'})
    sources = make_sources()
    mark = emu.mark()
    obj = sources.network_source.get_network("default", "flannel-conf")
    assert obj["plugin"] == "flannel" and obj["args"].startswith("[")
    assert emu.since(mark) == []


def test_a_watch_the_server_ends_is_resumed_from_the_last_resource_version(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    changed = pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-b"})
    changed["metadata"]["resourceVersion"] = "42"
    # the first pod watch delivers one change and ends, as at the server's timeoutSeconds
    emu.react(lambda k: k["watch", k.resource("", "v1", "pods")][:1] << ({"type": "MODIFIED", "object": changed},))
    sources = make_sources()
    watches = lambda: [r for r in emu.requests() if r.path == "/api/v1/pods" and r.watch]  # noqa: E731
    eventually(lambda: len(watches()) >= 2, what="the watch to be resumed")
    assert watches()[0].params.get("resourceVersion") == "..."  # the LIST's (kmock answers "...")
    assert watches()[1].params.get("resourceVersion") == "42"
    assert len([r for r in emu.requests() if r.path == "/api/v1/pods" and not r.watch]) == 1  # no relist
    assert sources.metrics.get("relists") == 0
