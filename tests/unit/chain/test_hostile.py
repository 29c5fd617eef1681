"""Hostile input through the real entry (thin mode's and the daemon's): nesting bombs, malformed
GC, pod names that are paths, oversized container IDs, too many networks; and the files a
pod leaves behind (lock files, journal temp files, status files)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from multus_dp.chain.entry import handle
from multus_dp.chain.journal import JournalStore
from tests.support.daemonproc import intervals, make_tracer, max_overlap
from tests.support.world import World, nad

BOMB = b"[" * 100_000


def env(command: str, plugin_dir: Path, cid: str = "ctr1", args: str | None = None) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/fake", "CNI_IFNAME": "eth0",
            "CNI_PATH": str(plugin_dir),
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1" if args is None else args}


def conf(tmp_path: Path, *types: str, **extra: object) -> dict:
    return {"cniVersion": "1.0.0", "name": "mdp", "stateDir": str(tmp_path / "state"), "binDir": "",
            "networksDir": str(tmp_path / "none"),
            "delegates": [{"cniVersion": "1.0.0", "name": f"net-{t}", "type": t} for t in types], **extra}


def call(command: str, plugin_dir: Path, body: dict | bytes, **kw: str) -> tuple[int, dict | None]:
    reply = handle(env(command, plugin_dir, **kw), body if isinstance(body, bytes) else json.dumps(body).encode())
    return reply.exit_code, json.loads(reply.stdout) if reply.stdout else None


def state_files(tmp_path: Path) -> list[str]:
    """Per-pod state (journals, temp files, locks, status files); the node-wide plugin-version
    cache is not a pod's."""
    root = tmp_path / "state"
    files = root.rglob("*") if root.exists() else []
    return sorted(str(p.relative_to(root)) for p in files if p.is_file() and p.name != "plugin-versions.json")


# ---- nesting and size -------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_nesting_bomb_is_a_decode_error(fake_plugins, tmp_path: Path, command: str) -> None:
    code, err = call(command, fake_plugins.dir, BOMB)
    assert code == 1 and err is not None and err["code"] == 6 and "nested deeper than" in err["msg"]


def test_deep_but_parseable_config_is_a_decode_error(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    body = conf(tmp_path, "pa")
    body["delegates"][0]["deep"] = json.loads("[" * 500 + "]" * 500)
    code, err = call("ADD", fake_plugins.dir, body)
    assert code == 1 and err is not None and err["code"] == 6
    assert fake_plugins.make("probe").commands() == [] and state_files(tmp_path) == []


def test_oversized_config_is_a_decode_error(fake_plugins, tmp_path: Path) -> None:
    body = conf(tmp_path, "pa", padding="x" * (5 << 20))
    code, err = call("ADD", fake_plugins.dir, body)
    assert code == 1 and err is not None and err["code"] == 6 and "bytes" in err["msg"]


def test_thin_mode_cli_answers_a_bomb_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=BOMB, capture_output=True,
                          env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
                               "PATH": os.environ.get("PATH", "")})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 6
    assert b"Traceback" not in proc.stderr and b"RecursionError" not in proc.stderr


@pytest.mark.parametrize("key", ["k8s.v1.cni.cncf.io/networks", "networks"])
def test_nesting_bomb_in_an_annotation_is_refused(fake_plugins, tmp_path: Path, key: str) -> None:
    fake_plugins.make("pa")
    world = World(tmp_path, fake_plugins.dir)
    reply = world.call("ADD", world.conf(delegates=[{"cniVersion": "1.0.0", "name": "c", "type": "pa"}]),
                       annotations={key: "[" * 100_000})
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 107 and "nested deeper than" in err["msg"]
    assert world.journal_ids() == []


def test_nesting_bomb_in_a_nad_and_a_network_file_is_refused(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    world = World(tmp_path, fake_plugins.dir)
    world.add(nad("deep", "[" * 100_000, namespace="ns1"))
    (world.networks / "bomb.json").write_text("[" * 100_000)   # a whole file: reported, others still load
    (world.networks / "bomb.yaml").write_text("[" * 100_000)
    reply = world.call("ADD", world.conf(delegates=[{"cniVersion": "1.0.0", "name": "c", "type": "pa"}]),
                       annotations={"k8s.v1.cni.cncf.io/networks": "deep"})
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 7 and "ns1/deep" in err["msg"], err
    assert world.journal_ids() == []


# ---- GC --------------------------------------------------------------------------------------
MALFORMED_GC = {
    "missing": {},
    "object": {"cni.dev/valid-attachments": {"containerID": "ctr1", "ifname": "eth0"}},
    "string": {"cni.dev/valid-attachments": "ctr1"},
    "no ifname": {"cni.dev/valid-attachments": [{"containerID": "ctr1"}]},
    "no containerID": {"cni.dev/valid-attachments": [{"ifname": "eth0"}]},
    "number id": {"cni.dev/valid-attachments": [{"containerID": 1, "ifname": "eth0"}]},
    "not objects": {"cni.dev/valid-attachments": ["ctr1"]},
    "legacy key malformed": {"cni.dev/attachments": [{"containerID": "ctr1"}]},
}


@pytest.mark.parametrize("case", MALFORMED_GC)
def test_malformed_gc_deletes_nothing(fake_plugins, tmp_path: Path, case: str) -> None:
    plugin = fake_plugins.make("pa")
    for cid in ("ctr1", "ctr2"):
        assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"), cid=cid)[0] == 0
    body = {**conf(tmp_path, "pa"), **MALFORMED_GC[case]}
    reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(body).encode())
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 7 and "nothing was deleted" in err["msg"]
    assert plugin.commands() == ["ADD", "ADD"]
    assert sorted(JournalStore(str(tmp_path / "state")).list_ids()) == ["ctr1", "ctr2"]


