"""Which implementation runs: `impl` argument, else env MULTUS_DP_NETOPS, else native when
it is built, else pyroute2 (logged: a missing native module is a build problem)."""
from __future__ import annotations

import os

from multus_dp import logs

from .errors import invalid
from .types import LinkOps, VfOps

ENV = "MULTUS_DP_NETOPS"
IMPLS = ("native", "pyroute2")
_log = logs.get("netops")
_warned = False


def native_available() -> bool:
    try:
        import multus_dp._netops_cffi  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(impl: str | None = None) -> str:
    global _warned
    choice = (impl or os.environ.get(ENV) or "").strip().lower()
    if choice and choice not in IMPLS:
        raise invalid(f"netops: unknown implementation {choice!r} (from {'argument' if impl else ENV}); "
                      f"choose one of {', '.join(IMPLS)}")
    if choice == "pyroute2":
        return choice
    if native_available():
        return "native"
    if choice == "native":
        raise invalid("netops: the native helper (multus_dp._netops_cffi) is not built; "
                      "reinstall the package with a C compiler (pip install -e .)")
    if not _warned:
        _log.warning("native netops helper not built (multus_dp._netops_cffi missing); using pyroute2")
        _warned = True
    return "pyroute2"


def get_link_ops(impl: str | None = None) -> LinkOps:
    if resolve(impl) == "native":
        from .native import NativeLinkOps
        return NativeLinkOps()
    from .pyroute2_ops import Pyroute2LinkOps
    return Pyroute2LinkOps()


def get_vf_ops(impl: str | None = None) -> VfOps:
    if resolve(impl) == "native":
        from .native import NativeVfOps
        return NativeVfOps()
    from .pyroute2_ops import Pyroute2VfOps
    return Pyroute2VfOps()
