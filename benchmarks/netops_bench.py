"""Move-and-configure one veth end into a netns (temporary name, rename, MAC, MTU, up) and
back, four ways interleaved in one run:

  native    multus_dp.netops native (cffi, one call)
  pyroute2  multus_dp.netops pyroute2 (fork-free sockets, same steps)
  ip        the same steps as `ip` subprocess calls
  floor     benchmarks/native/move_floor.c: the same syscalls in a bare C loop (compiled now)

Every round runs each variant once, in a rotating order, on its own veth pair and netns.
Writes benchmarks/results/netops.json and netops.md. Root needed.

    .venv/bin/python benchmarks/netops_bench.py [--rounds 30] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from multus_dp.netops import get_link_ops  # noqa: E402

MAC, MTU = "02:00:00:be:0c:01", 1400
VARIANTS = ("native", "pyroute2", "ip", "floor")


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class Lane:
    """One variant's own veth end and netns, so variants never share state."""

    def __init__(self, tag: str) -> None:
        base = f"nb{os.getpid() % 1000}{tag}"
        self.host, self.peer, self.ns = f"{base}h", f"{base}p", f"{base}n"
        self.ns_path = f"/run/netns/{self.ns}"
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.host, "type", "veth", "peer", "name", self.peer)

    def cleanup(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host], capture_output=True)
        subprocess.run(["ip", "link", "del", self.peer], capture_output=True)


class Floor:
    """The C loop as a coprocess: one line in ("in"/"out"), nanoseconds out."""

    def __init__(self, lane: Lane, binary: Path) -> None:
        self.proc = subprocess.Popen([str(binary), lane.host, lane.ns_path, "net1", MAC, str(MTU)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def step(self, what: str) -> float:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("move_floor died (see its stderr)")
        return int(line) / 1e9

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e9


def ip_in(lane: Lane) -> None:
    pod = ("ip", "-n", lane.ns)
    run("ip", "link", "set", "dev", lane.host, "netns", lane.ns, "name", "mdptip0")
    run(*pod, "link", "set", "dev", "mdptip0", "name", "net1")
    run(*pod, "link", "set", "dev", "net1", "address", MAC)
    run(*pod, "link", "set", "dev", "net1", "mtu", str(MTU))
    run(*pod, "link", "set", "dev", "net1", "up")


def ip_out(lane: Lane) -> None:
    pod = ("ip", "-n", lane.ns)
    run(*pod, "link", "set", "dev", "net1", "down")
    run(*pod, "link", "set", "dev", "net1", "netns", str(os.getpid()), "name", "mdptip0")
    run("ip", "link", "set", "dev", "mdptip0", "name", lane.host)


def build_floor(cc: str, workdir: Path) -> Path:
    out = workdir / "move_floor"
    subprocess.run([cc, "-O2", "-std=c11", "-Wall", "-o", str(out), str(HERE / "native" / "move_floor.c")], check=True)
    return out


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """The smallest sample with at least q% of the samples at or below it (no interpolation)."""
    return sorted_values[max(1, math.ceil(q / 100 * len(sorted_values))) - 1]


def summarize(samples: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in samples)
    p10, p90 = nearest_rank(ms, 10), nearest_rank(ms, 90)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3), "p10_ms": round(p10, 3),
            "p90_ms": round(p90, 3), "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3),
            "spread_ms": round(p90 - p10, 3)}


def paired_ratio(ours: list[float], floor: list[float]) -> dict[str, float]:
    """ours/floor per round (the two ran back to back), so load drifts cancel out."""
    ratios = sorted(a / b for a, b in zip(ours, floor))
    return {"median": round(statistics.median(ratios), 3), "p10": round(nearest_rank(ratios, 10), 3),
            "p90": round(nearest_rank(ratios, 90), 3)}


