"""The daemon process registers its pools with the kubelet, shows them in `multus-dp status`
(health, and who holds which VF from PodResources), and removes its sockets on SIGTERM;
`devicePlugin: false` registers nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemonproc import DaemonProcess
from tests.support.fakesysfs import FakeSysfs
from tests.support.kubelet_standin import KubeletStandin, healthy, short_dir

pytestmark = pytest.mark.unit

PF = "0000:3b:00.0"
RES = "intel.com/sriov_net"


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = short_dir()   # the daemon's socket path must fit in 107 bytes too
    yield path
    shutil.rmtree(path, ignore_errors=True)


def daemon(tmp_path: Path, run: Path, kubelet: KubeletStandin, **keys: object) -> DaemonProcess:
    fs = FakeSysfs(tmp_path / "fs")
    fs.add_pf(PF, netdev="ens1f0", total_vfs=4, num_vfs=3, numa_node=0)
    fs.set_up("ens1f0")
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps({"resourceList": [{"resourceName": "sriov_net", "selectors": {"pfNames": ["ens1f0"]}}]}))
    return DaemonProcess(tmp_path / "daemon", socketPath=str(run / "daemon.sock"), sysfsRoot=str(fs.root),
                         sriovPoolsConfig=str(pools), udev=False,
                         kubeletDevicePluginsDir=str(kubelet.plugins_dir),
                         podResourcesSocket=str(kubelet.pod_resources_socket), devicePluginResyncInterval=0.2,
                         **keys)


def status(d: DaemonProcess) -> dict:
    out = subprocess.run([sys.executable, "-m", "multus_dp", "status", "--socket", d.socket, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["daemon"]["kubelet"]


def test_daemon_registers_reports_holders_and_cleans_up_on_sigterm(tmp_path: Path, run_dir: Path,
                                                                   kubelet: KubeletStandin) -> None:
    d = daemon(tmp_path, run_dir, kubelet).start()
    try:
        reg = kubelet.wait_registered(RES, timeout=30)
        vfs = kubelet.plugin(RES).watch().wait_for(lambda devs: len(healthy(devs)) == 3, timeout=10)
        held = sorted(vfs)[1]
        kubelet.assign("ns1", "vfw", RES, [held])
        state = status(d)
        assert state["enabled"] and state["assignmentsSource"] == "podresources"
        [pool] = state["pools"]
        assert (pool["resource"], pool["registered"], pool["advertised"], pool["healthy"]) == (RES, True, 3, 3)
        assert {v["id"]: v["holder"] for v in pool["devices"]} == {i: ("ns1/vfw" if i == held else None) for i in vfs}
        text = subprocess.run([sys.executable, "-m", "multus_dp", "status", "--socket", d.socket],
                              capture_output=True, text=True, timeout=60).stdout
        assert "HELD BY" in text and "ns1/vfw" in text and "read from: podresources" in text
        assert (kubelet.plugins_dir / reg.endpoint).is_socket()
        assert d.terminate() == 0
    finally:
        d.kill()
    assert not (kubelet.plugins_dir / reg.endpoint).exists(), "SIGTERM removes the plugin's socket"
    assert (kubelet.plugins_dir / "kubelet.sock").exists(), "the kubelet's own socket is left alone"


def test_device_plugin_false_registers_nothing(tmp_path: Path, run_dir: Path, kubelet: KubeletStandin) -> None:
    d = daemon(tmp_path, run_dir, kubelet, devicePlugin=False).start()
    try:
        state = status(d)
        assert state["enabled"] is False and "pools" not in state
        assert [p.name for p in kubelet.plugins_dir.iterdir()] == ["kubelet.sock"]
        assert kubelet.registrations == []
    finally:
        d.terminate()
