"""Multus compatibility: the same pod annotations and NADs give the delegate calls and the
network-status Multus v4 gives, in thin mode (`multus-dp cni`) and through the daemon (the C
shim -> `multus-dp daemon`), against one logging delegate and kmock's Kubernetes emulator.

Each case lists what Multus does, derived from its code (k8snetworkplumbingwg/multus-cni v4):
- names: pkg/multus/multus.go getIfname — an explicit name, CNI_IFNAME for the master, else
  `net<idx>` with idx the position in the whole delegate list (cluster network = 0);
- cniVersion: libcni AddNetworkList/DelNetworkList — every plugin gets its list's own
  cniVersion; DEL/CHECK carry prevResult only from 0.4.0;
- runtimeConfig: pkg/types/conf.go mergeCNIRuntimeConfig/newCNIRuntimeConf + libcni
  injectRuntimeConfig — the element's ips/mac/portMappings/bandwidth/infinibandGUID/deviceID
  reach a plugin only when it declares that capability;
- CNI_ARGS: pkg/multus/multus.go delegateAdd — `MAC=<mac>` then `IP=<ips joined by ,>`,
  declared or not;
- clusterNetwork/defaultNetworks/default-network annotation/namespaceIsolation:
  pkg/k8sclient/k8sclient.go GetDefaultNetworks, TryLoadPodDelegates, GetNetworkDelegates;
- deviceID: pkg/types/conf.go LoadDelegateNetConf — a kubelet-assigned device (resourceName)
  is written into the plugin config (deviceID, pciBusID), an annotation deviceID only into
  runtimeConfig.deviceID;
- network-status: NAD client pkg/utils/net-attach-def.go CreateNetworkStatus — name ns/name
  (the conf name for a file), interface/mac of the sandbox interface, bare ips, `gateway` =
  the default routes' gateways, `default` true for the cluster network.
- the reply: the cluster network's result in the multus config's cniVersion (multus.go CmdAdd,
  types.PrintResult).
Where multus-dp deliberately differs (docs/multus-compatibility.md), the case says DIFF and why.
`default-route` changes the pod's routes, so it is tested with a real netns in
tests/integration/chain/test_real_networks.py.
"""
from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multus_dp.chain.entry import handle
from multus_dp.k8s.kinds import NADS, PODS
from tests.support.daemonproc import DaemonProcess, require_shim, run_shim
from tests.support.fakeplugin import PYTHON
from tests.unit.k8s.conftest import FAST, eventually
from tests.unit.k8s.emulator import EVENTS, Emulator, pod, write_kubeconfig

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
STATUS = "k8s.v1.cni.cncf.io/network-status"
RESOURCE = "intel.com/sriov"
ASSIGNED = ["0000:af:06.1", "0000:af:06.0"]  # the kubelet's assignment; Multus hands them out sorted

# One logging delegate under many names. Every call appends {type, command, env, stdin} to one
# log; ADD prints a result in the version it was called with (a chained plugin passes its
# prevResult on, as tuning does). "cl"/"alt" results carry a default route (gateway).
DELEGATE = r'''#!{python} -IS
import json, os, sys
kind = os.path.basename(sys.argv[0])
stdin = sys.stdin.read()
cmd = os.environ.get("CNI_COMMAND", "")
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"type": kind, "command": cmd, "stdin": stdin,
                         "env": {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}}}) + "\n")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0",
                       "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]}}))
    sys.exit(0)
if cmd != "ADD":
    sys.exit(0)
conf = json.loads(stdin)
version = conf["cniVersion"]
if conf.get("prevResult"):
    print(json.dumps(conf["prevResult"])); sys.exit(0)
address, gateway = {addresses!r}[kind]
if version in ("0.1.0", "0.2.0"):
    print(json.dumps({{"cniVersion": version, "ip4": {{"ip": address}}}})); sys.exit(0)
ip = {{"address": address, "interface": 0}}
if version.startswith("0."):
    ip["version"] = "4"
res = {{"cniVersion": version, "ips": [ip],
       "interfaces": [{{"name": os.environ["CNI_IFNAME"], "mac": "0a:58:0a:00:00:%02x" % len(kind),
                        "sandbox": os.environ.get("CNI_NETNS", "")}}]}}
if gateway:
    ip["gateway"] = gateway
    res["routes"] = [{{"dst": "0.0.0.0/0", "gw": gateway}}]
print(json.dumps(res))
'''