def socket_costs(ns_path: str, rounds: int) -> dict[str, dict[str, float | int]]:
    """Opening a netlink socket inside a netns: the helper's setns trick (native and Python)
    against pyroute2's own IPRoute(netns=..., flags=0), which forks a child per socket."""
    from pyroute2 import IPRoute

    native, pyroute2 = get_link_ops("native"), get_link_ops("pyroute2")

    def forked() -> None:
        IPRoute(netns=ns_path, flags=0).close()

    ways: dict[str, Callable[[], object]] = {
        "native setns": lambda: os.close(native.open_netns_socket(ns_path)),
        "python setns": lambda: os.close(pyroute2.open_netns_socket(ns_path)),
        "IPRoute(netns=) fork": forked,
    }
    samples: dict[str, list[float]] = {k: [] for k in ways}
    names = list(ways)
    for rnd in range(rounds + 2):
        for name in names[rnd % 3:] + names[:rnd % 3]:  # rotate: the fork's aftermath hits each in turn
            t = timed(ways[name])
            if rnd >= 2:
                samples[name].append(t)
    return {k: summarize(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--socket-rounds", type=int, default=30, help="rounds of the netns-socket comparison")
    parser.add_argument("--cc", default=os.environ.get("CC") or shutil.which("cc") or "gcc")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("netops_bench: needs root (netns, veth)", file=sys.stderr)
        return 2

    lanes = {v: Lane(v[:2]) for v in VARIANTS}
    native, pyroute2 = get_link_ops("native"), get_link_ops("pyroute2")
    with tempfile.TemporaryDirectory() as tmp:
        floor = Floor(lanes["floor"], build_floor(args.cc, Path(tmp)))
        moves: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {
            "native": (lambda: timed(lambda: native.move_to_netns(lanes["native"].host, lanes["native"].ns_path,
                                                                  "net1", mac=MAC, mtu=MTU)),
                       lambda: timed(lambda: native.move_from_netns("net1", lanes["native"].ns_path,
                                                                    lanes["native"].host))),
            "pyroute2": (lambda: timed(lambda: pyroute2.move_to_netns(lanes["pyroute2"].host,
                                                                      lanes["pyroute2"].ns_path, "net1",
                                                                      mac=MAC, mtu=MTU)),
                         lambda: timed(lambda: pyroute2.move_from_netns("net1", lanes["pyroute2"].ns_path,
                                                                        lanes["pyroute2"].host))),
            "ip": (lambda: timed(lambda: ip_in(lanes["ip"])), lambda: timed(lambda: ip_out(lanes["ip"]))),
            "floor": (lambda: floor.step("in"), lambda: floor.step("out")),
        }
        into: dict[str, list[float]] = {v: [] for v in VARIANTS}
        back: dict[str, list[float]] = {v: [] for v in VARIANTS}
        try:
            total = args.warmup + args.rounds
            for rnd in range(total):
                order = VARIANTS[rnd % 4:] + VARIANTS[:rnd % 4]  # rotate: no variant always first
                for variant in order:
                    t_in, t_out = moves[variant][0](), moves[variant][1]()
                    if rnd >= args.warmup:
                        into[variant].append(t_in)
                        back[variant].append(t_out)
                if (rnd + 1) % 5 == 0 or rnd + 1 == total:
                    print(f"netops_bench: round {rnd + 1}/{total}", file=sys.stderr, flush=True)
            print("netops_bench: netns sockets", file=sys.stderr, flush=True)
            sockets = socket_costs(lanes["native"].ns_path, args.socket_rounds)
        finally:
            floor.close()
            for lane in lanes.values():
                lane.cleanup()

    result = {
        "what": "move one veth end into a netns under a temporary name, rename, MAC, MTU, up (in); "
                "down, move back under a temporary name, rename (out)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": args.rounds,
        "machine": {"kernel": platform.release(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "interpreter": sys.executable},
        "in": {v: summarize(into[v]) for v in VARIANTS},
        "out": {v: summarize(back[v]) for v in VARIANTS},
        "native_over_floor": {"in": paired_ratio(into["native"], into["floor"]),
                              "out": paired_ratio(back["native"], back["floor"])},
        "pyroute2_over_floor": {"in": paired_ratio(into["pyroute2"], into["floor"]),
                                "out": paired_ratio(back["pyroute2"], back["floor"])},
        "netns_socket": sockets,
        "samples_ms": {"in": {v: [round(s * 1000, 3) for s in into[v]] for v in VARIANTS},
                       "out": {v: [round(s * 1000, 3) for s in back[v]] for v in VARIANTS}},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "netops.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out / "netops.md").write_text(table)
    print(table)
    return 0


def markdown(result: dict) -> str:
    lines = [f"netops move-and-configure, {result['rounds']} interleaved rounds, kernel "
             f"{result['machine']['kernel']}, {result['machine']['cpus']} CPUs ({result['when']})", "",
             "| variant | in: median ms | in: p10–p90 ms | out: median ms | out: p10–p90 ms |",
             "|---|---|---|---|---|"]
    for v in VARIANTS:
        i, o = result["in"][v], result["out"][v]
        lines.append(f"| {v} | {i['median_ms']:.2f} | {i['p10_ms']:.2f}–{i['p90_ms']:.2f} | "
                     f"{o['median_ms']:.2f} | {o['p10_ms']:.2f}–{o['p90_ms']:.2f} |")
    r = result["native_over_floor"]
    p = result["pyroute2_over_floor"]
    lines += ["", f"native / floor (paired, median): in {r['in']['median']:.3f}x, out {r['out']['median']:.3f}x; "
                  f"pyroute2 / floor: in {p['in']['median']:.3f}x, out {p['out']['median']:.3f}x", "",
              "| netlink socket inside a netns | median ms | p10–p90 ms |", "|---|---|---|"]
    for name, stats in result["netns_socket"].items():
        lines.append(f"| {name} | {stats['median_ms']:.3f} | {stats['p10_ms']:.3f}–{stats['p90_ms']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
