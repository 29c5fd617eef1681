"""The plugin entry in thin mode: delegates-only configs over fake plugins, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from multus_dp.chain.entry import handle


def env(command: str, plugin_dir, **extra: str) -> dict[str, str]:
    base = {"CNI_COMMAND": command, "CNI_CONTAINERID": "ctr1", "CNI_NETNS": "/run/netns/fake",
            "CNI_IFNAME": "eth0", "CNI_PATH": str(plugin_dir),
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1"}
    base.update(extra)
    return base


def conf(tmp_path: Path, *types: str, version: str = "1.0.0", **extra) -> bytes:
    return json.dumps({"cniVersion": version, "name": "mdp", "type": "multus-dp",
                       "stateDir": str(tmp_path / "state"), "binDir": "",
                       "delegates": [{"cniVersion": "1.0.0", "name": f"net-{t}", "type": t} for t in types],
                       **extra}).encode()


def test_version() -> None:
    reply = handle({"CNI_COMMAND": "VERSION"}, b'{"cniVersion":"0.4.0"}')
    assert reply.exit_code == 0
    assert json.loads(reply.stdout) == {"cniVersion": "0.4.0", "supportedVersions": [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_delegates_add_check_del(fake_plugins, tmp_path: Path) -> None:
    a, b, c = (fake_plugins.make(n) for n in ("pa", "pb", "pc"))
    stdin = conf(tmp_path, "pa", "pb", "pc")
    reply = handle(env("ADD", fake_plugins.dir), stdin)
    assert reply.exit_code == 0, reply.stdout
    result = json.loads(reply.stdout)
    assert result["cniVersion"] == "1.0.0" and result["interfaces"][0]["name"] == "eth0"
    assert [x.calls()[-1]["env"]["CNI_IFNAME"] for x in (a, b, c)] == ["eth0", "net1", "net2"]
    assert (tmp_path / "state/attachments/ctr1.json").exists()
    assert handle(env("CHECK", fake_plugins.dir), stdin).exit_code == 0
    for plugin in (a, b, c):
        sent = json.loads(plugin.calls()[-1]["stdin"])
        assert plugin.calls()[-1]["command"] == "CHECK" and sent["prevResult"]["interfaces"]
    assert handle(env("DEL", fake_plugins.dir), stdin).exit_code == 0
    assert handle(env("DEL", fake_plugins.dir), stdin).exit_code == 0
    assert not (tmp_path / "state/attachments/ctr1.json").exists()
    assert a.commands() == ["ADD", "CHECK", "DEL", "DEL"]  # second DEL recomputes from the config


def test_failure_rolls_back_in_reverse(fake_plugins, tmp_path: Path) -> None:
    a = fake_plugins.make("pa")
    b = fake_plugins.make("pb", fail={"ADD": (7, "bad vlan")})
    stdin = conf(tmp_path, "pa", "pb", parallel=False)
    reply = handle(env("ADD", fake_plugins.dir), stdin)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 7
    assert "pod ns1/pod1, network net-pb, interface net1" in err["msg"] and "bad vlan" in err["msg"]
    assert b.commands() == ["ADD", "DEL"] and a.commands() == ["ADD", "DEL"]
    assert not (tmp_path / "state/attachments/ctr1.json").exists()


BAD_INPUT = [
    ("malformed JSON", {}, b"{not json", 6, "cannot decode"),
    ("missing netns", {"CNI_NETNS": ""}, None, 4, "CNI_NETNS"),
    ("missing command", {"CNI_COMMAND": ""}, None, 4, "CNI_COMMAND"),
    ("bad ifname", {"CNI_IFNAME": "this-name-is-too-long"}, None, 4, "interface name"),
    ("bad container id", {"CNI_CONTAINERID": "../etc"}, None, 4, "CNI_CONTAINERID"),
    ("unsupported version", {}, b'{"cniVersion":"9.9.9","name":"x","delegates":[{"type":"pa"}]}', 1, "9.9.9"),
    ("no delegates", {}, b'{"cniVersion":"1.0.0","name":"x"}', 7, "no delegates"),
    ("bad delegateTimeout", {}, b'{"cniVersion":"1.0.0","delegateTimeout":-1}', 7, "delegateTimeout"),
]


@pytest.mark.parametrize("case,env_over,stdin,code,text", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input(fake_plugins, tmp_path: Path, case, env_over, stdin, code, text) -> None:
    fake_plugins.make("pa")
    data = stdin if stdin is not None else conf(tmp_path, "pa")
    if stdin is not None and b"stateDir" not in data and data.startswith(b'{"'):
        obj = json.loads(data)
        obj["stateDir"] = str(tmp_path / "state")
        data = json.dumps(obj).encode()
    reply = handle(env("ADD", fake_plugins.dir, **env_over), data)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == code and text in err["msg"], err
    assert not list((tmp_path / "state").rglob("*.json")) if (tmp_path / "state").exists() else True


@pytest.mark.parametrize("bad_type", ["../../bin/sh", "/bin/true"])
def test_path_like_type_refused_with_canary(fake_plugins, tmp_path: Path, bad_type: str) -> None:
    canary = tmp_path / "canary"
    fake_plugins.make("sh", canary=str(canary))
    fake_plugins.make("true", canary=str(canary))
    stdin = json.dumps({"cniVersion": "1.0.0", "name": "x", "stateDir": str(tmp_path / "state"),
                        "delegates": [{"cniVersion": "1.0.0", "name": "evil", "type": bad_type}]}).encode()
    reply = handle(env("ADD", fake_plugins.dir), stdin)
    err = json.loads(reply.stdout)
    assert err["code"] == 7 and bad_type in err["msg"] and "pod ns1/pod1" in err["msg"]
    assert not canary.exists()
    assert not (tmp_path / "state/attachments/ctr1.json").exists()


def test_hung_delegate_fails_add_and_leaves_nothing(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    fake_plugins.make("hang", sleep={"ADD": 30})
    stdin = conf(tmp_path, "pa", "hang", delegateTimeout=1)
    reply = handle(env("ADD", fake_plugins.dir), stdin)
    err = json.loads(reply.stdout)
    assert err["code"] == 102 and "interface net1" in err["msg"]
    assert not (tmp_path / "state/attachments/ctr1.json").exists()


def test_no_traceback_on_stdout_through_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=b"\xff\xfe garbage",
                          env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"},
                          capture_output=True)
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["code"] == 6 and "Traceback" not in proc.stdout.decode()


def test_second_add_for_same_container_refused(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    stdin = conf(tmp_path, "pa")
    assert handle(env("ADD", fake_plugins.dir), stdin).exit_code == 0
    reply = handle(env("ADD", fake_plugins.dir), stdin)
    assert reply.exit_code == 1 and json.loads(reply.stdout)["code"] == 111