def test_gc_with_null_valid_attachments_deletes_all(fake_plugins, tmp_path: Path) -> None:
    """libcni sends an empty Go slice as null: no sandbox left, every attachment is stale."""
    plugin = fake_plugins.make("pa")
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    body = {**conf(tmp_path, "pa"), "cni.dev/valid-attachments": None}
    reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(body).encode())
    assert (reply.exit_code, reply.stdout) == (0, "")
    assert plugin.commands() == ["ADD", "DEL"] and JournalStore(str(tmp_path / "state")).list_ids() == []


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_well_formed_gc_deletes_only_the_stale(fake_plugins, tmp_path: Path, key: str) -> None:
    plugin = fake_plugins.make("pa")
    for cid in ("ctr1", "ctr2"):
        assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"), cid=cid)[0] == 0
    body = {**conf(tmp_path, "pa"), key: [{"containerID": "ctr1", "ifname": "eth0"}]}
    reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(body).encode())
    assert (reply.exit_code, reply.stdout) == (0, "")
    assert plugin.commands() == ["ADD", "ADD", "DEL"]
    assert JournalStore(str(tmp_path / "state")).list_ids() == ["ctr1"]


# ---- pod identity ----------------------------------------------------------------------------
BAD_IDENTITIES = [
    "K8S_POD_NAMESPACE=../../../x/esc;K8S_POD_NAME=p",
    "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=../../etc/passwd",
    "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=a/b",
    "K8S_POD_NAMESPACE=UPPER;K8S_POD_NAME=p",
    "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=" + "a" * 254,
    "K8S_POD_NAMESPACE=" + "a" * 64 + ";K8S_POD_NAME=p",
]


@pytest.mark.parametrize("args", BAD_IDENTITIES)
@pytest.mark.parametrize("command", ["ADD", "CHECK", "STATUS"])
def test_pod_identity_that_is_not_a_kubernetes_name_is_refused(fake_plugins, tmp_path: Path, args: str,
                                                                command: str) -> None:
    plugin = fake_plugins.make("pa")
    code, err = call(command, fake_plugins.dir, conf(tmp_path, "pa"), args=f"IgnoreUnknown=1;{args}")
    assert code == 1 and err is not None and err["code"] == 4
    bad_key = "K8S_POD_NAMESPACE" if "NAMESPACE=ns1" not in args else "K8S_POD_NAME"
    assert bad_key in err["msg"]
    assert plugin.commands() == [] and state_files(tmp_path) == []


def test_status_file_cannot_escape_the_state_dir(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    escape = tmp_path / "x"
    args = f"K8S_POD_NAMESPACE=../../{escape.relative_to('/')}/esc;K8S_POD_NAME=p"
    code, _ = call("ADD", fake_plugins.dir, conf(tmp_path, "pa"), args=args)
    assert code == 1 and not escape.exists() and not list(tmp_path.rglob("*esc*"))


def test_del_with_an_invalid_pod_identity_goes_on_by_container_id(fake_plugins, tmp_path: Path) -> None:
    plugin = fake_plugins.make("pa")
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    # the runtime's DEL carries a mangled identity: the journal (keyed by container ID) still drives it
    code, out = call("DEL", fake_plugins.dir, conf(tmp_path, "pa"), args="K8S_POD_NAMESPACE=../x;K8S_POD_NAME=p")
    assert (code, out) == (0, None)
    assert plugin.commands() == ["ADD", "DEL"]
    dele = plugin.calls()[-1]
    assert "K8S_POD_NAMESPACE=ns1" in dele["env"]["CNI_ARGS"]   # the ADD's identity, from the journal
    assert state_files(tmp_path) == []
    # and with nothing recorded: succeeds, runs the delegates' DEL without the identity, writes nothing
    code, out = call("DEL", fake_plugins.dir, conf(tmp_path, "pa"), args="K8S_POD_NAMESPACE=../x;K8S_POD_NAME=p")
    assert (code, out) == (0, None)
    assert "K8S_POD" not in plugin.calls()[-1]["env"].get("CNI_ARGS", "")
    assert state_files(tmp_path) == []


# ---- container ID, read-only state --------------------------------------------------------------
def test_container_id_too_long_for_a_file_name_is_invalid_env(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    for command in ("ADD", "DEL"):
        code, err = call(command, fake_plugins.dir, conf(tmp_path, "pa"), cid="a" * 256)
        assert code == 1 and err is not None and err["code"] == 4 and "CNI_CONTAINERID" in err["msg"]
    assert state_files(tmp_path) == []


def test_unusable_lock_dir_is_a_state_error(fake_plugins, tmp_path: Path) -> None:
    plugin = fake_plugins.make("pa")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "locks").write_text("not a directory")
    code, err = call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))
    assert code == 1 and err is not None and err["code"] == 109 and "ctr1" in err["msg"]
    assert plugin.commands() == []


