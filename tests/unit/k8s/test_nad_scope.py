"""kubeNadScope: pod-namespaces — a daemon caches the NADs of the namespaces its own pods use
(and multusNamespace) instead of every NAD of the cluster."""
from __future__ import annotations

from multus_dp.k8s.kinds import NADS, PODS

from .conftest import eventually
from .emulator import pod
from .test_caches import nad

NAD_PATH = "network-attachment-definitions"


def nad_requests(emu) -> set[str]:
    return {f"{r.method} {r.path}" for r in emu.requests() if NAD_PATH in r.path}


def test_only_the_namespaces_of_this_nodes_pods_are_watched(emu, make_sources) -> None:
    emu.seed(PODS, pod("web", namespace="ns1", node="node1"))
    emu.seed(PODS, pod("theirs", namespace="ns3", node="node2"))
    for namespace in ("ns1", "ns2", "ns3", "kube-system"):
        emu.seed(NADS, nad(f"net-{namespace}", namespace=namespace))
    sources = make_sources(kubeNadScope="pod-namespaces")
    scoped = sources.scoped_nads
    assert scoped is not None
    eventually(lambda: scoped.namespaces() == ["kube-system", "ns1"] and
               scoped.get("ns1", "net-ns1") is not None, what="the NADs of ns1 to be watched")
    mark = emu.mark()
    assert sources.network_source.get_nad("ns1", "net-ns1")["metadata"]["name"] == "net-ns1"
    assert sources.network_source.get_nad("kube-system", "net-kube-system") is not None
    assert emu.since(mark) == []                                  # answered from the caches
    assert nad_requests(emu) == {f"GET /apis/k8s.cni.cncf.io/v1/namespaces/{ns}/{NAD_PATH}"
                                 for ns in ("kube-system", "ns1")}   # never cluster-wide, never ns2/ns3
    assert sorted(scoped.keys()) == [("kube-system", "net-kube-system"), ("ns1", "net-ns1")]
    assert sources.cache_sizes()["nads"] == 2


def test_a_new_namespace_is_watched_when_its_first_pod_arrives(emu, make_sources) -> None:
    emu.seed(NADS, nad("net-b", namespace="ns2"))
    sources = make_sources(kubeNadScope="pod-namespaces")
    scoped = sources.scoped_nads
    assert scoped is not None and scoped.namespaces() == ["kube-system"]
    emu.create(PODS, pod("web", namespace="ns2", node="node1"))
    eventually(lambda: scoped.get("ns2", "net-b"), what="the NADs of ns2 once its pod is on this node")
    mark = emu.mark()
    assert sources.network_source.get_nad("ns2", "net-b") is not None
    assert emu.since(mark) == []


def test_a_namespace_named_only_by_a_lookup_costs_one_get_then_is_watched(emu, make_sources) -> None:
    emu.seed(NADS, nad("shared", namespace="infra"))
    sources = make_sources(kubeNadScope="pod-namespaces")
    mark = emu.mark()
    assert sources.network_source.get_nad("infra", "shared") is not None   # a cross-namespace reference
    assert [f"{r.method} {r.path}" for r in emu.since(mark) if not r.path.endswith(NAD_PATH)] == [
        f"GET /apis/k8s.cni.cncf.io/v1/namespaces/infra/{NAD_PATH}/shared"]
    scoped = sources.scoped_nads
    assert scoped is not None
    eventually(lambda: scoped.get("infra", "shared"), what="the watch of infra")
    mark = emu.mark()
    assert sources.network_source.get_nad("infra", "shared") is not None
    assert emu.since(mark) == []


def test_a_namespace_whose_pods_left_stops_being_watched(emu, make_sources) -> None:
    emu.seed(PODS, pod("web", namespace="ns2", node="node1"))
    sources = make_sources(kubeNadScope="pod-namespaces", kubeNadNamespaceIdle=0.3)
    scoped = sources.scoped_nads
    assert scoped is not None
    eventually(lambda: "ns2" in scoped.namespaces(), what="ns2 watched while its pod is here")
    emu.delete(PODS, "ns2", "web")
    eventually(lambda: scoped.namespaces() == ["kube-system"], what="the watch of ns2 to stop")
