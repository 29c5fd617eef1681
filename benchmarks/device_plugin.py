"""The kubelet device plugin: VF hot-unplug -> Unhealthy in ListAndWatch, and Allocate latency.

A fake sysfs of 4 PFs x 64 VFs (the kernel's layout); pools: `netdev` (the iavf VFs) and
`dpdk` (8 VFs on vfio-pci). multus-dp's DevicePluginManager serves them to a kubelet stand-in
over real gRPC on unix sockets (tests/support/kubelet_standin.py), as the daemon does.

- unplug_to_unhealthy_udev: a VF's sysfs entry goes and its udev `remove` event arrives (the
  production path: UdevWatcher with its default 0.25 s debounce) -> the stream's Unhealthy list;
- unplug_to_unhealthy_no_udev: the same without any udev event (a container without udev):
  the manager's own sysfs check at the default devicePluginResyncInterval (1 s);
- allocate_kernel_1 / allocate_vfio_2: one Allocate round trip (gRPC client to answer);
- resync_pass: one pass of the manager over all pools (sysfs check of 256 VFs, health, push).
Writes benchmarks/results/device_plugin.json. No root needed.

    .venv/bin/python benchmarks/device_plugin.py [--rounds 20] [--allocs 200] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.stamp import run_fields, write_result  # noqa: E402
from benchmarks.stats import summary  # noqa: E402
from multus_dp.base import defaults  # noqa: E402
from multus_dp.hardware.inventory import Inventory  # noqa: E402
from multus_dp.hardware.udev import DeviceEvent, QueueEventSource, UdevWatcher  # noqa: E402
from multus_dp.hardware.vfio import VfioBinder  # noqa: E402
from multus_dp.kubelet.manager import DevicePluginManager, ManagerSettings  # noqa: E402
from tests.support.fakesysfs import FakeDriverCore, FakeNetState, FakeSysfs  # noqa: E402
from tests.support.kubelet_standin import KubeletStandin, PluginClient, unhealthy  # noqa: E402

PFS = ["0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0000:af:00.0"]
VFS_PER_PF = 64
DPDK_VFS = 8


class Node:
    def __init__(self, base: Path, *, udev: bool, resync: float) -> None:
        self.fs = FakeSysfs(base / "fs")
        self.core = FakeDriverCore(self.fs)
        for n, bdf in enumerate(PFS):
            self.fs.add_pf(bdf, netdev=f"ens{n + 1}f0", total_vfs=VFS_PER_PF, num_vfs=VFS_PER_PF, numa_node=n // 2)
            self.fs.set_up(f"ens{n + 1}f0")
        binder = VfioBinder(self.fs.root, self.core, net=FakeNetState(), dev_root=str(self.fs.dev_root))
        for i in range(DPDK_VFS):
            binder.bind(self.fs.vf_bdf(PFS[0], i))
        pools = base / "pools.json"
        pools.write_text(json.dumps({"resourceList": [
            {"resourceName": "netdev", "selectors": {"drivers": ["iavf"]}},
            {"resourceName": "dpdk", "selectors": {"drivers": ["vfio-pci"]}}]}))
        self.kubelet_dir = Path(tempfile.mkdtemp(prefix="mdp-bench-"))
        self.kubelet = KubeletStandin(self.kubelet_dir).start()
        self.inventory = Inventory(str(self.fs.root))
        self.events = QueueEventSource()
        self.watcher = UdevWatcher(self.inventory, self.events, rescan_interval=3600) if udev else None
        if self.watcher:
            self.watcher.start()
        self.manager = DevicePluginManager(ManagerSettings(
            plugins_dir=str(self.kubelet.plugins_dir), pools_path=str(pools), state_dir=str(base / "state"),
            resync_interval=resync, dev_root=str(self.fs.dev_root)), self.inventory)
        self.manager.start()
        self.kubelet.wait_registered("intel.com/netdev")
        self.kubelet.wait_registered("intel.com/dpdk")

    def client(self, resource: str) -> PluginClient:
        return self.kubelet.plugin(resource)

    def unplug(self, bdf: str) -> None:
        path = f"/sys/devices/pci0000:00/{bdf}"
        self.fs.remove_device(bdf)
        if self.watcher:
            self.events.put(DeviceEvent("remove", "pci", path, bdf))

    def close(self) -> None:
        self.manager.stop()
        if self.watcher:
            self.watcher.stop()
        self.kubelet.stop()
        self.core.release()
        shutil.rmtree(self.kubelet_dir, ignore_errors=True)


def unplug_latencies(base: Path, rounds: int, *, udev: bool) -> list[float]:
    node = Node(base, udev=udev, resync=defaults.DEVICE_PLUGIN_RESYNC_INTERVAL)
    try:
        watch = node.client("intel.com/netdev").watch()
        watch.wait_for(lambda d: len(d) == len(PFS) * VFS_PER_PF - DPDK_VFS, timeout=30)
        out = []
        for n in range(rounds):
            vf = node.fs.vf_bdf(PFS[1 + n % 3], 8 + n // 3)
            start = time.perf_counter()
            node.unplug(vf)
            watch.wait_for(lambda d: vf in unhealthy(d), timeout=10)
            out.append(time.perf_counter() - start)
            time.sleep(0.05 + (n % 7) * 0.13)   # unplugs land at different points of the resync period
        return out
    finally:
        node.close()


def allocate_latencies(base: Path, rounds: int) -> dict[str, list[float]]:
    node = Node(base, udev=False, resync=defaults.DEVICE_PLUGIN_RESYNC_INTERVAL)
    try:
        kernel, vfio = node.client("intel.com/netdev"), node.client("intel.com/dpdk")
        kernel.watch().wait_for(lambda d: len(d) > 0, timeout=30)
        vfio.watch().wait_for(lambda d: len(d) == DPDK_VFS, timeout=30)
        k_vf = node.fs.vf_bdf(PFS[2], 3)
        d_vfs = [node.fs.vf_bdf(PFS[0], 1), node.fs.vf_bdf(PFS[0], 2)]
        out: dict[str, list[float]] = {"allocate_kernel_1": [], "allocate_vfio_2": [], "resync_pass": []}
        for _ in range(min(rounds, 50)):   # what one health pass over the 256 VFs costs
            start = time.perf_counter()
            node.manager.sync()
            out["resync_pass"].append(time.perf_counter() - start)
        for name, client, ids in (("allocate_kernel_1", kernel, [k_vf]), ("allocate_vfio_2", vfio, d_vfs)):
            client.allocate(ids)   # warm the channel
            for _ in range(rounds):
                start = time.perf_counter()
                client.allocate(ids)
                out[name].append(time.perf_counter() - start)
        return out
    finally:
        node.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="hot-unplugs per mode")
    parser.add_argument("--allocs", type=int, default=200, help="Allocate calls per pool")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dpbench-") as tmp:
        results = {
            "unplug_to_unhealthy_udev": summary(unplug_latencies(Path(tmp) / "a", args.rounds, udev=True)),
            "unplug_to_unhealthy_no_udev": summary(unplug_latencies(Path(tmp) / "b", args.rounds, udev=False)),
            **{k: summary(v) for k, v in allocate_latencies(Path(tmp) / "c", args.allocs).items()},
        }
    record = {
        "benchmark": "device_plugin", "pfs": len(PFS), "vfs_per_pf": VFS_PER_PF, "unplug_rounds": args.rounds,
        "allocate_rounds": args.allocs, "resync_interval_s": defaults.DEVICE_PLUGIN_RESYNC_INTERVAL,
        "udev_debounce_s": 0.25, "unit": "ms", "results": results,
        **run_fields(),
    }
    write_result(str(args.out), "device_plugin", record)
    for name, s in results.items():
        print(f"{name:30s} median {s['median']:8.3f} ms  p95 {s['p95']:8.3f} ms  max {s['max']:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
