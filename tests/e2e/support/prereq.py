"""What the e2e tier needs (scripts/setup-e2e.sh installs it): skip on a laptop, fail in CI."""
from __future__ import annotations

import importlib.util
import os

from tests.support.daemonproc import require_shim
from tests.support.prereq import require, require_binary, require_cni_plugins, require_root

SETUP = "(scripts/setup-e2e.sh installs it)"
# the runtimes' binaries (names on PATH or paths), overridable for a runtime built elsewhere
CONTAINERD = os.environ.get("MULTUS_DP_E2E_CONTAINERD", "containerd")
CTR = os.environ.get("MULTUS_DP_E2E_CTR", "ctr")
PODMAN = os.environ.get("MULTUS_DP_E2E_PODMAN", "podman")


def require_e2e_basics() -> str:
    """Root, the built shim, Debian's plugins, nsenter and ip; returns the plugin dir."""
    require_root()
    require_shim()
    for binary in ("nsenter", "ip", "ping", "busybox"):
        require_binary(binary)
    return require_cni_plugins("bridge", "ptp", "macvlan", "host-local", "loopback")


def require_containerd() -> None:
    for binary in (CONTAINERD, CTR, "containerd-shim-runc-v2", "runc"):
        require_binary(binary)
    require(importlib.util.find_spec("cri_api") is not None,
            f"the CRI client `container-runtime-interface-api` in the venv {SETUP}")


def require_podman() -> None:
    for binary in (PODMAN, "runc", "conmon"):
        require_binary(binary)
