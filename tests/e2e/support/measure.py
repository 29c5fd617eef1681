"""What multus-dp costs a real runtime: CRI RunPodSandbox / Stop+Remove and `podman run`, each
through multus-dp (shim -> daemon) and straight to the bridge primary, interleaved round by
round so load from other work on the machine hits every variant alike. Measured, never asserted.

    .venv/bin/python -m tests.e2e.support.measure --rounds 20 [--json]   (root; setup-e2e.sh)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support.netns import NetLab
from tests.support.prereq import CNI_PLUGIN_DIR

from .containerd import Containerd
from .images import busybox_rootfs, docker_archive
from .node import ANNOTATIONS_CAPABILITY, Node
from .podman import Podman

PAUSE_REF = "localhost/multus-dp-e2e-pause:1"
NETWORKS = "k8s.v1.cni.cncf.io/networks"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1),
            "n": len(ordered)}


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_cri(root: Path, rounds: int, progress: Callable[[str], None]) -> dict[str, dict[str, dict[str, float]]]:
    lab = NetLab()
    node = Node(root / "cri-node", lab, CNI_PLUGIN_DIR, os.environ.get("MULTUS_DP_E2E_NET_MEASURE_CRI", "10.246"))
    runtimes: list[Containerd] = []
    try:
        node.prepare("--set", f'capabilities={{"{ANNOTATIONS_CAPABILITY}": true}}')
        node.daemon.start()
        direct_conf = root / "direct.d"
        direct_conf.mkdir()
        shutil.copy(node.conf_dir / "10-cluster.conflist", direct_conf)
        archive = docker_archive(busybox_rootfs(root / "rootfs"), root / "pause.tar", PAUSE_REF)
        for name, conf_dir in (("multus", node.conf_dir), ("direct", direct_conf)):
            runtime = Containerd(root / name, cni_bin_dir=node.bin_dir, cni_conf_dir=conf_dir,
                                 sandbox_image=PAUSE_REF)
            runtimes.append(runtime)
            runtime.start()
            runtime.import_image(archive)
        multus, direct = (r.cri for r in runtimes)
        variants = [("bridge conflist, no multus-dp", direct, {}),
                    ("multus-dp: eth0", multus, {}),
                    ("multus-dp: eth0 + 2 NADs (ptp, macvlan)", multus, {NETWORKS: "ptp-net,macvlan-net"})]
        samples: dict[str, dict[str, list[float]]] = {v[0]: {"RunPodSandbox": [], "Stop+RemovePodSandbox": []}
                                                       for v in variants}
        for n in range(rounds):
            for label, cri, annotations in variants:
                assert cri is not None
                pod_id = ""

                def run() -> None:
                    nonlocal pod_id
                    pod_id = cri.run_pod(f"m{n}", "e2e", str(uuid.uuid4()), annotations, root / "logs")

                samples[label]["RunPodSandbox"].append(_timed(run))
                samples[label]["Stop+RemovePodSandbox"].append(
                    _timed(lambda: (cri.stop_pod(pod_id), cri.remove_pod(pod_id))))
            progress(f"CRI round {n + 1}/{rounds}")
        return {label: {op: _ms(s) for op, s in ops.items()} for label, ops in samples.items()}
    finally:
        for runtime in runtimes:
            runtime.stop()
        node.stop_daemon()
        lab.cleanup()


def measure_podman(root: Path, rounds: int, progress: Callable[[str], None]) -> dict[str, dict[str, float]]:
    lab = NetLab()
    node = Node(root / "podman-node", lab, CNI_PLUGIN_DIR, os.environ.get("MULTUS_DP_E2E_NET_MEASURE_PODMAN", "10.247"))
    try:
        node.prepare("--set", 'defaultNetworks=["ptp-net"]', "--set", 'multusNamespace="e2e"')
        node.daemon.start()
        rootfs = busybox_rootfs(root / "pm-rootfs")
        podman = Podman(root / "pm", cni_bin_dir=node.bin_dir, cni_conf_dir=node.conf_dir,
                        extra_env={"MULTUS_DP_SOCKET": node.daemon.socket})
        variants = [("--network none", "none"), ("bridge conflist, no multus-dp", "cluster"),
                    ("multus-dp: eth0 + net1 (ptp)", "multus-dp-network")]
        samples: dict[str, list[float]] = {label: [] for label, _ in variants}
        for n in range(rounds):
            for label, network in variants:
                start = time.perf_counter()
                proc = podman.run("--network", network, rootfs=rootfs, command=["/bin/true"])
                samples[label].append(time.perf_counter() - start)
                if proc.returncode != 0:
                    raise RuntimeError(f"podman run --network {network}: {proc.stderr}")
            progress(f"podman round {n + 1}/{rounds}")
        return {label: _ms(s) for label, s in samples.items()}
    finally:
        node.stop_daemon()
        lab.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="multus-dp-e2e-measure-") as tmp:
        root = Path(tmp)
        progress = (lambda msg: print(msg, file=sys.stderr, flush=True))
        results = {"rounds": args.rounds,
                   "cri": measure_cri(root, args.rounds, progress),
                   "podman run --rm /bin/true": measure_podman(root, args.rounds, progress)}
        from .containerd import unmount_under
        unmount_under(root)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'CRI (containerd 1.6)':52} {'op':24} {'median ms':>10} {'p95 ms':>8}")
    for label, ops in results["cri"].items():
        for op, figures in ops.items():
            print(f"{label:52} {op:24} {figures['median_ms']:>10} {figures['p95_ms']:>8}")
    print(f"\n{'podman 4.3 run --rm /bin/true':52} {'median ms':>10} {'p95 ms':>8}")
    for label, figures in results["podman run --rm /bin/true"].items():
        print(f"{label:52} {figures['median_ms']:>10} {figures['p95_ms']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
