"""The network-status publisher: merge patches off the critical path, retries, events."""
from __future__ import annotations

import json

from multus_dp.k8s.kinds import PODS
from multus_dp.networks.attachment import PodRef

from .conftest import eventually
from .emulator import EVENTS, pod

STATUS = "k8s.v1.cni.cncf.io/network-status"
ENTRY = [{"name": "kube-system/cluster", "interface": "eth0", "ips": ["10.0.0.2"], "default": True, "dns": {}}]


def annotation(emu, name: str = "web") -> list | None:
    value = (emu.get(PODS, "ns1", name) or {}).get("metadata", {}).get("annotations", {}).get(STATUS)
    return json.loads(value) if value else None


def test_publish_returns_at_once_while_the_api_is_down_then_lands(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    emu.stop_server()
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", ENTRY)  # must not block or raise
    assert sources.publisher.pending() == 1
    eventually(lambda: sources.metrics.get("publish_failures") >= 2, what="failed attempts being retried")
    emu.start_server()
    assert sources.publisher.flush(10)
    assert annotation(emu) == ENTRY
    assert sources.metrics.get("publish_ok") == 1


def test_newer_work_for_a_pod_replaces_queued_work(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    emu.stop_server()
    second = [dict(ENTRY[0], ips=["10.0.0.3"])]
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", ENTRY)
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c2", second)
    assert sources.publisher.pending() == 1
    # an attempt of c1 already in flight when c2 came may land; wait until one failed after c2
    # was queued: then c1 is done (one pod is never attempted twice at once) and only c2 is left
    failed = sources.metrics.get("publish_failures")
    eventually(lambda: sources.metrics.get("publish_failures") > failed, what="an attempt after c2 was queued")
    mark = emu.mark()
    emu.start_server()
    assert sources.publisher.flush(10)
    assert annotation(emu) == second
    seen = emu.since(mark)
    assert [r.method for r in seen].count("PATCH") == 1
    assert [r.method for r in seen].count("POST") == 2  # both sandboxes' AddedInterface events


def test_withdraw_of_an_older_sandbox_keeps_the_newer_status(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    ref = PodRef("ns1", "web", "uid-web")
    sources.publisher.publish(ref, "old", ENTRY)
    sources.publisher.publish(ref, "new", ENTRY)
    sources.publisher.withdraw(ref, "old")
    assert sources.publisher.flush(10)
    assert annotation(emu) == ENTRY
    sources.publisher.withdraw(ref, "new")
    assert sources.publisher.flush(10)
    assert annotation(emu) is None


def test_a_recreated_pod_never_gets_the_old_sandboxs_status(emu, make_sources) -> None:
    emu.seed(PODS, pod("web", uid="uid-new"))
    sources = make_sources(watch=False)
    sources.publisher.publish(PodRef("ns1", "web", "uid-old"), "c1", ENTRY)
    assert annotation(emu) is None
    assert sources.metrics.get("publish_dropped") == 1
    assert emu.get(PODS, "ns1", "web")["metadata"]["uid"] == "uid-new"


def test_a_static_pod_resolves_the_conflict_with_its_mirror_uid(emu, make_sources) -> None:
    emu.seed(PODS, pod("etcd", uid="mirror-uid", annotations={
        "kubernetes.io/config.source": "file", "kubernetes.io/config.mirror": "static-hash"}))
    sources = make_sources(watch=False)  # no cache: the precondition fails once, then a GET resolves it
    mark = emu.mark()
    sources.publisher.publish(PodRef("ns1", "etcd", "static-hash"), "c1", ENTRY)
    assert annotation(emu, "etcd") == ENTRY
    assert [(r.method, (r.body or {}).get("metadata", {}).get("uid")) for r in emu.since(mark)
            if r.method != "POST"] == [("PATCH", "static-hash"), ("GET", None), ("PATCH", "mirror-uid")]


def test_pod_gone_drops_the_publish(emu, make_sources) -> None:
    sources = make_sources()
    sources.publisher.publish(PodRef("ns1", "ghost", "uid-ghost"), "c1", ENTRY)
    assert sources.publisher.flush(10)
    assert sources.metrics.get("publish_dropped") == 1
    assert sources.metrics.get("events_ok") == 0


def test_events_name_the_pod_and_interface(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", ENTRY + [
        {"name": "ns1/sriov-a", "interface": "net1", "ips": [], "default": False, "dns": {}}])
    assert sources.publisher.flush(10)
    events = sorted(emu.objects(EVENTS, "ns1"),
                    key=lambda e: e["message"])
    assert [(e["reason"], e["message"], e["involvedObject"]["name"], e["involvedObject"]["uid"], e["type"])
            for e in events] == [
        ("AddedInterface", "Add eth0 [10.0.0.2] from kube-system/cluster", "web", "uid-web", "Normal"),
        ("AddedInterface", "Add net1 [] from ns1/sriov-a", "web", "uid-web", "Normal")]
    assert {e["source"]["host"] for e in events} == {"node1"}


def test_an_event_that_landed_despite_an_error_is_not_sent_twice(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    # the emulator stores the event and then answers 409, as after a lost answer and a retry
    emu.react(lambda k: k["post", k.resource("", "v1", "events")][:1] << 409)
    mark = emu.mark()
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", ENTRY)
    assert sources.publisher.flush(10)
    assert [r.method for r in emu.since(mark)] == ["PATCH", "POST"]
    assert sources.metrics.get("events_failed") == 0
    assert len(emu.objects(EVENTS, "ns1")) == 1


def test_del_of_a_pod_being_deleted_sends_no_status_patch(emu, make_sources) -> None:
    deleting = pod("web")
    deleting["metadata"]["finalizers"] = ["example.com/hold"]   # so DELETE only sets deletionTimestamp
    emu.seed(PODS, deleting)
    sources = make_sources()
    ref = PodRef("ns1", "web", "uid-web")
    sources.publisher.publish(ref, "c1", ENTRY)
    assert sources.publisher.flush(10)
    emu.delete(PODS, "ns1", "web")
    eventually(lambda: sources.pod_source.cached("ns1", "web").deletion_timestamp,
               what="the watch to deliver the deletionTimestamp")
    mark = emu.mark()
    sources.publisher.withdraw(ref, "c1")
    assert sources.publisher.flush(10)
    assert emu.since(mark) == []
    assert sources.metrics.get("publish_skipped") == 1


def test_del_of_a_pod_that_lives_on_withdraws_its_status(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources()
    ref = PodRef("ns1", "web", "uid-web")
    sources.publisher.publish(ref, "c1", ENTRY)
    assert sources.publisher.flush(10)
    mark = emu.mark()
    sources.publisher.withdraw(ref, "c1")   # a sandbox re-created: the pod stays
    assert sources.publisher.flush(10)
    assert [r.method for r in emu.since(mark)] == ["PATCH"]
    assert annotation(emu) is None
    assert sources.metrics.get("publish_skipped") == 0


def slow_status_patches(emu, seconds: float) -> None:
    emu.react(lambda k: setattr(k, "delay", lambda request: seconds if request.url.path.endswith("/status") else 0.0))


def status_spans(emu) -> list[tuple[str, float, float]]:
    return emu.call(lambda: [(path, start, end) for method, path, start, end in emu.k.spans
                             if method == "PATCH" and path.endswith("/status")])


def test_a_slow_api_server_gets_several_pods_patched_at_once(emu, make_sources) -> None:
    for i in range(6):
        emu.seed(PODS, pod(f"web-{i}"))
    sources = make_sources(kubePublishWorkers=3)
    slow_status_patches(emu, 1.0)
    for i in range(6):
        sources.publisher.publish(PodRef("ns1", f"web-{i}", f"uid-web-{i}"), "c1", ENTRY)
    assert sources.publisher.pending() == 6          # the backlog gauge: queued + in flight
    assert sources.metrics.snapshot()["publish_pending"] == 6
    assert sources.publisher.flush(20)
    assert sources.publisher.pending() == 0 and sources.publisher.oldest_seconds() == 0.0
    spans = status_spans(emu)
    assert len(spans) == 6
    peak = max(sum(1 for _, s, e in spans if s <= start < e) for _, start, _ in spans)
    assert peak == 3                                 # kubePublishWorkers in flight, never more
    assert all(annotation(emu, f"web-{i}") == ENTRY for i in range(6))


def test_one_pods_updates_stay_in_order_and_only_the_latest_is_sent(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources(kubePublishWorkers=4)
    slow_status_patches(emu, 1.0)
    ref = PodRef("ns1", "web", "uid-web")
    versions = [[dict(ENTRY[0], ips=[f"10.0.0.{n}"])] for n in range(1, 5)]
    mark = emu.mark()
    sources.publisher.publish(ref, "c0", versions[0])
    eventually(lambda: [r for r in emu.since(mark) if r.method == "PATCH"], what="the first patch in flight")
    for n, status in enumerate(versions[1:], 1):
        sources.publisher.publish(ref, f"c{n}", status)
    assert sources.publisher.pending() == 1          # one pod behind: its first status in flight, the latest queued
    assert sources.publisher.oldest_seconds() >= 0.0
    assert sources.publisher.flush(20)
    patches = [json.loads(r.body["metadata"]["annotations"][STATUS]) for r in emu.since(mark) if r.method == "PATCH"]
    assert patches == [versions[0], versions[-1]]     # v2 and v3 coalesced away
    spans = sorted(status_spans(emu), key=lambda s: s[1])
    assert all(a[2] <= b[1] for a, b in zip(spans, spans[1:]))   # never two in flight for one pod
    assert annotation(emu) == versions[-1]
    assert len(emu.objects(EVENTS, "ns1")) == 4       # every sandbox's events are history: all sent
