"""What a result was measured on: machine, versions, date (stamped into every output)."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def _out(argv: list[str], cwd: str | None = None) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cni_plugins_version(cni_dir: str) -> str:
    dpkg = _out(["dpkg-query", "-W", "-f=${Version}", "containernetworking-plugins"])
    if dpkg:
        return f"containernetworking-plugins {dpkg} (Debian)"
    return _out([os.path.join(cni_dir, "bridge"), "--version"]).splitlines()[0] if cni_dir else "unknown"


def stamp(cni_dir: str, reference: str | None) -> dict[str, Any]:
    import multus_dp

    repo = str(Path(__file__).resolve().parent.parent)
    commit = _out(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    dirty = bool(_out(["git", "status", "--porcelain", "--", "multus_dp", "native", "benchmarks"], cwd=repo))
    load = os.getloadavg()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"hostname": platform.node(), "cpu": _cpu_model(), "cores": os.cpu_count(),
                    "kernel": platform.release(), "os": _out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
                    "loadavg_at_start": [round(x, 2) for x in load]},
        "versions": {"multus-dp": multus_dp.__version__, "git": commit + ("+dirty" if dirty else ""),
                     "python": platform.python_version(), "cni_plugins": _cni_plugins_version(cni_dir),
                     "pyroute2": _package_version("pyroute2"), "kubernetes": _package_version("kubernetes"),
                     "kmock": _package_version("kmock"), "matplotlib": _package_version("matplotlib")},
        "reference": reference,
    }


def one_line(s: dict[str, Any]) -> str:
    m, v = s["machine"], s["versions"]
    return (f"{s['date']} · {m['hostname']} · {m['cpu']} × {m['cores']} cores · Linux {m['kernel']} · "
            f"multus-dp {v['multus-dp']} ({v['git']}) · Python {v['python']} · {v['cni_plugins']}")


def run_fields() -> dict[str, Any]:
    """Where and when a micro-benchmark ran, as the flat fields of its result file."""
    import sys
    import time

    return {"python": sys.executable, "python_version": platform.python_version(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_result(out_dir: str, name: str, record: dict[str, Any]) -> None:
    """`<out_dir>/<name>.json`, indented, the directory made when missing."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
