"""Delegate invocation against fake plugin scripts (real processes, no mocks)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from multus_dp.cni.config import parse_network_config
from multus_dp.cni.errors import CNIError
from multus_dp.cni.invoke import DelegateInvoker, RuntimeConf, find_plugin

RT = RuntimeConf(container_id="c1", netns="/run/netns/none", ifname="eth0", args=[("IgnoreUnknown", "1")])


def net(*types: str, version: str | None = "1.0.0", **extra) -> object:
    """`version=None`: a config without cniVersion."""
    header = {"cniVersion": version} if version else {}
    return parse_network_config({**header, "name": "n1", "plugins": [{"type": t, **extra} for t in types]})


@pytest.mark.parametrize("bad", ["../../bin/sh", "/bin/true", "a/b", "..", "x\0y", "", ".hidden", 7])
def test_non_plain_type_refused_nothing_executed(fake_plugins, tmp_path: Path, bad) -> None:
    canary = tmp_path / "canary"
    fake_plugins.make("true", canary=str(canary))
    with pytest.raises(CNIError) as err:
        find_plugin(bad, [str(fake_plugins.dir)])
    assert err.value.code == 7
    assert not canary.exists()


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_called_with_the_configs_own_version_and_converted_back(fake_plugins, version) -> None:
    """libcni's rule (and so Multus'): no VERSION probe, the config's cniVersion on stdin; the
    result is converted for our own use only."""
    plugin = fake_plugins.make("p", versions=["0.1.0", "0.2.0", "0.3.1"], address="10.9.0.2/24")
    result = DelegateInvoker().add_list(net("p", version=version), RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in plugin.calls()] == ["ADD"]
    assert json.loads(plugin.calls()[-1]["stdin"])["cniVersion"] == version
    assert result["cniVersion"] == "1.1.0" and result["ips"][0]["address"] == "10.9.0.2/24"
    assert "version" not in result["ips"][0]
    assert plugin.calls()[-1]["env"]["CNI_PATH"] == str(fake_plugins.dir)


def test_cni_versions_list_picks_the_highest_we_speak(fake_plugins) -> None:
    plugin = fake_plugins.make("p")
    conf = parse_network_config({"cniVersion": "0.4.0", "cniVersions": ["0.4.0", "1.0.0", "9.9.9"], "name": "n",
                                 "plugins": [{"type": "p"}]})
    DelegateInvoker().add_list(conf, RT, [str(fake_plugins.dir)])
    assert json.loads(plugin.calls()[-1]["stdin"])["cniVersion"] == "1.0.0"


def test_version_we_do_not_speak_is_refused_before_exec(fake_plugins) -> None:
    plugin = fake_plugins.make("p")
    with pytest.raises(CNIError) as err:
        DelegateInvoker().add_list(net("p", version="2.0.0"), RT, [str(fake_plugins.dir)])
    assert err.value.code == 1 and "2.0.0" in err.value.msg and plugin.calls() == []


def test_without_cniversion_negotiates_highest_common(fake_plugins) -> None:
    """The lenient path kept for configs that declare no cniVersion."""
    old = fake_plugins.make("old", versions=["0.1.0", "0.2.0", "0.3.1"], address="10.9.0.2/24")
    result = DelegateInvoker().add_list(net("old", version=None), RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in old.calls()] == ["VERSION", "ADD"]
    assert json.loads(old.calls()[-1]["stdin"])["cniVersion"] == "0.3.1"
    assert result["cniVersion"] == "1.1.0"


def test_version_probe_cached_per_path_and_mtime(fake_plugins) -> None:
    plugin = fake_plugins.make("p1")
    inv = DelegateInvoker()
    for _ in range(3):
        inv.add_list(net("p1", version=None), RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in plugin.calls()].count("VERSION") == 1
    time.sleep(0.01)
    os.utime(plugin.path)  # an upgraded binary is probed again
    inv.add_list(net("p1", version=None), RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in plugin.calls()].count("VERSION") == 2


def test_chain_passes_prev_result_and_runtime_config(fake_plugins) -> None:
    fake_plugins.make("a")
    b = fake_plugins.make("b")
    conf = parse_network_config({"cniVersion": "1.0.0", "name": "n1", "plugins": [
        {"type": "a"}, {"type": "b", "capabilities": {"mac": True, "ips": False}}]})
    rt = RuntimeConf("c1", "/run/netns/x", "net1", capability_args={"mac": "02:00:00:00:00:01", "ips": ["1.2.3.4/24"]})
    DelegateInvoker().add_list(conf, rt, [str(fake_plugins.dir)])
    sent = json.loads(b.calls()[-1]["stdin"])
    assert sent["prevResult"]["interfaces"][0]["name"] == "net1"
    assert sent["runtimeConfig"] == {"mac": "02:00:00:00:00:01"}
    assert sent["name"] == "n1"


def test_del_runs_in_reverse_and_collects_errors(fake_plugins) -> None:
    a = fake_plugins.make("a", fail={"DEL": (11, "busy")})
    b = fake_plugins.make("b")
    errors = DelegateInvoker().del_list(net("a", "b"), RT, [str(fake_plugins.dir)], None)
    assert [e.code for e in errors] == [11] and "busy" in errors[0].msg
    assert b.commands() == ["DEL"] and a.commands() == ["DEL"]
    assert b.calls()[-1]["command"] == "DEL"


def test_debian_style_error_without_cniversion(fake_plugins) -> None:
    fake_plugins.make("bad", fail={"ADD": (7, "invalid subnet")})
    with pytest.raises(CNIError) as err:
        DelegateInvoker().add_list(net("bad"), RT, [str(fake_plugins.dir)])
    assert err.value.code == 7 and "plugin bad ADD failed: invalid subnet" in err.value.msg


@pytest.mark.parametrize("output", ["", "not json", "[1]", '{"cniVersion": "1.0.0", "ips": [{"gateway": "1.1.1.1"}]}'])
def test_bad_result_output(fake_plugins, output: str) -> None:
    fake_plugins.make("garbage", raw_output=output)
    with pytest.raises(CNIError) as err:
        DelegateInvoker().add_list(net("garbage"), RT, [str(fake_plugins.dir)])
    assert err.value.code in (6, 103)


def test_hung_delegate_times_out_and_group_is_killed(fake_plugins) -> None:
    hang = fake_plugins.make("hang", sleep={"ADD": 30}, spawn_child=True)
    inv = DelegateInvoker(timeout=1.0)
    start = time.monotonic()
    with pytest.raises(CNIError) as err:
        inv.add_list(net("hang"), RT, [str(fake_plugins.dir)])
    assert time.monotonic() - start < 10
    assert err.value.code == 102 and "timed out" in err.value.msg
    child = int(Path(str(hang.log) + ".child").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child), "the delegate's child process survived the timeout"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_gc_and_status_only_to_11_delegates(fake_plugins) -> None:
    old = fake_plugins.make("old10")
    new = fake_plugins.make("new11", versions=["1.0.0", "1.1.0"])
    conf = parse_network_config({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "old10"}, {"type": "new11"}]})
    inv = DelegateInvoker()
    assert inv.gc_list(conf, [str(fake_plugins.dir)], [{"containerID": "c", "ifname": "eth0"}]) == []
    inv.status_list(conf, [str(fake_plugins.dir)])
    assert old.commands() == [] and new.commands() == ["GC", "STATUS"]
    gc_conf = json.loads(new.calls()[1]["stdin"])
    assert gc_conf["cni.dev/valid-attachments"] == [{"containerID": "c", "ifname": "eth0"}]


def test_version_cache_on_disk_survives_the_process(fake_plugins, tmp_path: Path) -> None:
    """Thin mode runs one process per call: the VERSION answer is kept in a file."""
    from multus_dp.cni.invoke import VersionCache

    plugin = fake_plugins.make("p1")
    cache_file = str(tmp_path / "versions.json")
    unversioned = net("p1", version=None)  # only these are probed
    DelegateInvoker(version_cache=VersionCache(cache_file)).add_list(unversioned, RT, [str(fake_plugins.dir)])
    DelegateInvoker(version_cache=VersionCache(cache_file)).add_list(unversioned, RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in plugin.calls()] == ["VERSION", "ADD", "ADD"]
    (tmp_path / "versions.json").write_text("{broken")
    DelegateInvoker(version_cache=VersionCache(cache_file)).add_list(unversioned, RT, [str(fake_plugins.dir)])
    assert [c["command"] for c in plugin.calls()][-2:] == ["VERSION", "ADD"]


def test_gc_and_status_skipped_below_a_11_config(fake_plugins) -> None:
    """libcni sends GC/STATUS only for a list whose cniVersion is 1.1.0 or later."""
    new = fake_plugins.make("new11", versions=["1.0.0", "1.1.0"])
    conf = parse_network_config({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "new11"}]})
    inv = DelegateInvoker()
    assert inv.gc_list(conf, [str(fake_plugins.dir)], []) == []
    inv.status_list(conf, [str(fake_plugins.dir)])
    assert new.calls() == []


def test_del_of_a_0_3_1_config_gets_no_prev_result(fake_plugins) -> None:
    plugin = fake_plugins.make("p")
    prev = {"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.2/24"}]}
    assert DelegateInvoker().del_list(net("p", version="0.3.1"), RT, [str(fake_plugins.dir)], prev) == []
    sent = json.loads(plugin.calls()[-1]["stdin"])
    assert sent["cniVersion"] == "0.3.1" and "prevResult" not in sent
    DelegateInvoker().del_list(net("p", version="0.4.0"), RT, [str(fake_plugins.dir)], prev)
    sent = json.loads(plugin.calls()[-1]["stdin"])
    assert sent["prevResult"]["cniVersion"] == "0.4.0" and sent["prevResult"]["ips"][0]["version"] == "4"


def test_plugins_are_found_in_the_chroot_following_its_own_symlinks(tmp_path) -> None:
    """chrootDir: a CNI bin dir of links to /usr/lib/cni/... resolves inside the host's tree,
    not in this process's root (where /usr/lib/cni may not exist)."""
    from multus_dp.cni.invoke import find_plugin, in_root

    root = tmp_path / "hostroot"
    (root / "usr/lib/cni").mkdir(parents=True)
    (root / "usr/lib/cni/hostonly-bridge").write_text("#!/bin/sh\n")
    (root / "usr/lib/cni/hostonly-bridge").chmod(0o755)
    (root / "opt/cni/bin").mkdir(parents=True)
    (root / "opt/cni/bin/hostonly-bridge").symlink_to("/usr/lib/cni/hostonly-bridge")
    (root / "lib").symlink_to("usr/lib")
    (root / "opt/cni/bin/relative").symlink_to("../../../lib/cni/hostonly-bridge")
    assert in_root(str(root), "/opt/cni/bin/hostonly-bridge") == str(root / "usr/lib/cni/hostonly-bridge")
    assert in_root(str(root), "/opt/cni/bin/relative") == str(root / "usr/lib/cni/hostonly-bridge")
    assert find_plugin("hostonly-bridge", ["/opt/cni/bin"], str(root)) == "/opt/cni/bin/hostonly-bridge"
    with pytest.raises(CNIError):
        find_plugin("hostonly-bridge", ["/opt/cni/bin"])


