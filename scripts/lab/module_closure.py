#!/usr/bin/python3
"""Print the module files (relative to lib/modules/KVER) that the wanted modules need,
dependencies first, from modules.dep. Names may use - or _; built-in modules are skipped.
Usage: module_closure.py MODDIR NAME...
"""
from __future__ import annotations

import os
import sys


def module_name(path: str) -> str:
    return os.path.basename(path).split(".ko")[0].replace("-", "_")


def closure(moddir: str, wanted: list[str]) -> list[str]:
    deps: dict[str, list[str]] = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            key, _, rest = line.partition(":")
            deps[key] = rest.split()
    by_name = {module_name(k): k for k in deps}
    with open(os.path.join(moddir, "modules.builtin")) as f:
        builtin = {module_name(line.strip()) for line in f}
    ordered: list[str] = []

    def add(path: str) -> None:
        for dep in deps[path]:
            add(dep)
        if path not in ordered:
            ordered.append(path)

    for name in (w.replace("-", "_") for w in wanted):
        if name in by_name:
            add(by_name[name])
        elif name not in builtin:
            raise SystemExit(f"module_closure: module {name} not found in {moddir}")
    return ordered


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    print("\n".join(closure(sys.argv[1], sys.argv[2:])))
