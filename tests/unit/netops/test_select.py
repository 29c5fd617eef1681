"""Choosing the implementation: argument, then env MULTUS_DP_NETOPS, then native when built."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.netops import NetOpsError, get_link_ops, get_vf_ops, native_available
from tests.support.prereq import require


def test_env_chooses_pyroute2(monkeypatch) -> None:
    monkeypatch.setenv("MULTUS_DP_NETOPS", "pyroute2")
    assert get_link_ops().name == "pyroute2" and get_vf_ops().name == "pyroute2"


def test_native_is_the_default_when_built(monkeypatch) -> None:
    require(native_available(), "native netops helper built (pip install -e .)")
    monkeypatch.delenv("MULTUS_DP_NETOPS", raising=False)
    assert get_link_ops().name == "native" and get_vf_ops().name == "native"


def test_argument_beats_env(monkeypatch) -> None:
    monkeypatch.setenv("MULTUS_DP_NETOPS", "native")
    assert get_link_ops("pyroute2").name == "pyroute2"


def test_unknown_implementation_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("MULTUS_DP_NETOPS", "iproute3")
    with pytest.raises(NetOpsError) as info:
        get_link_ops()
    assert isinstance(info.value, CNIError) and info.value.code == 110
    assert "'iproute3'" in info.value.msg and "MULTUS_DP_NETOPS" in info.value.msg


def _without_native(code: str) -> subprocess.CompletedProcess:
    # a fresh interpreter where the extension cannot be imported, as on a broken build
    prelude = "import sys; sys.modules['multus_dp._netops_cffi'] = None\n"
    env = {k: v for k, v in os.environ.items() if k != "MULTUS_DP_NETOPS"}
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, env=env)


def test_without_the_native_module_it_falls_back_to_pyroute2_and_says_so() -> None:
    proc = _without_native("from multus_dp.netops import get_link_ops; print(get_link_ops().name)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "pyroute2"
    assert "native netops helper not built" in proc.stderr


def test_asking_for_native_without_the_module_is_a_clear_error() -> None:
    proc = _without_native("from multus_dp.netops import get_link_ops\n"
                           "try:\n    get_link_ops('native')\nexcept Exception as e:\n    print(e.code, e.msg)")
    assert proc.stdout.startswith("110 netops: the native helper (multus_dp._netops_cffi) is not built")
