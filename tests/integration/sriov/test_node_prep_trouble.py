"""SR-IOV trouble never stops pod networking (issue 16): with node-prep's record saying it
failed, the daemon is ready, a pod with only cluster networks attaches, a pod asking for a VF
gets an error naming the node-prep failure, `multus-dp status` says why — and once node-prep
records success the same pod attaches, without a daemon restart."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemonnic import DaemonNode
from tests.support.daemonproc import require_shim
from tests.support.prereq import require_cni_plugins


@pytest.fixture
def node(netlab, tmp_path: Path):
    cni_dir = require_cni_plugins("bridge", "host-local")
    node = DaemonNode(netlab, tmp_path, cni_dir, require_shim(), vfs=2, nodePrepPollInterval=0.2)
    # a bad node-prep config for this node (a PF it does not have), run as the DaemonSet's
    # node-prep container runs it: it fails and records why
    bad = tmp_path / "worker-1.yaml"
    bad.write_text(f"stateDir: {node.state}\nsysfsRoot: {node.sysfs}\npfs:\n- {{name: ens9f0, numVfs: 2}}\n")
    prep = subprocess.run([sys.executable, "-m", "multus_dp", "node-prep", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert prep.returncode == 1, prep.stdout + prep.stderr
    node.daemon.start()
    yield node
    node.daemon.terminate()


def status(node: DaemonNode) -> dict:
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "status", "--json", "--socket", node.daemon.socket,
                           "--state-dir", str(node.state)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_failed_node_prep_keeps_only_sr_iov_away(node: DaemonNode, netlab) -> None:
    daemon = status(node)["daemon"]
    assert daemon["ready"] is True
    assert daemon["sriov"]["ready"] is False
    assert daemon["sriov"]["reason"].startswith(f"node-prep ({node.root / 'worker-1.yaml'}) failed: ens9f0: "
                                                "find PF: no PF named ens9f0 on this node")
    plain = netlab.add_netns()
    added = node.call("ADD", "plain", f"/var/run/netns/{plain}", node.body([]))
    assert added.returncode == 0, added.stdout
    assert node.call("DEL", "plain", f"/var/run/netns/{plain}", node.body([])).returncode == 0

    vf_pod = netlab.add_netns()
    vf_net = node.body([{"name": "vf-net", "deviceID": node.bdfs[0]}])
    refused = node.call("ADD", "vfpod", f"/var/run/netns/{vf_pod}", vf_net)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)
    assert error["code"] == 108
    assert f"SR-IOV is not ready on this node: node-prep ({node.root / 'worker-1.yaml'}) failed: " \
           "ens9f0: find PF: no PF named ens9f0" in error["msg"]
    assert "pod chaos/vfpod, network chaos/vf-net" in error["msg"]
    assert node.leftovers([vf_pod]) == []    # the refused ADD was rolled back whole

    # the config fixed (nothing to prepare on this node): node-prep records success
    bad = node.root / "worker-1.yaml"
    bad.write_text(f"stateDir: {node.state}\nsysfsRoot: {node.sysfs}\npfs: []\n")
    prep = subprocess.run([sys.executable, "-m", "multus_dp", "node-prep", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert prep.returncode == 0, prep.stdout + prep.stderr
    deadline = time.monotonic() + 10
    while status(node)["daemon"]["sriov"]["ready"] is not True:
        assert time.monotonic() < deadline, "SR-IOV never became ready after node-prep succeeded"
        time.sleep(0.1)
    added = node.call("ADD", "vfpod", f"/var/run/netns/{vf_pod}", vf_net)
    assert added.returncode == 0, added.stdout
    assert node.call("DEL", "vfpod", f"/var/run/netns/{vf_pod}", vf_net).returncode == 0
    assert node.leftovers([plain, vf_pod]) == []
