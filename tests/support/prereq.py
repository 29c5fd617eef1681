"""Prerequisites: skip on a laptop, fail in CI (CI=true) — a tier is never silently skipped."""
from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(ok: bool, what: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {what}", pytrace=False)
    pytest.skip(f"prerequisite missing: {what}")


def require_root() -> None:
    require(os.geteuid() == 0, "root (integration tests create network namespaces)")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"binary {name!r} on PATH")
    return path or ""


CNI_PLUGIN_DIR = os.environ.get("MULTUS_DP_TEST_CNI_DIR", "/usr/lib/cni")


def require_cni_plugins(*names: str) -> str:
    for name in names:
        require(os.access(os.path.join(CNI_PLUGIN_DIR, name), os.X_OK),
                f"CNI plugin {name} in {CNI_PLUGIN_DIR} (apt-get install containernetworking-plugins)")
    return CNI_PLUGIN_DIR
