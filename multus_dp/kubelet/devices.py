"""What one pool advertises to the kubelet, and the answers its device plugin gives.

Pure functions over the hardware model: the gRPC layer (plugin.py) only converts.

Health of a VF the pool ever advertised (it stays listed, as Unhealthy, once it is gone, so
the kubelet stops counting it instead of forgetting it):
- Unhealthy "gone": the VF is no longer in the model (udev remove, numvfs lowered);
- Unhealthy "no longer matches the pool": its driver (or anything else a selector checks) changed;
- Unhealthy "PF link down": the PF's netdev is administratively down or its operstate is "down";
- Unhealthy "allocated by multus-dp": multus-dp's own pool allocator gave it to a pod that did
  not request the resource (one allocation truth: the kubelet must not hand it out too);
- else Healthy.

Preferred allocation (GetPreferredAllocation), per container request:
1. every `must_include` ID first;
2. then one NUMA node: the node most `must_include` IDs are on, else the node with the most
   available VFs (ties: the lowest node number); other nodes only when it runs out;
3. within that, by the pool's `allocatePolicy`: "spread" takes the PF with the fewest VFs
   chosen so far (round-robin over PFs), "packed" the PF with the most (fill one PF first),
   "" (default) plain PCI address order.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from multus_dp.hardware import sysfs
from multus_dp.hardware.pools import PoolsConfig
from multus_dp.hardware.sysfs import NodeModel

HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"
VFIO_DRIVER = "vfio-pci"
ALLOCATE_POLICIES = ("", "packed", "spread")


@dataclass(frozen=True)
class PoolDevice:
    bdf: str
    numa_node: int          # -1: unknown
    pf_bdf: str
    iommu_group: str | None
    driver: str | None
    problem: str = ""       # why it is Unhealthy; "" when Healthy

    @property
    def healthy(self) -> bool:
        return not self.problem

    @property
    def health(self) -> str:
        return HEALTHY if self.healthy else UNHEALTHY


@dataclass(frozen=True)
class DeviceSpec:
    container_path: str
    host_path: str
    permissions: str = "rw"


@dataclass
class ContainerAllocation:
    envs: dict[str, str] = field(default_factory=dict)
    devices: list[DeviceSpec] = field(default_factory=list)


class AllocationRefused(Exception):
    """Allocate named a device this pool cannot give (unknown or unhealthy)."""


def env_name(resource: str) -> str:
    """`intel.com/sriov_net` -> `PCIDEVICE_INTEL_COM_SRIOV_NET` (as the SR-IOV device plugin)."""
    return "PCIDEVICE_" + re.sub(r"[^A-Z0-9]", "_", resource.upper())


def socket_name(resource_name: str) -> str:
    """The endpoint file name for a pool (`resourceName` only: it is unique on the node)."""
    return f"multus-dp-{resource_name}.sock"


def pf_link_down(root: str, model: NodeModel, pf_bdf: str) -> bool:
    pf = model.pf(pf_bdf)
    ifname = pf.netdev if pf else None
    if ifname is None:
        return False   # no PF netdev (vfio-bound PF, or a VM without a PF): nothing to judge by
    state = sysfs.read_text(os.path.join(root, "class", "net", ifname, "operstate"))
    return not sysfs.netdev_is_up(root, pf_bdf, ifname) or state == "down"


def evaluate(pool: str, known: Iterable[str], model: NodeModel, config: PoolsConfig, *,
             ours: set[str], link_down: Callable[[str], bool]) -> list[PoolDevice]:
    """The pool's devices, sorted by address: every VF it has ever listed, with its health.

    `known` is the pool's VFs so far (the caller adds the VFs `config.assign` gives now);
    `ours` the VFs multus-dp's own allocator holds; `link_down(pf_bdf)` the PF link check.
    """
    out = []
    for bdf in sorted(set(known)):
        vf = model.vf(bdf)
        if vf is None:
            out.append(PoolDevice(bdf, -1, "", None, None, "gone"))
            continue
        problem = ""
        if config.pool_of(model, vf) != pool:
            problem = f"no longer matches the pool (driver {vf.driver or 'none'})"
        elif link_down(vf.pf_bdf):
            problem = f"PF {vf.pf_bdf} link down"
        elif bdf in ours:
            problem = "allocated by multus-dp"
        out.append(PoolDevice(bdf, vf.numa_node, vf.pf_bdf, vf.iommu_group, vf.driver, problem))
    return out


def preferred(available: Sequence[str], must_include: Sequence[str], size: int,
              devices: dict[str, PoolDevice], policy: str = "") -> list[str]:
    """The IDs to suggest for one container (rule in the module docstring)."""
    avail = set(available)
    chosen = [d for d in dict.fromkeys(must_include) if d in avail][:max(size, 0)]
    rest = sorted(avail.difference(chosen))

    def numa(bdf: str) -> int:
        dev = devices.get(bdf)
        return dev.numa_node if dev else -1

    def pf(bdf: str) -> str:
        dev = devices.get(bdf)
        return dev.pf_bdf if dev else ""

    pinned = Counter(numa(b) for b in chosen).most_common()
    candidates = Counter(numa(b) for b in rest)
    if pinned:
        anchor = min((n for n, c in pinned if c == pinned[0][1]))
    elif candidates:
        top = max(candidates.values())
        anchor = min(n for n, c in candidates.items() if c == top)
    else:
        anchor = -1
    per_pf = Counter(pf(b) for b in chosen)
    while len(chosen) < size and rest:
        def key(bdf: str) -> tuple[bool, int, str]:
            used = per_pf[pf(bdf)]
            rank = used if policy == "spread" else (-used if policy == "packed" else 0)
            return (numa(bdf) != anchor, rank, bdf)
        best = min(rest, key=key)
        rest.remove(best)
        chosen.append(best)
        per_pf[pf(best)] += 1
    return chosen


def vfio_specs(root: str, group: str, dev_root: str = "/dev") -> list[DeviceSpec]:
    """/dev/vfio/vfio plus the group's node; a no-IOMMU group is `noiommu-<g>` on the host and
    `<g>` in the container (as the SR-IOV device plugin maps it)."""
    noiommu = sysfs.read_text(os.path.join(root, "kernel", "iommu_groups", group, "name")) == "vfio-noiommu"
    host = os.path.join(dev_root, "vfio", f"noiommu-{group}" if noiommu else group)
    return [DeviceSpec("/dev/vfio/vfio", os.path.join(dev_root, "vfio", "vfio")),
            DeviceSpec(f"/dev/vfio/{group}", host)]


def allocate(resource: str, ids: Sequence[str], devices: dict[str, PoolDevice], root: str,
             dev_root: str = "/dev") -> ContainerAllocation:
    """One container's answer: `PCIDEVICE_*` = the addresses; vfio-pci VFs add their nodes."""
    out = ContainerAllocation(envs={env_name(resource): ",".join(ids)})
    seen: set[str] = set()
    for bdf in ids:
        dev = devices.get(bdf)
        if dev is None:
            raise AllocationRefused(f"{resource}: device {bdf} is not a device of this pool")
        if not dev.healthy:
            raise AllocationRefused(f"{resource}: device {bdf} is unhealthy ({dev.problem})")
        if dev.driver == VFIO_DRIVER:
            if dev.iommu_group is None:
                raise AllocationRefused(f"{resource}: vfio-pci device {bdf} has no IOMMU group")
            for spec in vfio_specs(root, dev.iommu_group, dev_root):
                if spec.container_path not in seen:
                    seen.add(spec.container_path)
                    out.devices.append(spec)
    return out
