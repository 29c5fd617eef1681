"""dpdk/multus_dp_eal.py as a pod runs it: network-status from the downward-API file or
device-info files -> `-a <pci>` per DPDK network in declared order, with names and port ids."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dpdk import multus_dp_eal as eal

from .eal import HELPER, STATUS_KEY, downward_file, go_quote, run_helper

# A downward-API file as kubelet writes it for a vFW pod (Multus-style indented network-status);
# the outside network's VF has the higher PCI address, so port ids differ from declared order.
KUBELET_FILE = (
    'k8s.v1.cni.cncf.io/network-status="[{\\n    \\"name\\": \\"cbr0\\",\\n    \\"interface\\": \\"eth0\\",'
    '\\n    \\"ips\\": [\\n        \\"10.244.1.5\\"\\n    ],\\n    \\"mac\\": \\"a2:4f:5e:11:22:33\\",\\n'
    '    \\"default\\": true,\\n    \\"dns\\": {}\\n},{\\n    \\"name\\": \\"vfw/vfw-outside\\",\\n'
    '    \\"interface\\": \\"outside\\",\\n    \\"dns\\": {},\\n    \\"device-info\\": {\\n'
    '        \\"type\\": \\"pci\\",\\n        \\"version\\": \\"1.0.0\\",\\n        \\"pci\\": {\\n'
    '            \\"pci-address\\": \\"0000:af:06.3\\",\\n            \\"pf-pci-address\\": \\"0000:af:00.1\\"\\n'
    '        }\\n    }\\n},{\\n    \\"name\\": \\"vfw/vfw-inside\\",\\n    \\"interface\\": \\"inside\\",\\n'
    '    \\"dns\\": {},\\n    \\"device-info\\": {\\n        \\"type\\": \\"pci\\",\\n'
    '        \\"version\\": \\"1.0.0\\",\\n        \\"pci\\": {\\n'
    '            \\"pci-address\\": \\"0000:af:02.1\\"\\n        }\\n    }\\n}]"\n'
    'k8s.v1.cni.cncf.io/networks="[{\\"name\\":\\"vfw-outside\\",\\"interface\\":\\"outside\\"},'
    '{\\"name\\":\\"vfw-inside\\",\\"interface\\":\\"inside\\"}]"\n'
    'kubernetes.io/config.seen="2025-11-29T21:40:00.123456789Z"'
)


def status_entry(name: str, ifname: str, pci: str | None, info_type: str = "pci") -> dict:
    entry = {"name": name, "interface": ifname, "dns": {}}
    if pci:
        entry["device-info"] = {"type": info_type, "version": "1.0.0", "pci": {"pci-address": pci}}
    return entry


def test_kubelet_file_gives_args_in_declared_order_with_names_and_port_ids(tmp_path) -> None:
    path = tmp_path / "annotations"
    path.write_text(KUBELET_FILE)
    proc = run_helper("--annotations", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "-a 0000:af:06.3 -a 0000:af:02.1\n"
    table = [line.split() for line in proc.stderr.splitlines()]
    assert table[0] == ["PORT", "NETWORK", "INTERFACE", "PCI", "PF"]
    # DPDK numbers ports by PCI address: inside (02.1) is port 0 although declared second
    assert table[1:] == [["1", "vfw/vfw-outside", "outside", "0000:af:06.3", "0000:af:00.1"],
                         ["0", "vfw/vfw-inside", "inside", "0000:af:02.1", "-"]]


def test_env_format_is_sourceable_and_keyed_by_interface(tmp_path) -> None:
    path = tmp_path / "annotations"
    path.write_text(KUBELET_FILE)
    out = tmp_path / "eal.env"
    proc = run_helper("--annotations", str(path), "--format", "env", "--output", str(out), "--quiet")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    shell = subprocess.run(["sh", "-c", f'. "{out}"; echo "$MULTUS_DP_EAL_ARGS|$MULTUS_DP_PORT_OUTSIDE|'
                                        f'$MULTUS_DP_PCI_INSIDE|$MULTUS_DP_NETWORKS"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == "-a 0000:af:06.3 -a 0000:af:02.1|1|0000:af:02.1|vfw/vfw-outside vfw/vfw-inside"


def test_json_format_and_legacy_flag(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([
        status_entry("default/a", "net1", "af:06.0"), status_entry("default/b", "net2", "0000:AF:06.1")])})
    data = json.loads(run_helper("--annotations", str(path), "--json", "--old-dpdk").stdout)
    # short and upper-case addresses come out canonical
    assert data["eal"] == ["-w", "0000:af:06.0", "-w", "0000:af:06.1"]
    assert [(p["network"], p["interface"], p["port_id"]) for p in data["ports"]] == [
        ("default/a", "net1", 0), ("default/b", "net2", 1)]


def test_network_flag_picks_and_orders(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([
        status_entry("cluster", "eth0", None), status_entry("ns1/a", "net1", "0000:03:00.2"),
        status_entry("ns1/b", "net2", "0000:03:00.3"), status_entry("ns1/c", "net3", "0000:03:00.4")])})
    proc = run_helper("--annotations", str(path), "--network", "c", "--network", "ns1/a", "--quiet")
    assert proc.returncode == 0 and proc.stdout == "-a 0000:03:00.4 -a 0000:03:00.2\n"
    by_interface = run_helper("--annotations", str(path), "--network", "net2", "--quiet")
    assert by_interface.stdout == "-a 0000:03:00.3\n"
    missing = run_helper("--annotations", str(path), "--network", "d")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "network 'd' has no DPDK (pci) device" in missing.stderr
    assert "ns1/a (net1), ns1/b (net2), ns1/c (net3)" in missing.stderr


def test_kernel_mode_and_other_device_types_are_not_dpdk_ports(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([
        status_entry("ns/kernel", "net1", None),
        {"name": "ns/vhost", "interface": "net2", "device-info": {"type": "vhost-user", "version": "1.0.0",
                                                                   "vhost-user": {"mode": "client", "path": "/x"}}},
        status_entry("ns/dpdk", "net3", "0000:5e:02.0")])})
    assert run_helper("--annotations", str(path), "--quiet").stdout == "-a 0000:5e:02.0\n"


def test_no_dpdk_network_is_exit_1_naming_the_file(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([status_entry("cluster", "eth0", None)])})
    proc = run_helper("--annotations", str(path))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "found 0 DPDK (pci) network(s), expected 1" in proc.stderr
    absent = run_helper("--annotations", str(tmp_path / "nothing"))
    assert absent.returncode == 1 and f"{tmp_path / 'nothing'}: no {STATUS_KEY} annotation" in absent.stderr


def test_wait_until_kubelet_refreshes_the_file(tmp_path) -> None:
    path = tmp_path / "annotations"
    downward_file(path, {"kubernetes.io/config.seen": "now"})  # mounted before the CNI ADD published status
    helper = subprocess.Popen([sys.executable, "-I", "-S", str(HELPER), "--annotations", str(path), "--wait", "60",
                               "--poll-interval", "0.05", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(0.3)
    assert helper.poll() is None, "returned before the devices were there"
    tmp = tmp_path / "annotations.new"
    downward_file(tmp, {STATUS_KEY: json.dumps([status_entry("ns/a", "net1", "0000:af:06.0")])})
    tmp.replace(path)  # kubelet swaps the file atomically
    out, err = helper.communicate(timeout=60)
    assert helper.returncode == 0, err
    assert out == "-a 0000:af:06.0\n"


def test_wait_gives_up_with_the_reason(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([status_entry("ns/a", "net1", "0000:af:06.0")])})
    proc = run_helper("--annotations", str(path), "--count", "2", "--wait", "0.3", "--poll-interval", "0.05")
    assert proc.returncode == 1
    assert "found 1 DPDK (pci) network(s), expected 2 (waited 0.3 s)" in proc.stderr


def test_bad_input_is_exit_2_naming_file_and_network(tmp_path) -> None:
    cases = {
        "not json": ({STATUS_KEY: "[{"}, f"annotation {STATUS_KEY}: not valid JSON"),
        "not a list": ({STATUS_KEY: "{}"}, "network-status must be a JSON list"),
        "no address": ({STATUS_KEY: json.dumps([{"name": "ns/x", "device-info": {"type": "pci", "pci": {}}}])},
                       "network ns/x: device-info of type \"pci\" has no pci.pci-address"),
        "bad address": ({STATUS_KEY: json.dumps([status_entry("ns/y", "net1", "0000:zz:00.0")])},
                        "network ns/y: '0000:zz:00.0' is not a PCI address"),
        "same device twice": ({STATUS_KEY: json.dumps([status_entry("ns/a", "net1", "0000:af:06.0"),
                                                       status_entry("ns/b", "net2", "0000:af:06.0")])},
                              "networks ns/a and ns/b report the same PCI device 0000:af:06.0"),
    }
    for label, (annotations, message) in cases.items():
        path = downward_file(tmp_path / "annotations", annotations)
        proc = run_helper("--annotations", str(path))
        assert proc.returncode == 2 and proc.stdout == "", label
        assert message in proc.stderr and (str(path) in proc.stderr or "networks ns/a" in proc.stderr), label
    broken = tmp_path / "broken"
    broken.write_text('k8s.v1.cni.cncf.io/network-status="[\\q]"')
    proc = run_helper("--annotations", str(broken))
    assert proc.returncode == 2 and f"{broken} line 1 ({STATUS_KEY}): unknown escape" in proc.stderr


def test_device_info_files_directory(tmp_path) -> None:
    devinfo = tmp_path / "devinfo"
    devinfo.mkdir()
    cid = "4f1e3c0a9b8d7e6f5a4b3c2d1e0f9a8b"
    for name, pci in ((f"vfw-vfw-outside-{cid}_outside", "0000:af:06.3"), (f"vfw-vfw-inside-{cid}_inside", "0000:af:02.1")):
        (devinfo / name).write_text(json.dumps({"type": "pci", "version": "1.0.0", "pci": {"pci-address": pci}}))
    (devinfo / "vhost").write_text(json.dumps({"type": "vhost-user", "version": "1.0.0"}))
    data = json.loads(run_helper("--device-info", str(devinfo), "--json").stdout)
    assert [(p["network"], p["interface"], p["pci"]) for p in data["ports"]] == [
        ("vfw-vfw-inside", "inside", "0000:af:02.1"), ("vfw-vfw-outside", "outside", "0000:af:06.3")]
    one = run_helper("--device-info", str(devinfo / f"vfw-vfw-outside-{cid}_outside"), "--quiet")
    assert one.stdout == "-a 0000:af:06.3\n"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_go_quote_round_trip(value: str) -> None:
    assert eal.go_unquote(go_quote(value)) == value


def test_go_escapes_kubelet_may_write() -> None:
    assert eal.go_unquote(r'"\x41\u00e9\U0001F600\101\a\v\'"') == "A\u00e9\U0001F600A\a\v'"
    # \x escapes are bytes: a two-byte UTF-8 sequence written byte by byte is one character
    assert eal.go_unquote(r'"\xc3\xa9"') == "\u00e9"


def test_helper_imports_only_the_standard_library() -> None:
    tree = ast.parse(HELPER.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_console_entry_point_and_module_run(tmp_path) -> None:
    path = downward_file(tmp_path / "annotations", {STATUS_KEY: json.dumps([status_entry("ns/a", "net1", "0000:af:06.0")])})
    script = Path(sys.executable).parent / "multus-dp-eal"
    for command in ([str(script)], [sys.executable, "-m", "dpdk.multus_dp_eal"]):
        proc = subprocess.run([*command, "--annotations", str(path), "--quiet"], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout == "-a 0000:af:06.0\n", (command, proc.stderr)
