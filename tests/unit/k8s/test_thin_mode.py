"""Thin mode (`multus-dp cni` with a kubeconfig, no daemon): the same Kubernetes sources doing
plain GETs, publishing inline, through the real thin entry."""
from __future__ import annotations

import json

from multus_dp.chain.entry import handle
from multus_dp.k8s.kinds import NADS, PODS

from .conftest import FAST
from .emulator import pod
from .flow import nad

STATUS = "k8s.v1.cni.cncf.io/network-status"


def test_thin_mode_reads_the_api_and_patches_network_status(emu, kubeconfig, fake_plugins, tmp_path) -> None:
    fake_plugins.make("cluster", address="10.244.1.5/24")
    pa = fake_plugins.make("pa", address="192.168.50.7/24")
    emu.seed(NADS, nad("cluster-net", "cluster", namespace="kube-system"))
    emu.seed(NADS, nad("net-a", "pa"))
    emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-a@data0"}))
    conf = {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "kubeconfig": str(kubeconfig),
            "clusterNetwork": "cluster-net", "stateDir": str(tmp_path / "state"), "binDir": "",
            "networksDir": str(tmp_path / "none"), **FAST}
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/none", "CNI_IFNAME": "eth0",
           "CNI_PATH": str(fake_plugins.dir),
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_UID=uid-web"}
    mark = emu.mark()
    reply = handle(env, json.dumps(conf).encode())  # the default factory: thin mode
    assert reply.exit_code == 0, reply.stdout
    assert [c["env"]["CNI_IFNAME"] for c in pa.calls() if c["command"] == "ADD"] == ["data0"]
    seen = emu.since(mark)
    assert [r.method for r in seen if not r.write] == ["GET", "GET", "GET"]  # the pod and two NADs
    assert [r.path for r in seen if r.method == "PATCH"] == ["/api/v1/namespaces/ns1/pods/web/status"]
    status = json.loads(emu.get(PODS, "ns1", "web")["metadata"]["annotations"][STATUS])
    assert [(s["name"], s["interface"]) for s in status] == [("kube-system/cluster-net", "eth0"),
                                                             ("ns1/net-a", "data0")]
    assert handle({**env, "CNI_COMMAND": "DEL"}, json.dumps(conf).encode()).exit_code == 0
