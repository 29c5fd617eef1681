"""A simulated SR-IOV NIC for integration tests: a fake sysfs PF whose VF netdevs are real
veth ends (moves, renames, MACs and MTUs are real), a PF-netlink stand-in keeping per-VF
state, and the built-in SR-IOV delegate wired to both through a real runner."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from multus_dp.chain.context import ProcessContext, standalone_context
from multus_dp.chain.entry import Reply, handle
from multus_dp.hardware.assignments import DeviceAssignments
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.netops import get_link_ops
from multus_dp.networks.conf import MultusConf
from multus_dp.sriov.builtin import SriovParts
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs
from tests.support.fakevf import FakePfNetlink
from tests.support.netns import ip
from tests.support.world import nad

PF_BDF = "0000:3b:00.0"
ANN = "k8s.v1.cni.cncf.io/networks"


class SimNic:
    def __init__(self, netlab, tmp: Path, cni_dir: str, *, kernel_vfs: int = 3, dpdk_vfs: int = 1,
                 netops: str | None = None) -> None:
        self.lab = netlab
        self.tmp = tmp
        self.cni_dir = cni_dir
        self.fs = FakeSysfs(tmp / "fs")
        self.core = FakeDriverCore(self.fs)
        self.pf = f"{netlab.prefix}pf"[:15]
        self.vf_netdevs: dict[int, str] = {}
        self.wires: dict[int, str] = {}
        for i in range(kernel_vfs):
            wire, vf = netlab.add_veth()
            ip("link", "set", wire, "up")
            self.vf_netdevs[i] = vf
            self.wires[i] = wire
        total = kernel_vfs + dpdk_vfs
        self.fs.add_pf(PF_BDF, netdev=self.pf, total_vfs=total, num_vfs=total, driver="igb", vf_driver="igbvf",
                       vendor="8086", device="10c9", vf_device="10ca",
                       vf_netdevs=lambda i: self.vf_netdevs.get(i))
        self.binder = VfioBinder(self.fs.root, self.core, net=FakeNetState(), dev_root=str(self.fs.dev_root))
        for i in range(kernel_vfs, total):
            self.binder.bind(self.vf_bdf(i))
        self.pfnl = FakePfNetlink()
        self.pfnl.add_pf(self.pf, total)
        self.state = tmp / "state"
        self.networks = tmp / "networks.d"
        self.networks.mkdir()
        self.ipam = tmp / "ipam"
        self.bridge = netlab.name("br")
        netlab.track_link(self.bridge)
        (tmp / "cluster.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": self.bridge, "ipam": {"type": "host-local", "dataDir": str(self.ipam),
                                                                 "subnet": "10.253.0.0/24"}}]}))
        self.netops = netops
        self._nads: list[dict[str, Any]] = []

    def vf_bdf(self, index: int) -> str:
        return self.fs.vf_bdf(PF_BDF, index)

    def add_nad(self, name: str, resource: str | None = None, **config: Any) -> None:
        conf = {"cniVersion": "1.0.0", "type": "sriov", **config}
        self._nads.append(nad(name, conf, resource=resource))
        (self.networks / "nads.json").write_text(json.dumps({"kind": "List", "items": self._nads}))

    def sriov_ipam(self, subnet: str) -> dict[str, Any]:
        return {"type": "host-local", "subnet": subnet, "dataDir": str(self.ipam)}

    def conf(self, annotation: str, **extra: Any) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "stateDir": str(self.state),
                "networksDir": str(self.networks), "clusterNetwork": str(self.tmp / "cluster.conflist"),
                "deviceInfoDir": str(self.tmp / "devinfo"), "sysfsRoot": str(self.fs.root),
                "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {ANN: annotation}}, **extra}

    def context(self, conf: MultusConf, assignments: DeviceAssignments | None = None) -> ProcessContext:
        """Thin mode's context for `conf`, its SR-IOV parts on the simulated NIC's kernel handles."""
        context = standalone_context(conf)
        assignments = assignments or context.assignments
        # a veth "VF netdev" dies with its netns instead of coming back: no wait
        settings = conf.model_copy(update={"vfNetdevReturnTimeout": 0.2})
        sriov = SriovParts(settings, assignments, link_ops=get_link_ops(self.netops), vf_ops=self.pfnl,
                           binder=self.binder)
        return dataclasses.replace(context, assignments=assignments, sriov=sriov)

    def call(self, command: str, cid: str, netns: str, conf: dict[str, Any], pod: str | None = None) -> Reply:
        def factory(multus_conf: MultusConf):
            return self.context(multus_conf).runner(multus_conf)

        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": self.lab.path(netns) if netns else "",
               "CNI_IFNAME": "eth0", "CNI_PATH": self.cni_dir,
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod or cid}"}
        return handle(env, json.dumps(conf).encode(), factory)

    def ok(self, command: str, cid: str, netns: str, conf: dict[str, Any]) -> dict[str, Any] | None:
        reply = self.call(command, cid, netns, conf)
        assert reply.exit_code == 0, f"{command}: {reply.stdout}"
        return json.loads(reply.stdout) if reply.stdout else None

    def allocations(self) -> list[str]:
        d = self.state / "vf"
        return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []

    def status(self, pod: str) -> list[dict[str, Any]]:
        return json.loads((self.state / "status" / f"default_{pod}.json").read_text())["networkStatus"]

    def host_link(self, name: str) -> dict[str, Any] | None:
        out = ip("-j", "link", "show", "dev", name, check=False)
        return json.loads(out)[0] if out.strip() else None
