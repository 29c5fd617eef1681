"""The built-in SR-IOV delegate calls its IPAM plugin with the network's own cniVersion, as
sriov-cni hands its config to IPAM (and libcni/Multus call every delegate); only a config
without cniVersion is negotiated."""
from __future__ import annotations

import json

import pytest

from multus_dp.cni.config import parse_network_config
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf
from multus_dp.sriov.config import parse_sriov_config
from multus_dp.sriov.ipam import Ipam, ipam_version

RT = RuntimeConf("c1", "/run/netns/none", "net1", [("IgnoreUnknown", "1")])


@pytest.mark.parametrize("declared,sent", [("0.3.1", "0.3.1"), ("1.0.0", "1.0.0"), (None, "0.3.1")])
def test_ipam_called_with_the_networks_version(fake_plugins, declared, sent) -> None:
    ipam = fake_plugins.make("fake-ipam", versions=["0.1.0", "0.2.0", "0.3.1"], address="10.56.0.9/24")
    raw = {"name": "vfnet", "type": "sriov", "ipam": {"type": "fake-ipam"},
           **({"cniVersion": declared} if declared else {})}
    net = parse_network_config(raw)
    cfg = parse_sriov_config(net.plugins[0])
    result = Ipam(DelegateInvoker()).add(cfg, RT, [str(fake_plugins.dir)], ipam_version(net))
    assert json.loads(ipam.calls()[-1]["stdin"])["cniVersion"] == sent
    assert result["cniVersion"] == "1.1.0" and result["ips"][0]["address"] == "10.56.0.9/24"
    assert ("VERSION" in [c["command"] for c in ipam.calls()]) == (declared is None)
