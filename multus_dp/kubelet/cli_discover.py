"""`multus-dp discover`: the hardware report (hardware/cli_discover.py) plus, per pool, what the
device plugin advertises to the kubelet (resource name, devices, healthy/unhealthy) and which
pod holds which VF (from the kubelet's PodResources API when its socket is there)."""
from __future__ import annotations

import argparse
import os
from typing import Any

from multus_dp.base import defaults
from multus_dp.cni.errors import CNIError
from multus_dp.hardware import cli_discover as hardware_cli
from multus_dp.hardware import discover, pools
from multus_dp.hardware.allocator import VfAllocator
from multus_dp.hardware.sysfs import NodeModel
from multus_dp.kubelet import devices as dv


def configure(parser: argparse.ArgumentParser) -> None:
    hardware_cli.configure(parser)
    parser.add_argument("--pod-resources-socket", default=defaults.POD_RESOURCES_SOCKET,
                        help=f"the kubelet's PodResources socket, for who holds which VF "
                             f"(default {defaults.POD_RESOURCES_SOCKET})")


def device_plugin_view(model: NodeModel, config: pools.PoolsConfig, state_dir: str,
                       pod_resources_socket: str) -> dict[str, Any]:
    ours: set[str] = set()
    if os.path.isdir(os.path.join(state_dir, "vf")):
        allocator = VfAllocator(state_dir)
        ours = {a.bdf for a in allocator.records() if a.source == "pool" and allocator.netns_alive(a.owner.netns)}
    holders: dict[str, str] = {}
    error = None
    if os.path.exists(pod_resources_socket):
        from multus_dp.kubelet.podresources import PodResourcesClient

        client = PodResourcesClient(pod_resources_socket)
        try:
            holders = {i: p.ref for p in client.list_pods() for ids in p.resources.values() for i in ids}
        except CNIError as exc:
            error = exc.msg
        finally:
            client.close()
    out = []
    for resource, members in config.assign(model).items():
        found = dv.evaluate(resource, members, model, config, ours=ours,
                            link_down=lambda pf: dv.pf_link_down(model.sysfs_root, model, pf))
        out.append({"resource": resource, "advertised": len(found), "healthy": sum(d.healthy for d in found),
                    "unhealthy": sum(not d.healthy for d in found),
                    "devices": [{"id": d.bdf, "health": d.health, "numaNode": d.numa_node,
                                 "problem": d.problem or None, "holder": holders.get(d.bdf)} for d in found]})
    return {"podResources": pod_resources_socket if os.path.exists(pod_resources_socket) else None,
            "holdersError": error, "pools": out}


def render(view: dict[str, Any]) -> str:
    lines = ["", "DEVICE PLUGIN (what the kubelet is told)"]
    lines += discover._table(["RESOURCE", "ADVERTISED", "HEALTHY", "UNHEALTHY"],
                             [[p["resource"], str(p["advertised"]), str(p["healthy"]), str(p["unhealthy"])]
                              for p in view["pools"]])
    rows = [[p["resource"], d["id"], d["health"], str(d["numaNode"]) if d["numaNode"] >= 0 else "-",
             d["holder"] or "-", d["problem"] or ""]
            for p in view["pools"] for d in p["devices"]]
    if rows:
        lines += discover._table(["RESOURCE", "VF", "HEALTH", "NUMA", "HELD BY", "PROBLEM"], rows)
    source = view["podResources"] or "no PodResources socket: holders unknown"
    lines.append(f"holders from: {source}" + (f" ({view['holdersError']})" if view["holdersError"] else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def extend(model: NodeModel, config: pools.PoolsConfig, report: dict[str, Any]) -> str:
        report["devicePlugin"] = view = device_plugin_view(model, config, args.state_dir, args.pod_resources_socket)
        return render(view)

    return hardware_cli.run(args, extend)
