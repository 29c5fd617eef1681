"""Build glue for the native parts (kept out of pyproject.toml because cffi and a
custom build step need code).

- native/netops_build.py (if present) is a cffi out-of-line API-mode builder;
  setuptools compiles it into multus_dp._netops_cffi.
- native/shim.c (if present) is compiled into multus_dp/bin/multus-dp-shim, a
  plain C executable shipped inside the package.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

ROOT = Path(__file__).resolve().parent
SHIM_SRC = ROOT / "native" / "shim.c"


def _compile_shim(out_dir: Path) -> None:
    if not SHIM_SRC.exists():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
    target = out_dir / "multus-dp-shim"
    command = [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE",
               f'-DDEFAULT_SOCKET="{_default("SOCKET_PATH")}"',
               f'-DDEFAULT_SOCKET_UID={int(_default("SOCKET_UID"))}',
               f'-DDEFAULT_TIMEOUT_S={float(_default("DAEMON_TIMEOUT"))!r}',
               f'-DDEFAULT_START_TIMEOUT_S={float(_default("DAEMON_START_TIMEOUT"))!r}',
               # the shim answers VERSION itself in on-demand mode: the same list as Python's
               f"-DSUPPORTED_VERSIONS={_c_strings(_versions())}",
               "-o", str(target), str(SHIM_SRC)]
    # static: no dynamic loader on every CNI call (~0.1 ms of each), and the copy `multus-dp
    # install` puts on the host runs whatever the host's libc is; dynamic when there is no libc.a
    if subprocess.call([*command, "-static"], stderr=subprocess.DEVNULL) != 0:
        subprocess.check_call(command)


def _default(name: str) -> str:
    """A value of multus_dp/base/defaults.py, read without importing the package (the one source
    of the defaults the C shim shares)."""
    return str(_constant(ROOT / "multus_dp" / "base" / "defaults.py", name))


def _versions() -> tuple[str, ...]:
    """multus_dp/cni/versions.py SUPPORTED_VERSIONS, read the same way."""
    return tuple(_constant(ROOT / "multus_dp" / "cni" / "versions.py", "SUPPORTED_VERSIONS"))


def _constant(path: Path, name: str) -> object:
    import ast

    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(getattr(t, "id", None) == name for t in targets) and getattr(node, "value", None) is not None:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def _c_strings(values: tuple[str, ...]) -> str:
    """('1.0.0', '1.1.0') -> '"1.0.0","1.1.0"' (an initializer list body for a C string array)."""
    return ",".join(f'"{v}"' for v in values)


class BuildPyWithShim(build_py):
    def run(self) -> None:
        super().run()
        _compile_shim(Path(self.build_lib) / "multus_dp" / "bin")
        # editable installs read from the source tree
        _compile_shim(ROOT / "multus_dp" / "bin")


class DevelopWithShim(develop):
    def run(self) -> None:
        super().run()
        _compile_shim(ROOT / "multus_dp" / "bin")


cffi_modules = []
if (ROOT / "native" / "netops_build.py").exists():
    cffi_modules.append("native/netops_build.py:ffibuilder")

setup(
    cffi_modules=cffi_modules,
    cmdclass={"build_py": BuildPyWithShim, "develop": DevelopWithShim},
    package_data={"multus_dp": ["bin/*"]},
)