def _kill_escaped(plugin) -> None:
    """The escaped child is out of the delegate's process group: the test ends it itself."""
    marker = Path(str(plugin.log) + ".escaped")
    if marker.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(marker.read_text()), signal.SIGKILL)


def test_timeout_holds_when_a_child_escapes_the_group_holding_stdout(fake_plugins) -> None:
    """`setsid sleep 40 &` keeps the plugin's stdout open after its group is killed: the call
    still ends at the deadline with a timeout error, not when the escaped child exits."""
    hang = fake_plugins.make("escaper", sleep={"ADD": 40}, escape_child=("ADD", 40))
    inv = DelegateInvoker(timeout=2.0)
    start = time.monotonic()
    try:
        with pytest.raises(CNIError) as err:
            inv.add_list(net("escaper"), RT, [str(fake_plugins.dir)])
        elapsed = time.monotonic() - start
    finally:
        _kill_escaped(hang)
    assert err.value.code == 102 and "timed out" in err.value.msg
    assert elapsed < 20, f"returned after {elapsed:.1f}s: waited for the escaped child, not the deadline"


def test_plugin_that_exits_while_an_escaped_child_holds_stdout_keeps_its_exit_status(fake_plugins) -> None:
    plugin = fake_plugins.make("quitter", fail={"ADD": (11, "busy")}, escape_child=("ADD", 40))
    inv = DelegateInvoker(timeout=2.0)
    try:
        with pytest.raises(CNIError) as err:
            inv.add_list(net("quitter"), RT, [str(fake_plugins.dir)])
    finally:
        _kill_escaped(plugin)
    assert err.value.code == 11 and "busy" in err.value.msg
