"""deploy/Containerfile checked offline: its build stage is replayed in a temp dir (the same
COPY sources, the same clean-and-build RUN, pip offline with this venv's setuptools and cffi)
and the wheel it produces holds what the image promises: the compiled shim, the netops
extension, multus-dp-eal and both console commands. Base images cannot be pulled here."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from .manifests import DEPLOY, REPO

CONTAINERFILE = DEPLOY / "Containerfile"
INSTRUCTIONS = {"FROM", "ARG", "RUN", "COPY", "WORKDIR", "LABEL", "CMD", "ENTRYPOINT", "ENV", "USER"}


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word, rest.strip()))
    return out


def build_stage() -> list[tuple[str, str]]:
    steps = instructions()
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    return steps[starts[0]:starts[1]]


def test_instructions_are_known_and_base_images_pinned() -> None:
    steps = instructions()
    assert {word for word, _ in steps} <= INSTRUCTIONS
    default_image = next(rest for word, rest in steps if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=[\w./-]+:3\.11-slim-bookworm", default_image)  # the Python we test on
    froms = [rest for word, rest in steps if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    runtime_apt = next(rest for word, rest in steps[steps.index(("FROM", "${PYTHON_IMAGE}")):]
                       if word == "RUN" and "apt-get install" in rest)
    # the DaemonSet's probes run curl, node-prep's init step runs modprobe (kmod)
    assert {"curl", "kmod", "libudev1"} <= set(runtime_apt.split())


def test_build_stage_produces_a_wheel_with_the_native_parts(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    run_steps = []
    for word, rest in build_stage():
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                origin = REPO / source.rstrip("/")
                assert origin.exists(), f"COPY {source}: not in the repository"
                target = src / dest if dest not in ("./", ".") else src / origin.name
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(origin, src / origin.name)
        elif word == "RUN" and "pip wheel" in rest:
            run_steps.append(rest)
    (build_run,) = run_steps
    # a stale binary from a developer's checkout must not end up in the image
    (src / "multus_dp" / "bin").mkdir(exist_ok=True)
    (src / "multus_dp" / "bin" / "multus-dp-shim").write_text("stale")
    wheels = tmp_path / "wheels"
    # offline: this venv's pip, setuptools and cffi instead of an isolated build env from PyPI
    script = build_run.replace("pip wheel --no-cache-dir", f"{sys.executable} -m pip wheel --no-build-isolation -q")
    script = script.replace("/wheels", str(wheels))
    proc = subprocess.run(["sh", "-ec", script], cwd=src, capture_output=True, text=True,
                          env={**os.environ, "PIP_NO_INDEX": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    (wheel,) = wheels.glob("multus_dp-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        shim = zf.getinfo("multus_dp/bin/multus-dp-shim")
        shim_bytes = zf.read(shim)
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert (shim.external_attr >> 16) & stat.S_IXUSR, "the shim must stay executable"
    assert any(re.fullmatch(r"multus_dp/_netops_cffi\..*\.so", n) for n in names), "netops extension missing"
    assert "dpdk/multus_dp_eal.py" in names
    assert "multus-dp = multus_dp.cli:main" in entry_points and "multus-dp-eal = dpdk.multus_dp_eal:main" in entry_points
    assert shim_bytes.startswith(b"\x7fELF"), "the shim in the wheel was not built by this build"
    assert not any(n.startswith("tests/") or n.startswith("benchmarks/") for n in names)
