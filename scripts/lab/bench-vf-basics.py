#!/usr/bin/python3
"""Guest-side timing of the VF basics under the lab's TCG guest (run it via run-in-guest):
vfio-pci bind and restore (hardware.VfioBinder) and a VF netdev's move into a pod netns and
back (netops, both implementations). Prints one JSON object; medians and all samples in ms.
Figures are for the emulated NIC under TCG: compare runs with each other, not with hardware.
Usage: scripts/lab/run-in-guest '.venv/bin/python scripts/lab/bench-vf-basics.py [ROUNDS]'
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from multus_dp.hardware import sysfs
from multus_dp.hardware.vfio import VfioBinder
from multus_dp.hardware.writer import DeadlineWriter
from multus_dp.netops import get_link_ops, native_available


def timed(samples: list[float], action: Callable[[], object]) -> None:
    start = time.perf_counter()
    action()
    samples.append((time.perf_counter() - start) * 1000)


def summary(samples: list[float]) -> dict[str, object]:
    return {"median_ms": round(statistics.median(samples), 2), "samples_ms": [round(s, 2) for s in samples]}


def main(rounds: int) -> dict[str, object]:
    pf_bdf = os.environ["MULTUS_DP_LAB_PF_BDF"]
    numvfs = Path("/sys/bus/pci/devices", pf_bdf, "sriov_numvfs")
    writer = DeadlineWriter()
    writer.write(str(numvfs), "2", 60)
    subprocess.run(["udevadm", "settle"], check=False)
    model = sysfs.scan("/sys")
    vf_kernel, vf_dpdk = model.vfs_of(pf_bdf)
    result: dict[str, object] = {}
    try:
        binder = VfioBinder("/sys")
        bind: list[float] = []
        restore: list[float] = []
        original = vf_dpdk.driver
        for _ in range(rounds):
            timed(bind, lambda: binder.bind(vf_dpdk.bdf))
            timed(restore, lambda: binder.restore(vf_dpdk.bdf, original, None))
        result["vfio_bind"], result["vfio_restore"] = summary(bind), summary(restore)

        subprocess.run(["ip", "netns", "add", "bench-pod"], check=True)
        host_name = vf_kernel.netdev or ""
        for impl in ("native", "pyroute2") if native_available() else ("pyroute2",):
            ops = get_link_ops(impl)
            into: list[float] = []
            back: list[float] = []
            for _ in range(rounds):
                timed(into, lambda: ops.move_to_netns(host_name, "/run/netns/bench-pod", "net1"))
                timed(back, lambda: ops.move_from_netns("net1", "/run/netns/bench-pod", host_name))
            result[f"vf_move_to_netns_{impl}"], result[f"vf_move_back_{impl}"] = summary(into), summary(back)
    finally:
        subprocess.run(["ip", "netns", "delete", "bench-pod"], check=False, capture_output=True)
        writer.write(str(numvfs), "0", 60)
    return result


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=1))
