"""`multus-dp discover` shows, per pool, what the device plugin advertises (resource name,
healthy/unhealthy) and who holds which VF (the kubelet's PodResources, a stand-in here)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus_dp.cli import main
from tests.support.fakesysfs import FakeSysfs
from tests.support.kubelet_standin import KubeletStandin

pytestmark = pytest.mark.unit
PF = "0000:3b:00.0"


def test_discover_shows_advertised_health_and_holders(tmp_path: Path, kubelet: KubeletStandin, capsys) -> None:
    fs = FakeSysfs(tmp_path / "fs")
    fs.add_pf(PF, netdev="ens1f0", total_vfs=4, num_vfs=2, numa_node=1)
    fs.add_pf("0000:af:00.0", netdev="ens2f0", total_vfs=4, num_vfs=1)   # left down: its VF is Unhealthy
    fs.set_up("ens1f0")
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps({"resourceList": [{"resourceName": "sriov_net"}]}))
    vf0, vf1 = fs.vf_bdf(PF, 0), fs.vf_bdf(PF, 1)
    kubelet.assign("ns1", "vfw", "intel.com/sriov_net", [vf1])
    argv = ["discover", "--sysfs-root", str(fs.root), "--pools", str(pools), "--state-dir", str(tmp_path / "state"),
            "--pod-resources-socket", str(kubelet.pod_resources_socket)]

    assert main([*argv, "--json"]) == 0
    [pool] = json.loads(capsys.readouterr().out)["devicePlugin"]["pools"]
    assert (pool["resource"], pool["advertised"], pool["healthy"], pool["unhealthy"]) == ("intel.com/sriov_net", 3, 2, 1)
    by_id = {d["id"]: d for d in pool["devices"]}
    assert (by_id[vf1]["holder"], by_id[vf1]["numaNode"], by_id[vf0]["holder"]) == ("ns1/vfw", 1, None)
    assert by_id[fs.vf_bdf("0000:af:00.0", 0)]["problem"] == "PF 0000:af:00.0 link down"

    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "DEVICE PLUGIN" in text and "ns1/vfw" in text and "Unhealthy" in text
    assert f"holders from: {kubelet.pod_resources_socket}" in text
