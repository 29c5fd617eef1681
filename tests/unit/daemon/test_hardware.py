"""The daemon's hardware side on a fake sysfs tree: ready once discovery finished, VF pool
sizes and allocations in /metrics and /status."""
from __future__ import annotations

import json
from pathlib import Path

from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon
from multus_dp.hardware.allocator import Owner, VfAllocator
from tests.support.fakesysfs import FakeSysfs
from tests.unit.k8s.conftest import eventually

PF = "0000:3b:00.0"


def test_pool_sizes_and_allocations(tmp_path: Path) -> None:
    fs = FakeSysfs(tmp_path / "node")
    fs.add_pf(PF, netdev="ens1f0", total_vfs=8, num_vfs=4)
    pools = tmp_path / "pcidp.json"
    pools.write_text(json.dumps({"resourceList": [{"resourceName": "fast", "selectors": {"pfNames": ["ens1f0#0-2"]}},
                                                  {"resourceName": "rest", "selectors": {"pfNames": ["ens1f0#3"]}}]}))
    state = tmp_path / "state"
    config = DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(state), metricsAddress="",
                          sysfsRoot=str(fs.root), sriovPoolsConfig=str(pools), udev=False)
    daemon = Daemon(config)
    daemon.start()
    try:
        client = DaemonClient(config.socketPath)
        eventually(lambda: client.ready()[0], what="hardware discovery")
        assert client.status()["vfPools"] == [{"pool": "intel.com/fast", "size": 3, "allocated": 0},
                                              {"pool": "intel.com/rest", "size": 1, "allocated": 0}]
        VfAllocator(str(state)).allocate(Owner("c1", "/proc/self/ns/net", "net1", "ns/p"), bdf=fs.vf_bdf(PF, 1),
                                         pool="intel.com/fast")
        metrics = client.metrics()
        assert 'multus_dp_vf_pool_size{pool="intel.com/fast"} 3.0' in metrics
        assert 'multus_dp_vf_pool_allocated{pool="intel.com/fast"} 1.0' in metrics
        assert 'multus_dp_vf_pool_allocated{pool="intel.com/rest"} 0.0' in metrics
    finally:
        daemon.stop()


def test_failed_discovery_keeps_the_daemon_unready_with_the_reason(tmp_path: Path) -> None:
    config = DaemonConfig(socketPath=str(tmp_path / "d.sock"), stateDir=str(tmp_path / "state"), metricsAddress="",
                          sysfsRoot=str(tmp_path / "no-sysfs"), udev=False)
    daemon = Daemon(config)
    daemon.start()
    try:
        client = DaemonClient(config.socketPath)
        reason = eventually(lambda: (lambda r: r[1] if "discover" in r[1] else None)(client.ready()),
                            what="a discovery verdict")
        assert not client.ready()[0] and str(tmp_path / "no-sysfs") in reason
        assert client.healthy()
    finally:
        daemon.stop()
