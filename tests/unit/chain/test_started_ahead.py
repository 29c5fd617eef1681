"""Delegates started ahead: a delegate's process may start while the one before it runs, but it
gets its configuration (and so does anything) only once that one finished, in the same order
as ever; one that is not needed after all (an ADD failed before it) is killed unconfigured,
and no process is left behind."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from multus_dp.chain.entry import handle
from tests.support.fakeplugin import PYTHON

# Notes "start" before reading stdin, "config-<CMD>" once it has it, "done-<CMD>" at the end.
SCRIPT = r'''#!{python} -IS
import json, os, sys
def note(what):
    with open({log!r}, "a") as fh:
        fh.write(f"{{what}} {name} {{os.getpid()}}\n")
note("start")
stdin = sys.stdin.read()
cmd = os.environ.get("CNI_COMMAND", "")
note("config-" + cmd)
if cmd == {fail!r}:
    print(json.dumps({{"code": 7, "msg": "{name} failed"}}))
    sys.exit(1)
if cmd == "ADD":
    conf = json.loads(stdin)
    prev = conf.get("prevResult") or {{"interfaces": [], "ips": []}}
    print(json.dumps({{"cniVersion": "1.0.0", "interfaces": prev["interfaces"] + [{{"name": "{name}"}}],
                      "ips": prev["ips"] or [{{"address": "10.3.0.2/24"}}]}}))
note("done-" + cmd)
'''


def plugin(directory: Path, log: Path, name: str, fail: str = "") -> None:
    path = directory / name
    path.write_text(SCRIPT.format(python=PYTHON, log=str(log), name=name, fail=fail))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def env(command: str, directory: Path) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": "ahead1", "CNI_NETNS": "/run/netns/fake", "CNI_IFNAME": "eth0",
            "CNI_PATH": str(directory), "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1"}


def conf(tmp_path: Path, delegates: list[dict]) -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "mdp", "stateDir": str(tmp_path / "state"), "binDir": "",
                       "networksDir": str(tmp_path / "none"), "parallel": False, "delegates": delegates}).encode()


def events(log: Path) -> list[tuple[str, str, int]]:
    return [(what, name, int(pid)) for what, name, pid in (line.split() for line in log.read_text().splitlines())]


def configured(log: Path) -> list[str]:
    """`config-X name` and `done-X name` in the order they happened."""
    return [f"{what} {name}" for what, name, _ in events(log) if what != "start"]


def assert_nothing_running(log: Path) -> None:
    for _, name, pid in events(log):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)   # every plugin process is gone, those started ahead included


@pytest.fixture
def plugins(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "plugins"
    directory.mkdir()
    return directory, tmp_path / "events.log"


def test_each_delegate_is_configured_only_after_the_one_before_it_finished(plugins, tmp_path) -> None:
    directory, log = plugins
    for name in ("d0", "d1", "d2"):
        plugin(directory, log, name)
    stdin = conf(tmp_path, [{"cniVersion": "1.0.0", "name": f"net-{n}", "type": n} for n in ("d0", "d1", "d2")])
    assert handle(env("ADD", directory), stdin).exit_code == 0
    assert handle(env("DEL", directory), stdin).exit_code == 0
    assert configured(log) == [
        "config-ADD d0", "done-ADD d0", "config-ADD d1", "done-ADD d1", "config-ADD d2", "done-ADD d2",
        "config-DEL d2", "done-DEL d2", "config-DEL d1", "done-DEL d1", "config-DEL d0", "done-DEL d0"]
    assert_nothing_running(log)


def test_a_delegate_started_ahead_of_a_failed_add_is_killed_unconfigured(plugins, tmp_path) -> None:
    directory, log = plugins
    plugin(directory, log, "d0")
    plugin(directory, log, "d1", fail="ADD")
    plugin(directory, log, "d2")
    stdin = conf(tmp_path, [{"cniVersion": "1.0.0", "name": f"net-{n}", "type": n} for n in ("d0", "d1", "d2")])
    reply = handle(env("ADD", directory), stdin)
    assert reply.exit_code == 1 and "d1 failed" in json.loads(reply.stdout)["msg"]
    # d2 never got a configuration: the rollback DELs d1 (failed) and d0, nothing of d2
    assert configured(log) == ["config-ADD d0", "done-ADD d0", "config-ADD d1",
                               "config-DEL d1", "done-DEL d1", "config-DEL d0", "done-DEL d0"]
    assert_nothing_running(log)


def test_the_plugins_of_one_list_keep_their_order_and_results(plugins, tmp_path) -> None:
    directory, log = plugins
    for name in ("p0", "p1", "p2"):
        plugin(directory, log, name)
    stdin = conf(tmp_path, [{"cniVersion": "1.0.0", "name": "chained",
                             "plugins": [{"type": "p0"}, {"type": "p1"}, {"type": "p2"}]}])
    reply = handle(env("ADD", directory), stdin)
    assert reply.exit_code == 0, reply.stdout
    assert [i["name"] for i in json.loads(reply.stdout)["interfaces"]] == ["p0", "p1", "p2"]   # prevResult chained
    assert handle(env("DEL", directory), stdin).exit_code == 0
    assert configured(log) == [
        "config-ADD p0", "done-ADD p0", "config-ADD p1", "done-ADD p1", "config-ADD p2", "done-ADD p2",
        "config-DEL p2", "done-DEL p2", "config-DEL p1", "done-DEL p1", "config-DEL p0", "done-DEL p0"]
    assert_nothing_running(log)