# ---- files a pod leaves ------------------------------------------------------------------------
def test_lock_file_lives_only_while_something_is_recorded(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    fake_plugins.make("bad", fail={"ADD": (7, "no")})
    locks = tmp_path / "state" / "locks"
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    assert [p.name for p in locks.iterdir()] == ["ctr1.lock"]
    assert call("DEL", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa", "bad"), cid="ctr2")[0] == 1  # rolled back
    assert call("DEL", fake_plugins.dir, conf(tmp_path, "pa"), cid="never-added")[0] == 0
    assert list(locks.iterdir()) == []


def test_lock_file_removal_keeps_mutual_exclusion(tmp_path: Path) -> None:
    """Every holder unlinks the lock file on release (nothing is recorded): a waiter that got
    the old inode must not run beside one that created the new file."""
    store = JournalStore(str(tmp_path / "state"))
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps
        for _ in range(150):
            with store.container_lock("c1"):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.0002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0
    assert list((tmp_path / "state" / "locks").iterdir()) == []


def test_journal_temp_files_of_a_killed_writer_are_cleaned_by_gc(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    attachments = tmp_path / "state" / "attachments"
    left = [attachments / ".ctr1.json.k3j2h1g0.tmp", attachments / ".gone.json.a1b2c3d4.tmp"]
    for path in left:
        path.write_text("{")
    store = JournalStore(str(tmp_path / "state"))
    with store.container_lock("ctr1"):       # a live writer of ctr1: its temp file stays
        assert store.clean_temp_files() == 1
    assert left[0].exists() and not left[1].exists()
    body = {**conf(tmp_path, "pa"), "cni.dev/valid-attachments": [{"containerID": "ctr1", "ifname": "eth0"}]}
    reply = handle({"CNI_COMMAND": "GC", "CNI_PATH": str(fake_plugins.dir)}, json.dumps(body).encode())
    assert reply.exit_code == 0 and not left[0].exists()
    assert sorted(p.name for p in attachments.iterdir()) == ["ctr1.json"]
    assert sorted(p.name for p in (tmp_path / "state" / "locks").iterdir()) == ["ctr1.lock"]


def test_status_files_are_not_world_readable(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    old = os.umask(0)   # whatever the caller's umask
    try:
        assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"))[0] == 0
    finally:
        os.umask(old)
    status = tmp_path / "state" / "status" / "ns1_pod1.json"
    assert stat.S_IMODE(status.stat().st_mode) == 0o640
    assert stat.S_IMODE(status.parent.stat().st_mode) == 0o750
    status.parent.chmod(0o755)   # as an older version left it
    assert call("ADD", fake_plugins.dir, conf(tmp_path, "pa"), cid="ctr2")[0] == 0
    assert stat.S_IMODE(status.parent.stat().st_mode) == 0o750


# ---- networks per pod ------------------------------------------------------------------------
def test_max_attachments_refuses_before_any_delegate_runs(fake_plugins, tmp_path: Path) -> None:
    names = [f"p{i}" for i in range(5)]
    plugins = [fake_plugins.make(n) for n in names]
    code, err = call("ADD", fake_plugins.dir, conf(tmp_path, *names, maxAttachments=4))
    assert code == 1 and err is not None and err["code"] == 7
    assert "pod ns1/pod1" in err["msg"] and "5 network attachments" in err["msg"] and "maxAttachments=4" in err["msg"]
    assert all(p.commands() == [] for p in plugins) and state_files(tmp_path) == []


def test_default_max_attachments_is_32(fake_plugins, tmp_path: Path) -> None:
    fake_plugins.make("pa")
    code, err = call("ADD", fake_plugins.dir, conf(tmp_path, *(["pa"] * 33), parallel=False))
    assert code == 1 and err is not None and "33 network attachments" in err["msg"] and "=32" in err["msg"]


def test_max_parallel_delegates_bounds_one_pods_secondaries(tmp_path: Path) -> None:
    log = tmp_path / "trace.jsonl"
    make_tracer(tmp_path / "plugins", "tracer", log, sleep={"ADD": 0.15})
    code, _ = call("ADD", tmp_path / "plugins", conf(tmp_path, *(["tracer"] * 7), maxParallelDelegates=2))
    assert code == 0
    adds = [c for c in intervals(log) if c["cmd"] == "ADD"]
    first_end = min(c["end"] for c in adds)   # the cluster network runs alone, before the others
    secondaries = [c for c in adds if c["start"] >= first_end]
    assert len(adds) == 7 and len(secondaries) == 6
    assert max_overlap(secondaries) == 2   # parallel, but never more than two at once
