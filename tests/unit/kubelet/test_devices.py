"""The device plugin's pure answers: env names, preferred allocation edge cases."""
from __future__ import annotations

import pytest

from multus_dp.kubelet.devices import PoolDevice, env_name, preferred, socket_name

pytestmark = pytest.mark.unit


def test_env_name_upper_cases_and_replaces_every_non_alphanumeric() -> None:
    assert env_name("intel.com/intel_sriov_netdevice") == "PCIDEVICE_INTEL_COM_INTEL_SRIOV_NETDEVICE"
    assert env_name("example-vendor.io/sriov-net.1") == "PCIDEVICE_EXAMPLE_VENDOR_IO_SRIOV_NET_1"
    assert socket_name("sriov_dpdk") == "multus-dp-sriov_dpdk.sock"


def dev(bdf: str, numa: int, pf: str) -> PoolDevice:
    return PoolDevice(bdf, numa, pf, None, "iavf")


DEVICES = {d.bdf: d for d in (dev("a0", 0, "A"), dev("a1", 0, "A"), dev("b0", 1, "B"), dev("b1", 1, "B"))}


def test_preferred_never_exceeds_what_is_available_or_asked() -> None:
    assert preferred(["a0", "b0"], [], 5, DEVICES) == ["a0", "b0"]
    assert preferred(["a0", "a1", "b0"], [], 0, DEVICES) == []
    assert preferred(["a0"], ["zz"], 1, DEVICES) == ["a0"], "a must_include the kubelet did not offer is ignored"
    assert preferred(["a0", "a1", "b0", "b1"], ["b1", "b1"], 2, DEVICES) == ["b1", "b0"]


def test_unknown_ids_sort_after_the_anchor_node() -> None:
    assert preferred(["x9", "a0", "a1"], [], 3, DEVICES) == ["a0", "a1", "x9"]
