"""Choosing the implementation: argument, then env MULTUS_DP_NETOPS, then native when built."""
from __future__ import annotations

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
