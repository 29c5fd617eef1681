"""Scenario 3, the vFW pod: `eth0` + 2 kernel-mode VFs + 2 DPDK-mode VFs.

Here the NIC is simulated as the demo does it (multus_dp.sriov.simulated): a temp sysfs tree
with one PF whose two kernel-mode VF netdevs are real veth ends (moved into the pod and back)
and two VFs bound to vfio-pci (DPDK mode: no netdev in the pod, device-info instead), plus
a simulated PF VF table. multus-dp is pointed at it with `sysfsRoot` and `sriovSimulatedPf`.
In the lab the same scenario runs on real igb VFs.

The SR-IOV delegate is built into multus-dp: there is no standalone binary to exec, so the
floor and the reference runner do not apply to this scenario (reported as such).
"""
from __future__ import annotations

import importlib.util
from typing import Any

from .node import Node
from .procs import ip

PF_BDF = "0000:5e:00.0"


def pending_reason() -> str | None:
    """Why scenario 3 cannot run with this build, or None."""
    for module in ("multus_dp.sriov.builtin", "multus_dp.sriov.simulated"):
        try:
            if importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(module)
        except ModuleNotFoundError:
            return f"the built-in SR-IOV delegate is not in this build (no {module}); scenario 3 runs once it lands"
    return None


def build(node: Node, take_subnet: Any, cluster: Any) -> tuple[list[Any], dict[str, Any]]:
    """The vFW pod's networks (cluster eth0 first) and the config keys multus-dp needs."""
    from multus_dp.sriov.simulated import SimulatedPf, build_sysfs

    from .scenarios import CNI_VERSION, Network

    vf_netdevs = []
    for _ in range(2):
        vf, wire = node.name("v"), node.name("w")
        node.links += [vf, wire]
        ip("link", "add", vf, "type", "veth", "peer", "name", wire)
        ip("link", "set", wire, "up")
        vf_netdevs.append(vf)
    root = node.work_dir / "sysfs"
    state = node.work_dir / "simulated-pf.json"
    pf = node.name("f")   # the PF exists only in the simulated VF table and the sysfs tree
    bdfs = build_sysfs(str(root), pf_bdf=PF_BDF, pf_netdev=pf, vf_netdevs=[*vf_netdevs, None, None])
    SimulatedPf(str(state)).add_pf(pf, len(bdfs))

    def sriov(name: str, ifname: str, bdf: str, host: str | None, vlan: int) -> Network:
        subnet = take_subnet() if host else None
        body: dict[str, Any] = {"cniVersion": CNI_VERSION, "name": name, "type": "sriov", "deviceID": bdf,
                                "vlan": vlan}
        if subnet:
            body["ipam"] = {"type": "host-local", "subnet": subnet, "dataDir": str(node.ipam_dir)}
        return Network(name, ifname, "sriov", body, subnet, netdev=host is not None, host_netdev=host)

    networks = [cluster,
                sriov("bench-vf-k0", "net1", bdfs[0], vf_netdevs[0], 100),
                sriov("bench-vf-k1", "net2", bdfs[1], vf_netdevs[1], 101),
                sriov("bench-vf-d0", "net3", bdfs[2], None, 300),
                sriov("bench-vf-d1", "net4", bdfs[3], None, 301)]
    return networks, {"sysfsRoot": str(root), "sriovSimulatedPf": str(state)}
