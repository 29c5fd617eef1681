"""Full hardware scan of 4 PFs x 64 VFs from a fake sysfs tree (the kernel's layout).

Measures `multus_dp.hardware.sysfs.scan()` (every PF and VF: links, driver, override,
ids, NUMA, IOMMU group and members, netdev and link type), an incremental `refresh()` of
one VF and of one whole PF, and the pool assignment of the 256 VFs. The tree lives in a
temp dir (page cache, like /sys), so this is the parsing/syscall cost, not a device's.
Writes benchmarks/results/hardware_scan.json. No root needed.

    .venv/bin/python benchmarks/hardware_scan.py [--rounds 50] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.stamp import run_fields, write_result  # noqa: E402
from benchmarks.stats import summary  # noqa: E402
from multus_dp.hardware import pools, sysfs  # noqa: E402
from tests.support.fakesysfs import FakeSysfs  # noqa: E402

PFS = ["0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0000:af:00.0"]
VFS_PER_PF = 64


def build(base: Path) -> FakeSysfs:
    fs = FakeSysfs(base)
    for n, bdf in enumerate(PFS):
        fs.add_pf(bdf, netdev=f"ens{n + 1}f0", total_vfs=VFS_PER_PF, num_vfs=VFS_PER_PF, numa_node=n // 2)
    return fs


def timed(fn, rounds: int) -> list[float]:
    fn()   # warm the page cache and the interpreter
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwscan-") as tmp:
        fs = build(Path(tmp))
        root = str(fs.root)
        model = sysfs.scan(root)
        assert len(model.pfs) == 4 and len(model.vfs) == 4 * VFS_PER_PF, "fake tree incomplete"
        config = pools.parse({"resourceList": [
            {"resourceName": "dpdk", "selectors": {"pfNames": [f"ens{n}f0#0-15" for n in range(1, 5)]}},
            {"resourceName": "netdev", "selectors": {"vendors": ["8086"], "drivers": ["iavf"]}}]})
        one_vf = FakeSysfs.vf_bdf(PFS[0], 7)
        results = {
            "full_scan": summary(timed(lambda: sysfs.scan(root), args.rounds)),
            "refresh_one_vf": summary(timed(lambda: sysfs.refresh(model, {one_vf}), args.rounds)),
            "refresh_one_pf": summary(timed(lambda: sysfs.refresh(model, {PFS[0]}), args.rounds)),
            "pool_assign": summary(timed(lambda: config.assign(model), args.rounds)),
        }
    record = {
        "benchmark": "hardware_scan", "pfs": len(PFS), "vfs_per_pf": VFS_PER_PF, "rounds": args.rounds,
        "unit": "ms", "results": results,
        **run_fields(),
    }
    write_result(str(args.out), "hardware_scan", record)
    for name, s in results.items():
        print(f"{name:16s} median {s['median']:8.3f} ms   p95 {s['p95']:8.3f} ms   (n={s['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
