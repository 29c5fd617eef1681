from __future__ import annotations

import json
import subprocess
import sys

from tests.support.world import World, nad


def test_status_command_prints_network_status(tmp_path, fake_plugins) -> None:
    fake_plugins.make("cluster", address="10.60.0.2/24")
    fake_plugins.make("pa", address="10.61.0.2/24")
    world = World(tmp_path, fake_plugins.dir)
    world.add(nad("cluster-net", {"cniVersion": "1.0.0", "type": "cluster"}, namespace="kube-system"),
              nad("net-a", {"cniVersion": "1.0.0", "type": "pa"}, namespace="ns1"))
    conf = world.conf(clusterNetwork="cluster-net")
    assert world.call("ADD", conf, {"k8s.v1.cni.cncf.io/networks": "net-a@data0"}).exit_code == 0

    def status(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "multus_dp", "status", *args, "--state-dir", str(world.state)],
                              capture_output=True, text=True)

    table = status("ns1/pod1")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[1].split() == ["NETWORK", "INTERFACE", "IPS", "MAC", "DEFAULT", "DEVICE"]
    assert lines[2].split()[:3] == ["kube-system/cluster-net", "eth0", "10.60.0.2"]
    assert lines[3].split()[:3] == ["ns1/net-a", "data0", "10.61.0.2"]
    as_json = json.loads(status("ns1/pod1", "--json").stdout)
    assert [e["interface"] for e in as_json] == ["eth0", "data0"] and as_json[0]["default"] is True
    listing = status()
    assert "ns1/pod1" in listing.stdout and "added" in listing.stdout
    missing = status("ns1/nobody")
    assert missing.returncode == 1 and "no network-status recorded for pod ns1/nobody" in missing.stdout
