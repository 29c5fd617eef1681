"""cffi out-of-line API-mode builder for the native netops helper.

setup.py lists this file in `cffi_modules`, so `pip install` compiles native/netops.c
into the extension `multus_dp._netops_cffi`. netops.h is both the C header and the cdef.
"""
from __future__ import annotations

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


ffibuilder = FFI()
ffibuilder.cdef((HERE / "netops.h").read_text())
ffibuilder.set_source(
    "multus_dp._netops_cffi",
    '#include "netops.h"\n',
    # relative to the project root: setuptools refuses absolute source paths
    sources=["native/netops.c"],
    include_dirs=["native"],
    define_macros=[("_GNU_SOURCE", "1")],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    import os

    os.chdir(HERE.parent)  # the source paths above are relative to the project root
    ffibuilder.compile(tmpdir="build", verbose=True)
