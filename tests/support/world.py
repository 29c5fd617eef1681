"""A standalone 'cluster' on disk for selection tests: a networks dir with NADs and legacy
Network objects, a multus-dp config, and a CNI call helper that runs the real entry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from multus_dp.chain.entry import Reply, handle


def nad(name: str, config: dict[str, Any] | str, namespace: str = "default",
        resource: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": resource}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": config if isinstance(config, str) else json.dumps(config)}}


def legacy_network(name: str, plugin: str, args: Any, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": name, "namespace": namespace},
            "plugin": plugin, "args": args if isinstance(args, str) else json.dumps(args)}


class World:
    def __init__(self, root: Path, plugin_dir: Path) -> None:
        self.root = root
        self.plugin_dir = plugin_dir
        self.networks = root / "networks.d"
        self.networks.mkdir(parents=True, exist_ok=True)
        self.state = root / "state"
        self.conf_dir = root / "conf.d"
        self.conf_dir.mkdir(exist_ok=True)
        self._n = 0

    def add(self, *objects: dict[str, Any]) -> None:
        self._n += 1
        (self.networks / f"{self._n:03d}.yaml").write_text(yaml.safe_dump_all(list(objects)))

    def conf(self, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp",
                                "stateDir": str(self.state), "networksDir": str(self.networks),
                                "confDir": str(self.conf_dir), "cniConfigDir": str(self.conf_dir),
                                "deviceInfoDir": str(self.root / "devinfo"), "binDir": ""}
        base.update(extra)
        return base

    def call(self, command: str, conf: dict[str, Any], annotations: dict[str, str] | None = None,
             cid: str = "c1", pod: str = "pod1", namespace: str = "ns1", ifname: str = "eth0",
             uid: str = "uid-1") -> Reply:
        conf = dict(conf)
        if annotations is not None:
            conf["runtimeConfig"] = {**conf.get("runtimeConfig", {}),
                                     "io.kubernetes.cri.pod-annotations": annotations}
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/none",
               "CNI_IFNAME": ifname, "CNI_PATH": str(self.plugin_dir),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={pod};K8S_POD_UID={uid}"}
        return handle(env, json.dumps(conf).encode())

    def journal_ids(self) -> list[str]:
        d = self.state / "attachments"
        return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []
