"""The seed's flow and the NPWG flow with Debian's real plugins in a real netns, the pod and its
networks served by kmock's Kubernetes emulator: the network-status published on the pod names
the addresses the interfaces really got."""
from __future__ import annotations

import json
from pathlib import Path

from multus_dp.chain.entry import handle
from multus_dp.chain.context import ProcessContext
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.hardware.assignments import CheckpointAssignments
from multus_dp.k8s.kinds import NADS, NETWORKS, PODS

from tests.support.prereq import require_cni_plugins
from tests.unit.k8s.emulator import pod

STATUS = "k8s.v1.cni.cncf.io/network-status"


def call(sources, command: str, conf: dict, netns: str, cni_dir: str, cid: str = "k8s-it") -> tuple[int, str]:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
           "CNI_PATH": cni_dir, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_UID=uid-web"}
    reply = handle(env, json.dumps(conf).encode(), lambda c: ProcessContext(
        keys=c, invoker=DelegateInvoker(timeout=30), kube=sources,
        assignments=CheckpointAssignments(c.kubeletCheckpoint)).runner(c))
    return reply.exit_code, reply.stdout


def published(emu) -> list[dict]:
    value = emu.get(PODS, "ns1", "web")["metadata"].get("annotations", {}).get(STATUS)
    return json.loads(value) if value else []


def check_flow(emu, sources, netlab, tmp_path: Path, conf: dict, cni_dir: str, names: list[str]) -> None:
    ns = netlab.add_netns()
    code, out = call(sources, "ADD", conf, netlab.path(ns), cni_dir)
    assert code == 0, out
    assert sources.publisher.flush(10)
    status = published(emu)
    assert [s["interface"] for s in status] == names
    for entry in status:  # what the API says is what the kernel has
        assert [a.split("/")[0] for a in netlab.addrs_in(ns, entry["interface"])] == entry["ips"]
    code, out = call(sources, "DEL", conf, netlab.path(ns), cni_dir)
    assert code == 0, out
    assert sources.publisher.flush(10)
    assert published(emu) == []
    assert set(netlab.links_in(ns)) == {"lo"}
    assert not list((tmp_path / "ipam").rglob("10.25*"))


def test_seed_flow_bridge_master_and_ptp_net0(emu, make_sources, netlab, tmp_path: Path) -> None:
    cni_dir = require_cni_plugins("bridge", "ptp", "host-local")
    bridge = netlab.name("br")
    netlab.track_link(bridge)
    ipam = {"type": "host-local", "dataDir": str(tmp_path / "ipam")}
    emu.seed(NETWORKS, {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                        "metadata": {"name": "bridge-conf", "namespace": "default"}, "plugin": "bridge",
                        "args": json.dumps([{"bridge": bridge, "isGateway": True,
                                             "ipam": {**ipam, "subnet": "10.252.1.0/24"}}])})
    emu.seed(NETWORKS, {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                        "metadata": {"name": "ptp-conf", "namespace": "default"}, "plugin": "ptp",
                        "args": json.dumps([{"ipam": {**ipam, "subnet": "10.252.2.0/24"}}])})
    emu.seed(PODS, pod("web", annotations={"networks": '[{"name": "bridge-conf"}, {"name": "ptp-conf"}]'}))
    sources = make_sources()
    conf = {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state")}
    check_flow(emu, sources, netlab, tmp_path, conf, cni_dir, ["eth0", "net0"])


def test_npwg_flow_bridge_cluster_and_macvlan(emu, make_sources, netlab, tmp_path: Path) -> None:
    cni_dir = require_cni_plugins("bridge", "macvlan", "host-local")
    bridge = netlab.name("br")
    netlab.track_link(bridge)
    master, _peer = netlab.add_veth()
    ipam = {"type": "host-local", "dataDir": str(tmp_path / "ipam")}
    emu.seed(NADS, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                    "metadata": {"name": "cluster", "namespace": "kube-system"},
                    "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": "cluster", "type": "bridge",
                                                   "bridge": bridge, "isGateway": True,
                                                   "ipam": {**ipam, "subnet": "10.253.1.0/24"}})}})
    emu.seed(NADS, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                    "metadata": {"name": "data", "namespace": "ns1"},
                    "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": "data", "type": "macvlan",
                                                   "master": master, "mode": "bridge",
                                                   "ipam": {**ipam, "subnet": "10.253.2.0/24"}})}})
    emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "data@data0"}))
    sources = make_sources()
    conf = {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state"),
            "clusterNetwork": "cluster"}
    check_flow(emu, sources, netlab, tmp_path, conf, cni_dir, ["eth0", "data0"])
