"""What `multus-dp discover` reports: PFs, VFs, drivers, pools, allocations, IOMMU, NUMA."""
from __future__ import annotations

import os
from typing import Any

from multus_dp.hardware.allocator import Allocation, VfAllocator
from multus_dp.hardware.pools import PoolsConfig
from multus_dp.hardware.sysfs import NodeModel


def allocations(state_dir: str) -> list[Allocation]:
    """Allocation records, without creating the state directory when there is none."""
    if not os.path.isdir(os.path.join(state_dir, "vf")):
        return []
    return VfAllocator(state_dir).records()


def build(model: NodeModel, pool_config: PoolsConfig | None, allocs: list[Allocation]) -> dict[str, Any]:
    out = model.to_json()
    pools = pool_config.assign(model) if pool_config else {}
    pool_of = {bdf: name for name, members in pools.items() for bdf in members}
    owner = {a.bdf: a for a in allocs}
    for vf in out["vfs"]:
        vf["pool"] = pool_of.get(vf["bdf"])
        alloc = owner.get(vf["bdf"])
        vf["allocatedTo"] = alloc.owner.describe() if alloc else None
    out["pools"] = {name: {"vfs": members, "free": [b for b in members if b not in owner]}
                    for name, members in pools.items()}
    out["poolWarnings"] = pool_config.warnings() if pool_config else []
    out["allocations"] = [a.to_json() for a in allocs]
    return out


def has_sriov(report: dict[str, Any]) -> bool:
    """Any SR-IOV capable PF, any VF, or any allocation record to show."""
    return bool(report["vfs"] or report["allocations"] or any(pf["totalVfs"] for pf in report["pfs"]))


def no_sriov_line(report: dict[str, Any]) -> str:
    pfs = len(report["pfs"])
    scanned = f"{pfs} network PCI function{'s' if pfs != 1 else ''}, none SR-IOV capable," if pfs \
        else "no network PCI functions"
    return f"no SR-IOV on this node: {scanned} under {report['sysfsRoot']}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    iommu = report["iommu"]
    lines.append(f"sysfs root {report['sysfsRoot']}; IOMMU {'present' if iommu['present'] else 'absent'}"
                 f"{'; vfio no-IOMMU mode on' if iommu['noiommuMode'] else ''}")
    lines.append("")
    lines.append("PHYSICAL FUNCTIONS")
    lines += _table(["PF", "BDF", "DRIVER", "VENDOR:DEVICE", "NUMA", "VFS", "AUTOPROBE", "LINK", "IOMMU"],
                    [[pf["netdevs"][0] if pf["netdevs"] else "-", pf["bdf"], pf["driver"] or "-",
                      f"{pf['vendor']}:{pf['device']}", str(pf["numaNode"]),
                      f"{pf['numVfs']}/{pf['totalVfs']}" if pf["totalVfs"] else "no SR-IOV",
                      {True: "on", False: "off", None: "-"}[pf["driversAutoprobe"]], pf["linkType"] or "-",
                      pf["iommuGroup"] or "-"] for pf in report["pfs"]])
    pf_name = {pf["bdf"]: (pf["netdevs"][0] if pf["netdevs"] else pf["bdf"]) for pf in report["pfs"]}
    lines.append("")
    lines.append("VIRTUAL FUNCTIONS")
    lines += _table(["VF", "BDF", "NETDEV", "DRIVER", "STATE", "POOL", "IOMMU", "NUMA", "ALLOCATED TO"],
                    [[f"{pf_name.get(vf['pfBdf'], vf['pfBdf'])}#{vf['index']}", vf["bdf"],
                      vf["netdevs"][0] if vf["netdevs"] else "-", vf["driver"] or "-", vf["state"],
                      vf["pool"] or "-", vf["iommuGroup"] or "-", str(vf["numaNode"]), vf["allocatedTo"] or "-"]
                     for vf in report["vfs"]])
    if report["pools"] or report["poolWarnings"]:
        lines.append("")
        lines.append("POOLS")
        lines += _table(["POOL", "VFS", "FREE"], [[n, str(len(p["vfs"])), str(len(p["free"]))]
                                                  for n, p in report["pools"].items()])
        lines += [f"warning: {w}" for w in report["poolWarnings"]]
    shared = {g: m for g, m in report["iommuGroups"].items() if len(m) > 1}
    lines.append("")
    lines.append(f"IOMMU GROUPS: {len(report['iommuGroups'])}" + (", shared: " + "; ".join(
        f"{g}: {' '.join(m)}" for g, m in shared.items()) if shared else ", none shared"))
    lines.append("NUMA NODES: " + ("; ".join(f"{n}: {len(b)} functions" for n, b in report["numaNodes"].items()) or "-"))
    return "\n".join(lines)
