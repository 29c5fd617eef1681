"""The shim's own cost: start + round trip to the daemon on a no-op (VERSION), against
exec'ing /bin/true (the floor of any exec) and thin mode (`python -m multus_dp cni`).

    .venv/bin/python -m benchmarks.shim_bench [--runs 300] [--thin-runs 30] [--out benchmarks/results/shim.json]

Runs are interleaved (true, shim, thin, true, shim, ...) so machine noise hits all alike;
each is a posix_spawn + waitpid with the config on a pipe, stdout to /dev/null. The daemon
is a real `multus-dp daemon` subprocess on a temp socket; its own handling time comes from
its /metrics (request duration sum/count for VERSION).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.stats import pairwise_difference_ms, summary
from multus_dp.daemon.install import built_shim
from multus_dp.daemon.protocol import DaemonClient

TARGET_MS = 2.0
VERSION_CONF = json.dumps({"cniVersion": "1.0.0"}).encode()


def spawn_once(argv: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, int]:
    """Seconds from spawn to exit, and the exit status."""
    read_end, write_end = os.pipe()
    os.write(write_end, stdin)  # fits in the pipe buffer; the child reads it and sees EOF
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(read_end)
    os.close(devnull)
    return elapsed, os.waitstatus_to_exitcode(status)


def start_daemon(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    socket = str(root / "run" / "daemon.sock")
    config = root / "daemon.json"
    config.write_text(json.dumps({"socketPath": socket, "stateDir": str(root / "state"), "metricsAddress": "",
                                  "logLevel": "warning", "logFile": str(root / "daemon.log")}))
    proc = subprocess.Popen([sys.executable, "-m", "multus_dp", "daemon", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = DaemonClient(socket, timeout=2.0)
    for _ in range(400):
        try:
            if client.healthy():
                return proc, socket
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"daemon did not come up; see {root / 'daemon.log'}")


def daemon_version_seconds(client: DaemonClient) -> tuple[float, int]:
    total = count = 0.0
    for line in client.metrics().splitlines():
        if line.startswith('multus_dp_cni_request_duration_seconds_sum{command="VERSION"}'):
            total = float(line.split()[-1])
        elif line.startswith('multus_dp_cni_request_duration_seconds_count{command="VERSION"}'):
            count = float(line.split()[-1])
    return total, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs of /bin/true and the shim")
    parser.add_argument("--thin-runs", type=int, default=30, help="runs of thin mode (Python start each time)")
    parser.add_argument("--out", default="benchmarks/results/shim.json")
    args = parser.parse_args(argv)

    shim = str(built_shim())
    root = Path(tempfile.mkdtemp(prefix="shim-bench-"))
    daemon, socket = start_daemon(root)
    try:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "VERSION", "MULTUS_DP_SOCKET": socket}
        thin = [sys.executable, "-m", "multus_dp", "cni"]
        # correctness once, outside the timing
        check = subprocess.run([shim], input=VERSION_CONF, env=env, capture_output=True)
        assert check.returncode == 0 and b"supportedVersions" in check.stdout, check.stdout
        for _ in range(20):  # warm-up: page cache, the daemon's first-request paths
            spawn_once([shim], env, VERSION_CONF)
            spawn_once(["/bin/true"], env, VERSION_CONF)
        client = DaemonClient(socket)
        before = daemon_version_seconds(client)
        samples: dict[str, list[float]] = {"true": [], "shim": [], "thin": []}
        for i in range(args.runs):
            for name, cmd in (("true", ["/bin/true"]), ("shim", [shim])):
                seconds, code = spawn_once(cmd, env, VERSION_CONF)
                assert code == 0, f"{name} exited {code}"
                samples[name].append(seconds)
            if i < args.thin_runs:
                seconds, code = spawn_once(thin, env, VERSION_CONF)
                assert code == 0, f"thin exited {code}"
                samples["thin"].append(seconds)
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{args.runs} runs", file=sys.stderr, flush=True)
        after = daemon_version_seconds(client)
    finally:
        daemon.terminate()
        daemon.wait(30)
        shutil.rmtree(root, ignore_errors=True)

    daemon_ms = (after[0] - before[0]) / max(1, after[1] - before[1]) * 1000
    shim_over_true = pairwise_difference_ms(samples["shim"], samples["true"][:len(samples["shim"])])
    doc = {
        "benchmark": "shim", "unit": "ms", "target_ms": TARGET_MS,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "what": "VERSION through each path; spawn to exit, config on a pipe, stdout to /dev/null",
        "results": {
            "bin_true_exec": summary(samples["true"]),
            "shim_version_round_trip": summary(samples["shim"]),
            "shim_minus_bin_true": shim_over_true,
            "daemon_handling_version_mean": round(daemon_ms, 3),
            "thin_python_cni_version": summary(samples["thin"]),
        },
        "verdict": {"shim_own_cost_median_ms": shim_over_true["median"],
                    "meets_target": shim_over_true["median"] < TARGET_MS},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    r = doc["results"]
    print(f"{'path':<34} {'median ms':>10} {'p95 ms':>9}")
    for label, key in (("/bin/true exec", "bin_true_exec"), ("shim -> daemon VERSION", "shim_version_round_trip"),
                       ("shim minus /bin/true (own cost)", "shim_minus_bin_true"),
                       ("thin: python -m multus_dp cni", "thin_python_cni_version")):
        print(f"{label:<34} {r[key]['median']:>10.3f} {r[key]['p95']:>9.3f}")
    print(f"daemon's own VERSION handling (mean): {daemon_ms:.3f} ms; target for the shim: < {TARGET_MS} ms "
          f"-> {'met' if doc['verdict']['meets_target'] else 'NOT met'}; written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
