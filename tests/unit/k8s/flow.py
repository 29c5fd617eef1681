"""A node wired like the daemon wires it: KubeSources + fake delegates + the real entry."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus_dp.chain.entry import Reply, handle
from multus_dp.chain.context import ProcessContext
from multus_dp.cni.invoke import DelegateInvoker
from multus_dp.hardware.assignments import CheckpointAssignments
from multus_dp.networks.conf import MultusConf
from multus_dp.k8s.kube import KubeSources

from tests.support.fakeplugin import FakePluginDir


@dataclass
class Node:
    sources: KubeSources
    plugins: FakePluginDir
    state: Path

    def context(self, conf: MultusConf) -> ProcessContext:
        return ProcessContext(keys=conf, invoker=DelegateInvoker(timeout=10), kube=self.sources,
                              assignments=CheckpointAssignments(conf.kubeletCheckpoint))

    def conf(self, **extra: Any) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "stateDir": str(self.state),
                "binDir": "", "confDir": str(self.state / "none"), "cniConfigDir": str(self.state / "none"),
                **extra}

    def call(self, command: str, conf: dict[str, Any], pod: str = "web", namespace: str = "ns1",
             uid: str | None = None, cid: str = "c1", ifname: str = "eth0") -> Reply:
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/none",
               "CNI_IFNAME": ifname, "CNI_PATH": str(self.plugins.dir),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={pod};"
                           f"K8S_POD_UID={uid or 'uid-' + pod}"}
        return handle(env, json.dumps(conf).encode(), lambda c: self.context(c).runner(c))


def nad(name: str, plugin_type: str, namespace: str = "ns1", config: str | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": config if config is not None else json.dumps(
                {"cniVersion": "1.0.0", "name": name, "type": plugin_type})}}


def legacy_network(name: str, plugin: str, args: Any, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": name, "namespace": namespace},
            "plugin": plugin, "args": args if isinstance(args, str) else json.dumps(args)}