TYPES = ["cl", "alt", "dn", "d1", "pa", "pb", "pot", "ps", "pcap", "pc1", "pc2", "po", "pn", "pnn", "p020",
         "p11", "pvf", "cpm"]
ADDRESSES = {t: (f"10.{i + 1}.0.2/24", "10.244.0.1" if t in ("cl", "alt", "cpm") else None)
             for i, t in enumerate(TYPES)}
CAPS = {"ips": True, "mac": True, "portMappings": True, "bandwidth": True, "infinibandGUID": True,
        "deviceID": True}


def nad_obj(name: str, config: dict[str, Any], namespace: str = "ns1",
            annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": json.dumps(config)}}


# NAD shapes: single plugin (with/without name, cniVersion), conflist, capabilities, resourceName
NAD_OBJECTS = [
    nad_obj("cluster-net", {"cniVersion": "1.0.0", "name": "cluster-net", "type": "cl"}, "kube-system"),
    nad_obj("cluster-pm", {"cniVersion": "1.0.0", "name": "cluster-pm", "type": "cpm",
                           "capabilities": {"portMappings": True}}, "kube-system"),
    nad_obj("alt-default", {"cniVersion": "1.0.0", "name": "alt-default", "type": "alt"}, "kube-system"),
    nad_obj("always", {"cniVersion": "1.0.0", "name": "always", "type": "dn"}, "kube-system"),
    nad_obj("net-a", {"cniVersion": "1.0.0", "name": "net-a", "type": "pa"}),
    nad_obj("net-b", {"cniVersion": "1.0.0", "name": "net-b", "type": "pb"}),
    nad_obj("net-o", {"cniVersion": "1.0.0", "name": "net-o", "type": "pot"}, "other"),
    nad_obj("net-s", {"cniVersion": "1.0.0", "name": "net-s", "type": "ps"}, "shared"),
    nad_obj("caps", {"cniVersion": "1.0.0", "name": "caps", "type": "pcap", "capabilities": CAPS}),
    nad_obj("chain", {"cniVersion": "0.4.0", "name": "chain", "plugins": [
        {"type": "pc1"}, {"type": "pc2", "capabilities": {"mac": True}}]}),
    nad_obj("old-031", {"cniVersion": "0.3.1", "name": "old-031", "type": "po"}),
    nad_obj("no-version", {"name": "no-version", "type": "pn"}),
    nad_obj("no-name", {"cniVersion": "1.0.0", "type": "pnn"}),
    nad_obj("legacy-020", {"cniVersion": "0.2.0", "name": "legacy-020", "type": "p020"}),
    nad_obj("new-110", {"cniVersion": "1.1.0", "name": "new-110", "type": "p11"}),
    nad_obj("vf-net", {"cniVersion": "1.0.0", "name": "vf-net", "type": "pvf", "capabilities": {"deviceID": True}},
            annotations={"k8s.v1.cni.cncf.io/resourceName": RESOURCE}),
]


@dataclass
class Call:
    """One expected delegate ADD; its DEL is derived (reverse order, same inputs)."""
    type: str
    ifname: str
    version: str = "1.0.0"
    runtime_config: dict[str, Any] | None = None
    args: dict[str, str] = field(default_factory=dict)   # CNI_ARGS besides IgnoreUnknown and K8S_*
    stdin: dict[str, Any] = field(default_factory=dict)  # further keys the plugin config must have
    absent: tuple[str, ...] = ()                         # keys it must not have


@dataclass
class Entry:
    """One expected network-status entry (ips follow from the delegate's address table)."""
    name: str
    interface: str | None
    type: str
    default: bool = False


@dataclass
class Case:
    id: str
    annotations: dict[str, str]
    calls: list[Call]
    status: list[Entry]
    conf: dict[str, Any] = field(default_factory=lambda: {"clusterNetwork": "cluster-net"})
    namespace: str = "ns1"
    warnings: list[str] = field(default_factory=list)   # Warning Event reasons on the pod
    error: int | None = None                            # the ADD fails with this code, nothing runs


CL = Call("cl", "eth0")
CL_STATUS = Entry("kube-system/cluster-net", "eth0", "cl", default=True)
J = json.dumps

CASES = [
    # ---- comma form ---------------------------------------------------------------------------
    Case("comma-single", {NETWORKS: "net-a"}, [CL, Call("pa", "net1")],
         [CL_STATUS, Entry("ns1/net-a", "net1", "pa")]),
    Case("comma-ifname", {NETWORKS: "net-a@data0"}, [CL, Call("pa", "data0")],
         [CL_STATUS, Entry("ns1/net-a", "data0", "pa")]),
    # getIfname: net<position> — b is at position 2 whatever a is called (issue item 1)
    Case("comma-auto-after-explicit", {NETWORKS: "net-a@foo,net-b"}, [CL, Call("pa", "foo"), Call("pb", "net2")],
         [CL_STATUS, Entry("ns1/net-a", "foo", "pa"), Entry("ns1/net-b", "net2", "pb")]),
    Case("comma-namespaced", {NETWORKS: "other/net-o"}, [CL, Call("pot", "net1")],
         [CL_STATUS, Entry("other/net-o", "net1", "pot")]),
    Case("comma-whitespace-and-repeat", {NETWORKS: " net-a , net-a@x1 ,net-b "},
         [CL, Call("pa", "net1"), Call("pa", "x1"), Call("pb", "net3")],
         [CL_STATUS, Entry("ns1/net-a", "net1", "pa"), Entry("ns1/net-a", "x1", "pa"),
          Entry("ns1/net-b", "net3", "pb")]),
    # DIFF: Multus runs a on net1 and then fails b with "net1 already exists"; we pick the next free name
    Case("diff-name-taken-later", {NETWORKS: "net-a,net-b@net1"}, [CL, Call("pa", "net2"), Call("pb", "net1")],
         [CL_STATUS, Entry("ns1/net-a", "net2", "pa"), Entry("ns1/net-b", "net1", "pb")]),
    # ---- JSON form ----------------------------------------------------------------------------
    Case("json-auto-after-explicit", {NETWORKS: J([{"name": "net-a", "interface": "foo"}, {"name": "net-b"}])},
         [CL, Call("pa", "foo"), Call("pb", "net2")],
         [CL_STATUS, Entry("ns1/net-a", "foo", "pa"), Entry("ns1/net-b", "net2", "pb")]),
    Case("json-namespace-key", {NETWORKS: J([{"name": "net-o", "namespace": "other"}])}, [CL, Call("pot", "net1")],
         [CL_STATUS, Entry("other/net-o", "net1", "pot")]),
    Case("json-interface-request", {NETWORKS: J([{"name": "net-a", "interfaceRequest": "legacy0"}])},
         [CL, Call("pa", "legacy0")], [CL_STATUS, Entry("ns1/net-a", "legacy0", "pa")]),
    Case("json-ips-declared", {NETWORKS: J([{"name": "caps", "ips": ["10.5.0.7/24", "fd00::7/64"]}])},
         [CL, Call("pcap", "net1", runtime_config={"ips": ["10.5.0.7/24", "fd00::7/64"]},
                   args={"IP": "10.5.0.7/24,fd00::7/64"})],
         [CL_STATUS, Entry("ns1/caps", "net1", "pcap")]),
    Case("json-mac-declared", {NETWORKS: J([{"name": "caps", "mac": "02:00:00:00:00:07"}])},
         [CL, Call("pcap", "net1", runtime_config={"mac": "02:00:00:00:00:07"}, args={"MAC": "02:00:00:00:00:07"})],
         [CL_STATUS, Entry("ns1/caps", "net1", "pcap")]),
    # delegateAdd: MAC= and IP= go as CNI_ARGS declared or not; runtimeConfig only when declared (item 5)
    Case("json-ips-mac-undeclared", {NETWORKS: J([{"name": "net-a", "ips": ["10.5.0.8/24"],
                                                    "mac": "02:00:00:00:00:08"}])},
         [CL, Call("pa", "net1", args={"MAC": "02:00:00:00:00:08", "IP": "10.5.0.8/24"}, absent=("runtimeConfig",))],
         [CL_STATUS, Entry("ns1/net-a", "net1", "pa")], warnings=["CapabilityNotDeclared"] * 2),
    Case("json-ports-bandwidth-declared",
         {NETWORKS: J([{"name": "caps", "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                        "bandwidth": {"ingressRate": 1000, "ingressBurst": 100}}])},
         [CL, Call("pcap", "net1", runtime_config={
             "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
             "bandwidth": {"ingressRate": 1000, "ingressBurst": 100}})],
         [CL_STATUS, Entry("ns1/caps", "net1", "pcap")]),
    # an undeclared portMappings/bandwidth is dropped silently by Multus; we warn (item 5)
    Case("json-ports-bandwidth-undeclared",
         {NETWORKS: J([{"name": "net-a", "portMappings": [{"hostPort": 8080, "containerPort": 80}],
                        "bandwidth": {"egressRate": 1000, "egressBurst": 100}}])},
         [CL, Call("pa", "net1", absent=("runtimeConfig",))], [CL_STATUS, Entry("ns1/net-a", "net1", "pa")],
         warnings=["CapabilityNotDeclared"] * 2),
    Case("json-infiniband-guid", {NETWORKS: J([{"name": "caps", "infiniband-guid": "00:11:22:33:44:55:66:77"}])},
         [CL, Call("pcap", "net1", runtime_config={"infinibandGUID": "00:11:22:33:44:55:66:77"})],
         [CL_STATUS, Entry("ns1/caps", "net1", "pcap")]),
    # LoadDelegateNetConf: cni-args merged into args.cni of the plugin config
    Case("json-cni-args", {NETWORKS: J([{"name": "net-a", "cni-args": {"foo": "bar", "n": 1}}])},
         [CL, Call("pa", "net1", stdin={"args": {"cni": {"foo": "bar", "n": 1}}})],
         [CL_STATUS, Entry("ns1/net-a", "net1", "pa")]),
    # an annotation deviceID: runtimeConfig.deviceID for a plugin declaring it, never the plugin config (item 4)
    Case("json-device-id-declared", {NETWORKS: J([{"name": "caps", "deviceID": "0000:af:06.3"}])},
         [CL, Call("pcap", "net1", runtime_config={"deviceID": "0000:af:06.3"}, absent=("deviceID", "pciBusID"))],
         [CL_STATUS, Entry("ns1/caps", "net1", "pcap")]),
    Case("json-device-id-undeclared", {NETWORKS: J([{"name": "net-a", "deviceID": "0000:af:06.3"}])},
         [CL, Call("pa", "net1", absent=("deviceID", "pciBusID", "runtimeConfig"))],
         [CL_STATUS, Entry("ns1/net-a", "net1", "pa")]),
    # unknown keys (and v1.3's ipam-claim-reference, which Multus does not know) are ignored (item 5)
    Case("json-unknown-keys", {NETWORKS: J([{"name": "net-a", "colour": "red", "ipam-claim-reference": "c"}])},
         [CL, Call("pa", "net1")], [CL_STATUS, Entry("ns1/net-a", "net1", "pa")],
         warnings=["UnsupportedAnnotationKey"] * 2),
    Case("strict-unknown-key", {NETWORKS: J([{"name": "net-a", "colour": "red"}])}, [], [],
         conf={"clusterNetwork": "cluster-net", "strictAnnotations": True}, error=107),
    Case("strict-undeclared-capability", {NETWORKS: J([{"name": "net-a", "mac": "02:00:00:00:00:08"}])}, [], [],
         conf={"clusterNetwork": "cluster-net", "strictAnnotations": True}, error=107),
    # ---- NAD shapes and versions (libcni: each plugin at its list's cniVersion; item 2) -----------------
    Case("nad-conflist", {NETWORKS: J([{"name": "chain", "mac": "02:00:00:00:00:09"}])},
         [CL, Call("pc1", "net1", "0.4.0", args={"MAC": "02:00:00:00:00:09"}, absent=("runtimeConfig", "prevResult")),
          Call("pc2", "net1", "0.4.0", runtime_config={"mac": "02:00:00:00:00:09"}, args={"MAC": "02:00:00:00:00:09"},
               stdin={"name": "chain"})],
         [CL_STATUS, Entry("ns1/chain", "net1", "pc1")]),
    Case("nad-0.3.1", {NETWORKS: "old-031"}, [CL, Call("po", "net1", "0.3.1")],
         [CL_STATUS, Entry("ns1/old-031", "net1", "po")]),
    Case("nad-0.2.0", {NETWORKS: "legacy-020"}, [CL, Call("p020", "net1", "0.2.0")],
         [CL_STATUS, Entry("ns1/legacy-020", None, "p020")]),
    Case("nad-1.1.0", {NETWORKS: "new-110"}, [CL, Call("p11", "net1", "1.1.0")],
         [CL_STATUS, Entry("ns1/new-110", "net1", "p11")]),
    # DIFF (documented leniency): no cniVersion -> the highest both speak (Multus sends none)
    Case("nad-without-version", {NETWORKS: "no-version"}, [CL, Call("pn", "net1", "1.0.0")],
         [CL_STATUS, Entry("ns1/no-version", "net1", "pn")]),
    # NAD client GetCNIConfig: a missing name is the NAD's
    Case("nad-without-name", {NETWORKS: "no-name"}, [CL, Call("pnn", "net1", stdin={"name": "no-name"})],
         [CL_STATUS, Entry("ns1/no-name", "net1", "pnn")]),
    # a kubelet-assigned device: plugin config deviceID/pciBusID plus runtimeConfig.deviceID (declared)
    Case("nad-resource-name", {NETWORKS: "vf-net,vf-net@vf1"},
         [CL, Call("pvf", "net1", runtime_config={"deviceID": "0000:af:06.0"},
                   stdin={"deviceID": "0000:af:06.0", "pciBusID": "0000:af:06.0"}),
          Call("pvf", "vf1", runtime_config={"deviceID": "0000:af:06.1"},
               stdin={"deviceID": "0000:af:06.1", "pciBusID": "0000:af:06.1"})],
         [CL_STATUS, Entry("ns1/vf-net", "net1", "pvf"), Entry("ns1/vf-net", "vf1", "pvf")]),
    # ---- cluster network, default networks, isolation ---------------------------------------------
    Case("cluster-network-file", {NETWORKS: "net-a"}, [CL, Call("pa", "net1")],
         [Entry("cluster-file", "eth0", "cl", default=True), Entry("ns1/net-a", "net1", "pa")],
         conf={"clusterNetwork": "@FILE"}),
    Case("default-network-annotation", {DEFAULT_NETWORK: "alt-default", NETWORKS: "net-a"},
         [Call("alt", "eth0"), Call("pa", "net1")],
         [Entry("kube-system/alt-default", "eth0", "alt", default=True), Entry("ns1/net-a", "net1", "pa")]),
    # GetDefaultNetworks: defaultNetworks after the cluster network, counted in the positions
    Case("default-networks", {NETWORKS: "net-a"}, [CL, Call("dn", "net1"), Call("pa", "net2")],
         [CL_STATUS, Entry("kube-system/always", "net1", "dn"), Entry("ns1/net-a", "net2", "pa")],
         conf={"clusterNetwork": "cluster-net", "defaultNetworks": ["always"]}),
    Case("default-networks-system-namespace", {NETWORKS: "net-a"}, [CL, Call("pa", "net1")],
         [CL_STATUS, Entry("kube-system/net-a", "net1", "pa")],
         conf={"clusterNetwork": "cluster-net", "defaultNetworks": ["always"]}, namespace="kube-system"),
    # defaultNetworks only with clusterNetwork: ignored with `delegates` (item 3)
    Case("default-networks-with-delegates", {NETWORKS: "net-a"},
         [Call("cl", "eth0"), Call("d1", "net1"), Call("pa", "net2")],
         [Entry("d0", "eth0", "cl", default=True), Entry("d1", "net1", "d1"), Entry("ns1/net-a", "net2", "pa")],
         conf={"delegates": [{"cniVersion": "1.0.0", "name": "d0", "type": "cl"},
                             {"cniVersion": "1.0.0", "name": "d1", "type": "d1"}], "defaultNetworks": ["always"]}),
    # TryLoadPodDelegates: the annotation replaces delegates[0] only
    Case("default-network-annotation-with-delegates", {DEFAULT_NETWORK: "alt-default"},
         [Call("alt", "eth0"), Call("d1", "net1")],
         [Entry("kube-system/alt-default", "eth0", "alt", default=True), Entry("d1", "net1", "d1")],
         conf={"delegates": [{"cniVersion": "1.0.0", "name": "d0", "type": "cl"},
                             {"cniVersion": "1.0.0", "name": "d1", "type": "d1"}]}),
    Case("namespace-isolation-global", {NETWORKS: "shared/net-s"}, [CL, Call("ps", "net1")],
         [CL_STATUS, Entry("shared/net-s", "net1", "ps")],
         conf={"clusterNetwork": "cluster-net", "namespaceIsolation": True, "globalNamespaces": "default,shared"}),
    Case("namespace-isolation-refused", {NETWORKS: "other/net-o"}, [], [],
         conf={"clusterNetwork": "cluster-net", "namespaceIsolation": True}, error=107),
    # DIFF: the kubelet's portMappings go to the cluster network only (Multus also hands them to
    # a secondary declaring portMappings)
    Case("diff-kubelet-port-mappings", {NETWORKS: "caps"},
         [Call("cpm", "eth0", runtime_config={"portMappings": [{"hostPort": 80, "containerPort": 8080,
                                                                "protocol": "tcp"}]}),
          Call("pcap", "net1", absent=("runtimeConfig",))],
         [Entry("kube-system/cluster-pm", "eth0", "cpm", default=True), Entry("ns1/caps", "net1", "pcap")],
         conf={"clusterNetwork": "cluster-pm",
               "runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]}}),
]


def pod_name(case: Case, mode: str) -> str:
    return f"{case.id}-{mode}"[:63]


# ---- the world: emulator, delegates, daemon ----------------------------------------------------
@dataclass
class World:
    root: Path
    emu: Emulator
    kubeconfig: Path
    plugins: Path
    log: Path
    checkpoint: Path
    cluster_file: Path
    daemon: DaemonProcess | None = None

    def conf(self, case: Case, mode: str) -> dict[str, Any]:
        extra = dict(case.conf)
        if extra.get("clusterNetwork") == "@FILE":
            extra["clusterNetwork"] = str(self.cluster_file)
        none = str(self.root / "none")
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "kubeconfig": str(self.kubeconfig),
                "stateDir": str(self.root / f"state-{mode}"), "binDir": "", "networksDir": none, "confDir": none,
                "cniConfigDir": none, "deviceInfoDir": str(self.root / "devinfo"), "parallel": False,
                "kubeletCheckpoint": str(self.checkpoint),
                **({"socketPath": self.daemon.socket} if self.daemon else {}), **FAST, **extra}

    def calls(self, cid: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [c for c in map(json.loads, lines) if c["env"].get("CNI_CONTAINERID") == cid]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("compat")
    plugins, log = root / "plugins", root / "delegate.jsonl"
    plugins.mkdir()
    script = DELEGATE.format(python=PYTHON, log=str(log), addresses=ADDRESSES)
    for name in TYPES:
        path = plugins / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    emu = Emulator()
    for obj in NAD_OBJECTS:
        emu.seed(NADS, obj)
    emu.seed(NADS, nad_obj("net-a", {"cniVersion": "1.0.0", "name": "net-a", "type": "pa"}, "kube-system"))
    entries = []
    for case in CASES:
        for mode in ("thin", "thick"):
            name = pod_name(case, mode)
            emu.seed(PODS, pod(name, namespace=case.namespace, annotations=case.annotations))
            entries.append({"PodUID": f"uid-{name}", "ContainerName": "c", "ResourceName": RESOURCE,
                            "DeviceIDs": ASSIGNED})
    checkpoint = root / "kubelet_internal_checkpoint"
    checkpoint.write_text(json.dumps({"Data": {"PodDeviceEntries": entries}, "Checksum": 0}))
    cluster_file = root / "10-cluster.conf"
    cluster_file.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster-file", "type": "cl"}))
    w = World(root, emu, write_kubeconfig(root / "kubeconfig", emu.url, token="t"), plugins, log, checkpoint,
              cluster_file)
    try:
        yield w
    finally:
        if w.daemon is not None:
            w.daemon.__exit__()
        emu.close()


@pytest.fixture(scope="module")
def daemon(world: World) -> DaemonProcess:
    """`multus-dp daemon` as on a node, its watch caches fed by the emulator."""
    from multus_dp.daemon.protocol import DaemonClient

    require_shim()
    # the node's keys (Kubernetes access, the kubelet's checkpoint, sysfs) are the daemon's own
    world.daemon = DaemonProcess(world.root / "daemon", kubeconfig=str(world.kubeconfig), udev=False,
                                 sysfsRoot=str(world.root), kubeletCheckpoint=str(world.checkpoint), **FAST).start()
    client = DaemonClient(world.daemon.socket)
    eventually(lambda: client.ready()[0], timeout=30, what="the daemon's caches to sync")
    return world.daemon


def cni(world: World, case: Case, mode: str, command: str) -> tuple[int, str]:
    name = pod_name(case, mode)
    conf = world.conf(case, mode)
    cid = f"cid-{name}"
    args = f"IgnoreUnknown=1;K8S_POD_NAMESPACE={case.namespace};K8S_POD_NAME={name};K8S_POD_UID=uid-{name}"
    if mode == "thin":
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/none", "CNI_IFNAME": "eth0",
               "CNI_PATH": str(world.plugins), "CNI_ARGS": args}
        reply = handle(env, json.dumps(conf).encode())
        return reply.exit_code, reply.stdout
    proc = run_shim(require_shim(), command, conf, container=cid, netns="/run/netns/none",
                    cni_path=str(world.plugins), args=args)
    return proc.returncode, proc.stdout


def published_status(world: World, case: Case, mode: str) -> list[dict[str, Any]] | None:
    obj = world.emu.get(PODS, case.namespace, pod_name(case, mode)) or {}
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(STATUS)
    return json.loads(value) if value else None


def warning_reasons(world: World, case: Case, mode: str) -> list[str]:
    return sorted(e["reason"] for e in world.emu.objects(EVENTS, case.namespace)
                  if e["involvedObject"]["name"] == pod_name(case, mode) and e["type"] == "Warning")


def cni_args(env: dict[str, str]) -> dict[str, str]:
    pairs = [kv.split("=", 1) for kv in env.get("CNI_ARGS", "").split(";") if kv]
    return {k: v for k, v in pairs if k != "IgnoreUnknown" and not k.startswith("K8S_")}


def check_call(seen: dict[str, Any], want: Call, command: str, case: Case, mode: str) -> None:
    where = f"{case.id}/{mode}: {command} {want.type} on {want.ifname}"
    conf = json.loads(seen["stdin"])
    assert seen["type"] == want.type and seen["env"]["CNI_IFNAME"] == want.ifname, (where, seen["type"], seen["env"])
    assert conf["cniVersion"] == want.version, (where, conf["cniVersion"])
    assert conf.get("runtimeConfig") == want.runtime_config, (where, conf.get("runtimeConfig"))
    # DIFF: MAC=/IP= on DEL too (Multus: ADD only), like runtimeConfig
    assert cni_args(seen["env"]) == want.args, (where, seen["env"].get("CNI_ARGS"))
    k8s = dict(kv.split("=", 1) for kv in seen["env"]["CNI_ARGS"].split(";"))
    assert k8s["K8S_POD_NAME"] == pod_name(case, mode) and k8s["K8S_POD_NAMESPACE"] == case.namespace, where
    for key, value in want.stdin.items():
        assert conf.get(key) == value, (where, key, conf.get(key))
    for key in want.absent:
        if command == "DEL" and key == "prevResult":
            continue
        assert key not in conf, (where, key, conf.get(key))
    if command == "DEL":  # libcni: prevResult from 0.4.0 on, in the plugin's own version
        has_prev = want.version not in ("0.1.0", "0.2.0", "0.3.0", "0.3.1")
        assert ("prevResult" in conf) == has_prev, (where, conf.get("prevResult"))
        if has_prev:
            assert conf["prevResult"]["cniVersion"] == want.version, where


def expected_status(case: Case) -> list[dict[str, Any]]:
    out = []
    for e in case.status:
        address, gateway = ADDRESSES[e.type]
        entry: dict[str, Any] = {"name": e.name, "ips": [address.split("/")[0]], "default": e.default, "dns": {}}
        if e.interface:
            entry["interface"] = e.interface
            entry["mac"] = "0a:58:0a:00:00:%02x" % len(e.type)
        if gateway:
            entry["gateway"] = [gateway]  # item 6: the default route's gateway
        out.append(entry)
    return out


@pytest.mark.parametrize("mode", ["thin", "thick"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_multus(world: World, case: Case, mode: str, request: pytest.FixtureRequest) -> None:
    if mode == "thick":
        request.getfixturevalue("daemon")
    cid = f"cid-{pod_name(case, mode)}"
    code, out = cni(world, case, mode, "ADD")
    if case.error is not None:
        assert code == 1 and json.loads(out)["code"] == case.error, out
        assert world.calls(cid) == [], "a refused ADD ran a delegate"
        return
    assert code == 0, out
    reply = json.loads(out)
    assert reply["cniVersion"] == "1.0.0" and [ip["address"] for ip in reply["ips"]] == \
        [ADDRESSES[case.calls[0].type][0]], reply
    adds = [c for c in world.calls(cid) if c["command"] == "ADD"]
    assert len(adds) == len(case.calls), [(c["type"], c["env"]["CNI_IFNAME"]) for c in adds]
    for seen, want in zip(adds, case.calls):
        check_call(seen, want, "ADD", case, mode)

    status = eventually(lambda: published_status(world, case, mode), what="network-status on the pod")
    assert status == expected_status(case)
    if case.warnings:
        assert eventually(lambda: warning_reasons(world, case, mode) == sorted(case.warnings) or None,
                          what=f"Warning events {case.warnings}")
    else:
        assert warning_reasons(world, case, mode) == []

    code, out = cni(world, case, mode, "DEL")
    assert code == 0, out
    dels = [c for c in world.calls(cid) if c["command"] == "DEL"]
    assert len(dels) == len(case.calls)
    for seen, want in zip(dels, reversed(case.calls)):
        check_call(seen, want, "DEL", case, mode)  # DIFF: DEL gets the runtimeConfig ADD got


def test_the_table_covers_the_issue() -> None:
    assert len(CASES) >= 30
    assert {"comma-auto-after-explicit", "json-auto-after-explicit", "nad-0.3.1", "default-networks-with-delegates",
            "json-device-id-declared", "json-ips-mac-undeclared", "json-unknown-keys"} <= {c.id for c in CASES}
