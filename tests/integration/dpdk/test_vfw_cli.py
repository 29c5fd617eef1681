"""multus-dp-vfw's command line and its errors: --help, rule files (exit 2 naming file:line),
usage mistakes, ports resolved from a network-status / device-info as multus-dp writes them
(--print-eal-args shows the EAL arguments), a missing or wrong device source (exit 1 naming the
file or network), a device EAL did not probe, an EAL that does not start."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from multus_dp.networks.attachment import Attachment
from multus_dp.networks.status import status_entry
from tests.support.prereq import require_root
from tests.support.vfw import DPDK_RUN_DIR, LAN_ADDRESS, REPO, WAN_ADDRESS, require_vfw, run_vfw
from tests.unit.deploy.eal import STATUS_KEY, downward_file

HELPER = str(Path(sys.executable).parent / "multus-dp-eal")
ADDRESSES = ["--wan-address", WAN_ADDRESS, "--lan-address", LAN_ADDRESS]
BY_ID = ["--wan-port", "0", "--lan-port", "1", *ADDRESSES]
WAN_VF, LAN_VF, PF = "0000:3b:02.5", "0000:3b:02.4", "0000:3b:00.0"


@pytest.fixture(autouse=True)
def vfw_binary() -> Path:
    return require_vfw()


def network_status() -> list[dict]:
    """Entries as multus-dp publishes them for DPDK-mode SR-IOV attachments: the delegate's
    result (interface with pciID, no netdev in the pod) plus the device-info it wrote."""
    entries = [status_entry(Attachment("cluster", "eth0", {}, is_default=True),
                            {"interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
                             "ips": [{"address": "10.244.1.5/24", "interface": 0}]})]
    for name, ifname, vf in (("wan", "net1", WAN_VF), ("lan", "net2", LAN_VF)):
        result = {"interfaces": [{"name": ifname, "sandbox": "/run/netns/x", "pciID": vf}]}
        info = {"type": "pci", "version": "1.1.0", "pci": {"pci-address": vf, "pf-pci-address": PF}}
        entries.append(status_entry(Attachment(f"vfw/{name}", ifname, {}), result, info))
    return entries


@pytest.fixture
def annotations(tmp_path) -> Path:
    return downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps(network_status(), indent=4)})


def test_help() -> None:
    proc = run_vfw("--help")
    assert proc.returncode == 0
    for flag in ("--wan NET", "--lan NET", "--wan-port N", "--rules FILE", "--default-action allow|deny",
                 "--annotations FILE", "--network-status FILE", "--device-info PATH", "--eal-helper PATH",
                 "--stats-file PATH", "--idle-sleep-us N", "--ready-file PATH", "--print-eal-args"):
        assert flag in proc.stdout, flag


@pytest.mark.parametrize("text,line,what", [
    ("allow icmp from 10.0.0.0/33 to any\n", 1, "10.0.0.0/33 is not an address"),
    ("# policy\n\nallow tcp from any to 10.1.2.3/24 port 80\n", 3, "host bits set (the network is 10.1.2.0/24"),
    ("allow icmp from any to any port 80\n", 1, "port needs tcp or udp, not icmp"),
    ("permit tcp from any to any\n", 1, "unknown action permit"),
    ("allow tcp from any to any port 90-80\n", 1, "bad port 90-80"),
    ("allow tcp from any to any port 0\n", 1, "bad port 0"),
    ("allow sctp from any to any\n", 1, "unknown protocol sctp"),
    ("allow tcp from any to any\ndefault deny\ndefault allow\n", 3, "a second default line"),
    ("allow tcp from any\n", 1, "incomplete rule"),
    ("allow udp from any to any port 53 now\n", 1, "unexpected now"),
    ("allow udp to any from any\n", 1, "expected from"),
])
def test_a_bad_rule_file_exits_2_naming_file_and_line(tmp_path, text, line, what) -> None:
    rules = tmp_path / "vfw.rules"
    rules.write_text(text)
    proc = run_vfw(*BY_ID, "--rules", str(rules), "--", "--no-huge")
    assert proc.returncode == 2
    assert f"{rules}:{line}: " in proc.stderr and what in proc.stderr, proc.stderr
    assert "EAL" not in proc.stderr, "rules are checked before EAL starts"


def test_a_missing_rule_file_exits_2_naming_it(tmp_path) -> None:
    proc = run_vfw(*BY_ID, "--rules", str(tmp_path / "none"))
    assert proc.returncode == 2 and f"{tmp_path / 'none'}: No such file" in proc.stderr


@pytest.mark.parametrize("args,what", [
    (["--wan-port", "0", "--lan-port", "1"], "router mode needs --wan-address"),
    (["--wan", "a", *ADDRESSES], "--wan and --lan go together (missing --lan)"),
    (["--wan", "a", "--lan", "a", *ADDRESSES], "the same network a"),
    (["--wan", "a", "--lan", "b", "--wan-port", "0", *ADDRESSES], "either by network"),
    (["--wan-port", "0", "--lan-port", "1", "--wan-address", "10.0.0.1/8", "--lan-address", "10.200.0.1/24"],
     "subnets overlap"),
    (["--wan-port", "0", "--lan-port", "1", "--wan-address", "10.100.0.0/24", "--lan-address", LAN_ADDRESS],
     "network or broadcast address"),
    ([*BY_ID, "--default-action", "maybe"], "--default-action maybe: expected allow or deny"),
    ([*BY_ID, "--idle-sleep-us", "-5"], "--idle-sleep-us -5"),
    ([*BY_ID, "--annotations", "/x"], "go with --wan/--lan"),
    ([*BY_ID, "--bogus"], "unknown option --bogus"),
    ([*BY_ID, "stray"], "unexpected argument stray"),
    (["--wan", "a", "--lan", "b", *ADDRESSES, "--annotations", "/x", "--device-info", "/y"], "one device source"),
])
def test_usage_errors_exit_2(args, what) -> None:
    proc = run_vfw(*args)
    assert proc.returncode == 2 and what in proc.stderr, proc.stderr


def test_ports_by_network_name_from_the_pod_annotations(annotations) -> None:
    proc = run_vfw("--wan", "vfw/wan", "--lan", "lan", *ADDRESSES, "--annotations", str(annotations),
                   "--eal-helper", HELPER, "--print-eal-args", "--", "--file-prefix", "vfw")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["eal"] == ["-a", WAN_VF, "-a", LAN_VF, "--file-prefix", "vfw"]
    assert shown["wan"] == {"network": "vfw/wan", "interface": "net1", "pci": WAN_VF, "portId": 1}
    assert shown["lan"] == {"network": "vfw/lan", "interface": "net2", "pci": LAN_VF, "portId": 0}


def test_ports_by_interface_name_with_the_helper_found_on_path(tmp_path) -> None:
    status = tmp_path / "network-status.json"
    status.write_text(json.dumps(network_status()))
    env = {**os.environ, "PATH": f"{Path(HELPER).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run([str(require_vfw()), "--wan", "net2", "--lan", "net1", *ADDRESSES, "--network-status",
                           str(status), "--print-eal-args"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["wan"]["pci"], shown["lan"]["pci"]) == (LAN_VF, WAN_VF)
    assert shown["eal"] == ["-a", LAN_VF, "-a", WAN_VF]


def test_ports_from_device_info_files(tmp_path) -> None:
    """The device-info spec files multus-dp writes (<namespace>-<network>-<containerID>_<ifname>)."""
    devinfo = tmp_path / "devinfo"
    devinfo.mkdir()
    cid = "f" * 64
    for name, ifname, vf in (("wan", "net1", WAN_VF), ("lan", "net2", LAN_VF)):
        (devinfo / f"vfw-{name}-{cid}_{ifname}").write_text(json.dumps(
            {"type": "pci", "version": "1.1.0", "pci": {"pci-address": vf, "pf-pci-address": PF}}))
    # the helper's file itself (executable, standard library only) serves as --eal-helper too
    script = str(REPO / "dpdk" / "multus_dp_eal.py")
    proc = run_vfw("--wan", "net1", "--lan", "net2", *ADDRESSES, "--device-info", str(devinfo), "--eal-helper", script,
                   "--print-eal-args")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["wan"]["network"], shown["wan"]["pci"]) == ("vfw-wan", WAN_VF)


def test_missing_annotations_file_is_named(tmp_path) -> None:
    missing = tmp_path / "podinfo" / "annotations"
    proc = run_vfw("--wan", "wan", "--lan", "lan", *ADDRESSES, "--annotations", str(missing), "--eal-helper", HELPER)
    assert proc.returncode == 1
    assert f"annotations file {missing}: No such file or directory" in proc.stderr and "--wan wan" in proc.stderr


def test_missing_device_info_is_named(tmp_path) -> None:
    proc = run_vfw("--wan", "wan", "--lan", "lan", *ADDRESSES, "--device-info", str(tmp_path / "devinfo"),
                   "--eal-helper", HELPER)
    assert proc.returncode == 1 and f"device-info {tmp_path / 'devinfo'}: No such file" in proc.stderr


def test_annotations_without_network_status(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {"kubernetes.io/config.seen": "2026-01-01T00:00:00Z"})
    proc = run_vfw("--wan", "wan", "--lan", "lan", *ADDRESSES, "--annotations", str(path), "--eal-helper", HELPER)
    assert proc.returncode == 1
    assert f"{path}: no {STATUS_KEY} annotation" in proc.stderr, proc.stderr
    assert f"in the annotations file {path}" in proc.stderr


def test_a_network_the_pod_does_not_have_is_named(annotations) -> None:
    proc = run_vfw("--wan", "wan", "--lan", "dmz", *ADDRESSES, "--annotations", str(annotations),
                   "--eal-helper", HELPER)
    assert proc.returncode == 1
    assert "network 'dmz' has no DPDK (pci) device" in proc.stderr and "vfw/wan (net1)" in proc.stderr


def test_a_helper_that_cannot_run_is_named(annotations) -> None:
    proc = run_vfw("--wan", "wan", "--lan", "lan", *ADDRESSES, "--annotations", str(annotations),
                   "--eal-helper", "/nonexistent/multus-dp-eal")
    assert proc.returncode == 1
    assert "cannot run the EAL helper /nonexistent/multus-dp-eal: No such file" in proc.stderr


def test_a_vf_dpdk_did_not_probe_is_named(tmp_path) -> None:
    """The network-status names a VF this host does not have: EAL starts (an allow-list entry
    matching nothing is not an error), the vFW says which network's device is missing."""
    require_root()
    status = tmp_path / "network-status.json"
    entries = network_status()
    entries[1]["device-info"]["pci"]["pci-address"] = "0000:ff:1f.6"
    entries[2]["device-info"]["pci"]["pci-address"] = "0000:ff:1f.7"
    status.write_text(json.dumps(entries))
    prefix = f"vfw-cli-{os.getpid()}"
    try:
        proc = run_vfw("--wan", "wan", "--lan", "lan", *ADDRESSES, "--network-status", str(status), "--eal-helper",
                       HELPER, "--", "--no-huge", "-m", "256", "-l", "0", "--file-prefix", prefix)
    finally:
        shutil.rmtree(DPDK_RUN_DIR / prefix, ignore_errors=True)
    assert proc.returncode == 1
    assert "--wan wan: DPDK did not probe its device 0000:ff:1f.6 (network vfw/wan, interface net1" in proc.stderr


def test_a_port_id_dpdk_does_not_have(tmp_path) -> None:
    require_root()
    prefix = f"vfw-cli-{os.getpid()}"
    try:
        proc = run_vfw("--wan-port", "5", "--lan-port", "1", *ADDRESSES, "--", "--no-huge", "-m", "256", "--no-pci",
                       "-l", "0", "--file-prefix", prefix, "--vdev", "net_null0", "--vdev", "net_null1")
    finally:
        shutil.rmtree(DPDK_RUN_DIR / prefix, ignore_errors=True)
    assert proc.returncode == 1 and "--wan-port 5: DPDK has no such port (2 port(s) probed" in proc.stderr


def test_an_eal_that_does_not_start(tmp_path) -> None:
    prefix = f"vfw-cli-{os.getpid()}"
    try:
        proc = run_vfw(*BY_ID, "--", "--no-huge", "--in-memory", "--file-prefix", prefix)
    finally:
        shutil.rmtree(DPDK_RUN_DIR / prefix, ignore_errors=True)
    assert proc.returncode == 1
    assert "EAL initialisation failed" in proc.stderr and "--no-huge" in proc.stderr
