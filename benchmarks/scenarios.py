"""The benchmark scenarios: which delegates a pod gets and what must be true afterwards.

Every delegate is a single-plugin CNI config (what Multus' `delegates` takes and what the
floor driver can run without result chaining); IPAM is host-local in the run's own dir.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .node import Node

CNI_VERSION = "1.0.0"


@dataclass(frozen=True)
class Network:
    """One delegate of a pod and what it must leave in the pod."""
    name: str
    ifname: str
    plugin: str
    config: dict[str, Any]
    subnet: str | None            # the IPv4 subnet the interface's address must be in
    netdev: bool = True           # False: a DPDK VF (no netdev in the pod, a PCI address instead)
    host_netdev: str | None = None  # a kernel-mode VF's netdev: back on the host after DEL


@dataclass
class Scenario:
    number: int
    key: str
    title: str
    networks: list[Network] = field(default_factory=list)
    pods: int = 1                 # pods attached at once
    pending: str | None = None    # why it cannot run here (never a fake result)
    builtin_only: bool = False    # delegates built into multus-dp: no floor, no reference
    conf_extra: dict[str, Any] = field(default_factory=dict)   # keys multus-dp's config needs

    @property
    def delegates(self) -> list[dict[str, Any]]:
        return [n.config for n in self.networks]


class Subnets:
    """Consecutive /24s under a configurable base (default 10.231), one per network."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._next = 0

    def take(self) -> str:
        self._next += 1
        return f"{self.base}.{self._next}.0/24"


def _ipam(node: Node, subnet: str) -> dict[str, Any]:
    return {"type": "host-local", "subnet": subnet, "dataDir": str(node.ipam_dir)}


def _conf(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "name": name, **body}


def bridge(node: Node, subnets: Subnets, name: str, ifname: str, gateway: bool = True) -> Network:
    subnet = subnets.take()
    br = node.add_bridge()
    return Network(name, ifname, "bridge", _conf(name, {"type": "bridge", "bridge": br, "isGateway": gateway,
                                                        "ipam": _ipam(node, subnet)}), subnet)


def ptp(node: Node, subnets: Subnets, name: str, ifname: str) -> Network:
    subnet = subnets.take()
    return Network(name, ifname, "ptp", _conf(name, {"type": "ptp", "ipam": _ipam(node, subnet)}), subnet)


def macvlan(node: Node, subnets: Subnets, name: str, ifname: str) -> Network:
    subnet = subnets.take()
    return Network(name, ifname, "macvlan", _conf(name, {"type": "macvlan", "master": node.add_uplink(),
                                                         "mode": "bridge", "ipam": _ipam(node, subnet)}), subnet)


def build(node: Node, subnet_base: str, burst_pods: int, wanted: Sequence[int] = (1, 2, 3, 4, 5),
          cluster_title: str = "a cluster on one machine") -> dict[int, Scenario]:
    """The wanted scenarios on this node (bridges, uplinks and the simulated NIC are created
    here, once per run)."""
    from . import vfw

    subnets = Subnets(subnet_base)
    # bridges and uplinks only for the scenarios that run: scenario 6 alone needs no kernel resource
    seed = [bridge(node, subnets, "bench-cluster", "eth0"), ptp(node, subnets, "bench-ptp", "net1")] \
        if set(wanted) & {1, 3, 4, 5} else []
    four = [bridge(node, subnets, "bench4-cluster", "eth0"), ptp(node, subnets, "bench4-ptp", "net1"),
            macvlan(node, subnets, "bench4-macvlan", "net2"),
            bridge(node, subnets, "bench4-bridge2", "net3", gateway=False)] if 2 in wanted else []
    vfw_title = "vFW pod: eth0 + 2 kernel-mode VFs + 2 DPDK-mode VFs (simulated NIC)"
    pending = vfw.pending_reason()
    if 3 in wanted and pending is None:
        vfw_networks, vfw_conf = vfw.build(node, subnets.take, seed[0])
        vfw_scenario = Scenario(3, "vfw", vfw_title, vfw_networks, builtin_only=True, conf_extra=vfw_conf)
    else:
        vfw_scenario = Scenario(3, "vfw", vfw_title, seed[:1], pending=pending or "not selected")
    return {
        1: Scenario(1, "seed", "seed pod: bridge eth0 + ptp", seed),
        2: Scenario(2, "four", "four networks: bridge, ptp, macvlan over a veth, second bridge", four),
        3: vfw_scenario,
        4: Scenario(4, "burst", f"{burst_pods} pods of scenario 1 at once", seed, pods=burst_pods),
        5: Scenario(5, "api", "API requests per ADD and per DEL (kmock Kubernetes emulator)", seed),
        # N daemons against one API server, fake delegates: benchmarks/cluster.py
        6: Scenario(6, "cluster", cluster_title),
    }
