"""SR-IOV attach latency on real VFs in the QEMU lab guest (emulated igb 82576, TCG).

From the host, `.venv/bin/python -m benchmarks.lab_sriov [--rounds 5]` boots the lab guest
(scripts/lab/run-in-guest), runs itself there with `--guest`, and writes
benchmarks/results/lab-sriov.{json,md}. In the guest, every round (interleaved) times, spawn
to exit of the shim with a `multus-dp daemon` behind it:
- `eth0 only`: ADD and DEL of a pod with the bridge cluster network alone (the baseline);
- `eth0 + 1 kernel VF`: the same pod plus one kernel-mode VF (vlan, spoofchk, trust, mac,
  max_tx_rate set through the PF, netdev moved into the pod; no IPAM on the VF);
- `eth0 + 1 bindVfio VF`: the same pod plus one VF bound to vfio-pci at ADD, back to igbvf at DEL;
and the hardware module's `VfioBinder` alone: bind to vfio-pci, restore to igbvf.
TCG emulates every instruction: compare these figures with each other, not with hardware.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import labguest
PODS = {
    "eth0 only": None,
    "eth0 + 1 kernel VF": "bench-kernel",
    "eth0 + 1 bindVfio VF": "bench-vfio",
}


def timed(samples: list[float], action: Callable[[], object]) -> None:
    start = time.perf_counter()
    action()
    samples.append(time.perf_counter() - start)


def guest_main(rounds: int, out: Path) -> dict[str, Any]:
    """Runs inside the lab guest (MULTUS_DP_LAB=1)."""
    from benchmarks.stamp import stamp
    from benchmarks.stats import pairwise_difference_ms, summary
    from multus_dp.hardware.vfio import VfioBinder
    from multus_dp.hardware.writer import DeadlineWriter
    from tests.lab.support.sriovnode import SriovLab, SriovNode

    pf_bdf = os.environ["MULTUS_DP_LAB_PF_BDF"]
    numvfs = Path("/sys/bus/pci/devices", pf_bdf, "sriov_numvfs")
    writer = DeadlineWriter()
    writer.write(str(numvfs), "3", 60)
    subprocess.run(["udevadm", "settle"], check=False)
    vfs = [os.path.basename(os.readlink(f"/sys/bus/pci/devices/{pf_bdf}/virtfn{i}")) for i in range(3)]
    root = Path(tempfile.mkdtemp(prefix="lab-sriov-bench-"))
    lab = SriovLab(root)
    lab.add_nad("bench-kernel", vlan=100, spoofchk="on", trust="on", mac="02:4d:44:50:03:01", max_tx_rate=100)
    lab.add_nad("bench-vfio", bindVfio=True, vlan=101)
    started = time.perf_counter()
    lab.start()
    daemon_start = time.perf_counter() - started
    device = {"bench-kernel": vfs[0], "bench-vfio": vfs[1]}
    adds: dict[str, list[float]] = {name: [] for name in PODS}
    dels: dict[str, list[float]] = {name: [] for name in PODS}
    bind: list[float] = []
    restore: list[float] = []
    binder = VfioBinder()   # the default sysfs root: the guest's real /sys
    try:
        node = SriovNode(lab, root / "node")
        warm = node.pod("warm")
        node.ok("ADD", warm, node.conf())        # the first request pays for lazy imports
        node.ok("DEL", warm, node.conf())
        for n in range(rounds):
            for name, nad in PODS.items():
                pod = node.pod(f"r{n}-{len(node.pods)}")
                conf = node.conf([{"name": nad, "deviceID": device[nad]}] if nad else None)
                timed(adds[name], lambda: node.ok("ADD", pod, conf))
                timed(dels[name], lambda: node.ok("DEL", pod, conf))
                subprocess.run(["ip", "netns", "delete", pod.netns_name], check=False)
            subprocess.run(["udevadm", "settle"], check=False)
            timed(bind, lambda: binder.bind(vfs[2]))
            timed(restore, lambda: binder.restore(vfs[2], "igbvf", None))
            subprocess.run(["udevadm", "settle"], check=False)
            print(f"round {n + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        lab.stop()
        writer.write(str(numvfs), "0", 60)
    baseline = "eth0 only"
    doc: dict[str, Any] = {
        "benchmark": "lab-sriov", "rounds": rounds, "stamp": stamp("/usr/lib/cni", None),
        "guest": {"accel": os.environ.get("MULTUS_DP_LAB_ACCEL", "tcg"), "nic": "QEMU igb (82576), igbvf, vfio-pci",
                  "daemon_start_s": round(daemon_start, 2)},
        "add": {name: summary(samples) for name, samples in adds.items()},
        "del": {name: summary(samples) for name, samples in dels.items()},
        "vf_cost": {name: {"add": pairwise_difference_ms(adds[name], adds[baseline]),
                           "del": pairwise_difference_ms(dels[name], dels[baseline])}
                    for name in PODS if name != baseline},
        "vfio": {"bind": summary(bind), "restore_to_igbvf": summary(restore)},
    }
    out.write_text(json.dumps(doc, indent=1))
    return doc


def render_md(doc: dict[str, Any]) -> str:
    s = doc["stamp"]
    lines = [f"SR-IOV lab (QEMU {doc['guest']['accel'].upper()} guest, {doc['guest']['nic']}), {doc['rounds']} "
             f"interleaved rounds, guest kernel {s['machine']['kernel']}, {s['machine']['cores']} vCPUs, "
             f"multus-dp {s['versions']['git']} ({s['date']})", "",
             "Shim spawn to exit, daemon behind it; medians and p95 in ms. TCG emulates every instruction: "
             "compare these with each other, not with hardware.", "",
             "| pod | ADD median | ADD p95 | DEL median | DEL p95 |", "|---|---|---|---|---|"]
    for name in doc["add"]:
        add, dele = doc["add"][name], doc["del"][name]
        lines.append(f"| {name} | {add['median']:.0f} | {add['p95']:.0f} | {dele['median']:.0f} | {dele['p95']:.0f} |")
    lines += ["", "| the VF's own cost (pod minus `eth0 only`, paired by round) | ADD median | DEL median |",
              "|---|---|---|"]
    for name, cost in doc["vf_cost"].items():
        lines.append(f"| {name} | {cost['add']['median']:.0f} | {cost['del']['median']:.0f} |")
    vfio = doc["vfio"]
    lines += ["", "| VfioBinder (hardware module) | median | p95 |", "|---|---|---|",
              f"| bind to vfio-pci | {vfio['bind']['median']:.0f} | {vfio['bind']['p95']:.0f} |",
              f"| restore to igbvf | {vfio['restore_to_igbvf']['median']:.0f} | {vfio['restore_to_igbvf']['p95']:.0f} |",
              "", f"Daemon start in the guest: {doc['guest']['daemon_start_s']} s."]
    lines += labguest.host_note(doc)
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return labguest.main(argv, __doc__, "lab_sriov", "lab-sriov", guest_main, render_md)


if __name__ == "__main__":
    sys.exit(main())
