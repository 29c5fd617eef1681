"""deploy/examples/vfw-pod.yaml's vFW command line, unchanged but for its paths, against the
network-status a real DPDK-mode ADD of that pod produces (simulated NIC, VFs on vfio-pci): it
parses the example's rules (the vfw-rules ConfigMap) and resolves `--wan vfw-outside --lan
vfw-inside` to the VFs the ADD gave the pod (--print-eal-args: the host has no such VFs)."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.deploy.test_vfw_dpdk import DPDK_POOL, EXAMPLES, Cluster, example_pod
from tests.support.prereq import require_cni_plugins
from tests.support.vfw import require_vfw, run_vfw
from tests.unit.deploy.eal import STATUS_KEY, downward_file

HELPER = str(Path(sys.executable).parent / "multus-dp-eal")


@pytest.fixture
def cluster(netlab, tmp_path) -> Cluster:
    require_vfw()
    return Cluster(netlab, tmp_path, require_cni_plugins("bridge", "host-local"))


def vfw_command(pod: dict) -> list[str]:
    """The `exec multus-dp-vfw ...` line of the vfw container's script."""
    (container,) = pod["spec"]["containers"]
    script = container["args"][0].replace("\\\n", " ")
    line = next(line for line in script.splitlines() if line.strip().startswith("exec multus-dp-vfw"))
    return shlex.split(line)[1:]


def test_the_example_vfw_command_resolves_the_vfs_of_a_real_add(cluster, netlab, tmp_path) -> None:
    nic = cluster.nic
    outside, inside = nic.vf_bdf(1), nic.vf_bdf(2)
    pod = example_pod("vfw-pod.yaml")
    cluster.assign("uid-vfw", DPDK_POOL, [outside, inside])
    ns = netlab.add_netns()
    cluster.call("ADD", pod, "uid-vfw", ns)
    try:
        podinfo = downward_file(tmp_path / "annotations", {
            **pod["metadata"]["annotations"], STATUS_KEY: json.dumps(nic.status("vfw"), indent=4)})
        rules = tmp_path / "rules"
        rules.write_text(yaml.safe_load((EXAMPLES / "vfw-rules.yaml").read_text())["data"]["rules"])
        moved = {"/etc/podinfo/annotations": str(podinfo), "/etc/vfw/rules": str(rules)}
        command = [moved.get(arg, arg) for arg in vfw_command(pod)]
        assert command[0] == "multus-dp-vfw"
        split = command.index("--")
        proc = run_vfw(*command[1:split], "--eal-helper", HELPER, "--print-eal-args", *command[split:])
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        assert shown["eal"] == ["-a", outside, "-a", inside, "--file-prefix", "vfw", "--huge-dir", "/dev/hugepages"]
        assert (shown["wan"]["network"], shown["wan"]["interface"], shown["wan"]["pci"]) == (
            "default/vfw-outside", "outside", outside)
        assert (shown["lan"]["network"], shown["lan"]["pci"]) == ("default/vfw-inside", inside)
    finally:
        cluster.call("DEL", pod, "uid-vfw", ns)
