"""Chain execution over fake delegates: order, rollback, DEL aggregation, parallelism,
CHECK, GC, STATUS and the result returned to the runtime."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest

from multus_dp.chain.entry import handle


def env(command: str, plugin_dir, cid: str = "ctr1") -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/fake", "CNI_IFNAME": "eth0",
            "CNI_PATH": str(plugin_dir), "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1"}


def conf(tmp_path, names, version="1.0.0", delegate_versions: dict[str, str] | None = None, **extra) -> bytes:
    """Delegates declare cniVersion 1.0.0, or 1.1.0 when our own config does (GC/STATUS need it)."""
    versions = delegate_versions or {}
    default = "1.1.0" if version == "1.1.0" else "1.0.0"
    return json.dumps({"cniVersion": version, "name": "mdp", "stateDir": str(tmp_path / "state"), "binDir": "",
                       "networksDir": str(tmp_path / "none"),
                       "delegates": [{"cniVersion": versions.get(n, default), "name": f"net-{n}", "type": n}
                                     for n in names],
                       **extra}).encode()


def journal_exists(tmp_path, cid="ctr1") -> bool:
    return (tmp_path / "state" / "attachments" / f"{cid}.json").exists()


NAMES = ["d0", "d1", "d2", "d3"]


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("failing", range(4))
def test_rollback_at_each_position(fake_plugins, tmp_path, failing, parallel) -> None:
    plugins = [fake_plugins.make(n, fail={"ADD": (7, f"boom {n}")} if i == failing else None)
               for i, n in enumerate(NAMES)]
    reply = handle(env("ADD", fake_plugins.dir), conf(tmp_path, NAMES, parallel=parallel))
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 7
    assert f"network net-d{failing}" in err["msg"] and f"boom d{failing}" in err["msg"]
    ifname = "eth0" if failing == 0 else f"net{failing}"
    assert f"interface {ifname}" in err["msg"] and "pod ns1/pod1" in err["msg"]
    for i, plugin in enumerate(plugins):
        ran = "ADD" in plugin.commands()
        if failing == 0:
            assert plugin.commands() == (["ADD", "DEL"] if i == 0 else [])  # secondaries never start
        elif not parallel:
            assert plugin.commands() == (["ADD", "DEL"] if i <= failing else [])
        else:
            assert ran and plugin.commands() == ["ADD", "DEL"]  # all started in parallel, all rolled back
    assert not journal_exists(tmp_path)


def test_rollback_runs_in_reverse_order(fake_plugins, tmp_path) -> None:
    for i, n in enumerate(NAMES):
        fake_plugins.make(n, fail={"ADD": (7, "x")} if i == 3 else None)
    handle(env("ADD", fake_plugins.dir), conf(tmp_path, NAMES, parallel=False))
    dels = []
    for n in NAMES:
        for line in (fake_plugins.logs / f"{n}.jsonl").read_text().splitlines():
            call = json.loads(line)
            if call["command"] == "DEL":
                dels.append((n, (fake_plugins.logs / f"{n}.jsonl").stat().st_mtime_ns))
    assert [n for n, _ in sorted(dels, key=lambda x: x[1])] == ["d3", "d2", "d1", "d0"]


def test_del_aggregates_errors_keeps_journal_then_retry_finishes(fake_plugins, tmp_path) -> None:
    for n in NAMES:
        fake_plugins.make(n, fail={"DEL": (11, f"{n} busy")} if n in ("d1", "d3") else None)
    stdin = conf(tmp_path, NAMES)
    assert handle(env("ADD", fake_plugins.dir), stdin).exit_code == 0
    reply = handle(env("DEL", fake_plugins.dir), stdin)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and "2 attachment(s)" in err["msg"]
    assert "d1 busy" in err["msg"] and "d3 busy" in err["msg"] and "interface net3" in err["msg"]
    assert journal_exists(tmp_path)
    for n in ("d1", "d3"):  # the operator fixes the delegates; the runtime retries DEL
        fake_plugins.make(n)
    assert handle(env("DEL", fake_plugins.dir), stdin).exit_code == 0
    assert not journal_exists(tmp_path)
    d0 = [json.loads(line) for line in (fake_plugins.logs / "d0.jsonl").read_text().splitlines()]
    assert [c["command"] for c in d0 if c["command"] != "VERSION"] == ["ADD", "DEL"], \
        "a DEL that succeeded is not repeated on retry"


def test_parallel_and_sequential_give_the_same_ordered_result(fake_plugins, tmp_path) -> None:
    for i, n in enumerate(NAMES):
        fake_plugins.make(n, sleep={"ADD": 0.4 - 0.1 * i} if i else None, address=f"10.7.{i}.2/24")
    outputs = {}
    for parallel in (True, False):
        cid = f"c{int(parallel)}"
        stdin = conf(tmp_path, NAMES, parallel=parallel, fullResult=True)
        reply = handle(env("ADD", fake_plugins.dir, cid), stdin)
        assert reply.exit_code == 0, reply.stdout
        status = json.loads((tmp_path / "state" / "status" / "ns1_pod1.json").read_text())["networkStatus"]
        outputs[parallel] = (json.loads(reply.stdout), status)
        assert handle(env("DEL", fake_plugins.dir, cid), stdin).exit_code == 0
    assert outputs[True] == outputs[False]
    result, status = outputs[True]
    assert [i["name"] for i in result["interfaces"]] == ["eth0", "net1", "net2", "net3"]
    assert [ip["interface"] for ip in result["ips"]] == [0, 1, 2, 3]
    assert [ip["address"] for ip in result["ips"]] == [f"10.7.{i}.2/24" for i in range(4)]
    assert [s["ips"] for s in status] == [[f"10.7.{i}.2"] for i in range(4)]


def test_default_result_is_the_masters_in_the_callers_version(fake_plugins, tmp_path) -> None:
    for i, n in enumerate(NAMES[:2]):
        fake_plugins.make(n, address=f"10.8.{i}.2/24")
    reply = handle(env("ADD", fake_plugins.dir), conf(tmp_path, NAMES[:2], version="0.3.1"))
    result = json.loads(reply.stdout)
    assert result["cniVersion"] == "0.3.1"
    assert result["ips"] == [{"address": "10.8.0.2/24", "interface": 0, "version": "4"}]
    assert [i["name"] for i in result["interfaces"]] == ["eth0"]


def test_check_covers_every_attachment_and_skips_old_delegates(fake_plugins, tmp_path) -> None:
    new = fake_plugins.make("d0")
    old = fake_plugins.make("d1", versions=["0.1.0", "0.2.0", "0.3.1"])
    third = fake_plugins.make("d2", fail={"CHECK": (7, "net2 is broken")})
    stdin = conf(tmp_path, ["d0", "d1", "d2"], delegate_versions={"d1": "0.3.1"})  # a 0.3.1 config: no CHECK
    assert handle(env("ADD", fake_plugins.dir), stdin).exit_code == 0
    reply = handle(env("CHECK", fake_plugins.dir), stdin)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and "net2 is broken" in err["msg"] and "interface net2" in err["msg"]
    assert "CHECK" in new.commands() and "CHECK" not in old.commands() and "CHECK" in third.commands()
    sent = [json.loads(c["stdin"]) for c in third.calls() if c["command"] == "CHECK"][0]
    assert sent["prevResult"]["interfaces"][0]["name"] == "net2"


def test_gc_deletes_journals_not_in_valid_list(fake_plugins, tmp_path) -> None:
    d0 = fake_plugins.make("d0", versions=["1.0.0", "1.1.0"])
    stdin = conf(tmp_path, ["d0"], version="1.1.0")
    for cid in ("keep1", "stale1", "stale2"):
        assert handle(env("ADD", fake_plugins.dir, cid), stdin).exit_code == 0
    gc_conf = json.loads(stdin)
    gc_conf["cni.dev/valid-attachments"] = [{"containerID": "keep1", "ifname": "eth0"}]
    reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(gc_conf).encode())
    assert reply.exit_code == 0, reply.stdout
    assert journal_exists(tmp_path, "keep1") and not journal_exists(tmp_path, "stale1")
    assert not journal_exists(tmp_path, "stale2")
    dels = sorted(c["env"]["CNI_CONTAINERID"] for c in d0.calls() if c["command"] == "DEL")
    assert dels == ["stale1", "stale2"]


def test_gc_accepts_the_older_key(fake_plugins, tmp_path) -> None:
    fake_plugins.make("d0")
    stdin = conf(tmp_path, ["d0"], version="1.1.0")
    assert handle(env("ADD", fake_plugins.dir, "keep1"), stdin).exit_code == 0
    gc_conf = {**json.loads(stdin), "cni.dev/attachments": [{"containerID": "keep1", "ifname": "eth0"}]}
    assert handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(gc_conf).encode()).exit_code == 0
    assert journal_exists(tmp_path, "keep1")


def test_status_reports_readiness(fake_plugins, tmp_path) -> None:
    fake_plugins.make("d0")
    indicator = tmp_path / "ready"
    stdin = conf(tmp_path, ["d0"], version="1.1.0", readinessindicatorfile=str(indicator))
    status_env = {"CNI_COMMAND": "STATUS", "CNI_PATH": str(fake_plugins.dir)}
    reply = handle(status_env, stdin)
    assert reply.exit_code == 1 and json.loads(reply.stdout)["code"] == 50
    add = handle(env("ADD", fake_plugins.dir), stdin)
    assert json.loads(add.stdout)["code"] == 11
    indicator.write_text("ok")
    assert handle(status_env, stdin).exit_code == 0


def test_status_forwards_to_a_11_cluster_network(fake_plugins, tmp_path) -> None:
    d0 = fake_plugins.make("d0", versions=["1.0.0", "1.1.0"], fail={"STATUS": (50, "cluster net down")})
    stdin = conf(tmp_path, ["d0"], version="1.1.0")
    reply = handle({"CNI_COMMAND": "STATUS", "CNI_PATH": str(fake_plugins.dir)}, stdin)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 50 and "cluster net down" in err["msg"]
    assert d0.commands() == ["STATUS"]


def test_delegate_timeout_bounds_a_delegate_whose_child_escapes_and_the_add_is_rolled_back(
        fake_plugins, tmp_path) -> None:
    """A plugin that starts `setsid sleep 40 &` holding stdout, then hangs: the ADD fails
    with the timeout error at `delegateTimeout`, not when the escaped child exits."""
    first = fake_plugins.make("d0")
    hung = fake_plugins.make("d1", sleep={"ADD": 40}, escape_child=("ADD", 40))
    start = time.monotonic()
    try:
        reply = handle(env("ADD", fake_plugins.dir), conf(tmp_path, ["d0", "d1"], delegateTimeout=3))
        elapsed = time.monotonic() - start
    finally:
        escaped = fake_plugins.logs / "d1.jsonl.escaped"
        if escaped.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(escaped.read_text()), signal.SIGKILL)
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 102 and "timed out" in err["msg"], err
    assert "network net-d1" in err["msg"]
    assert elapsed < 20, f"ADD returned after {elapsed:.1f}s"
    assert first.commands() == ["ADD", "DEL"] and hung.commands() == ["ADD", "DEL"]
    assert not journal_exists(tmp_path)
