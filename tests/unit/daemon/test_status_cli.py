"""`multus-dp status` asks the running daemon; without one it lists the journals as before."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from multus_dp.cli import main
from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon
from tests.support.daemonproc import make_tracer


def add(client: DaemonClient, tmp_path: Path, cid: str) -> int:
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": str(tmp_path / "plugins"), "CNI_ARGS": f"K8S_POD_NAMESPACE=web;K8S_POD_NAME={cid}"}
    conf = {"cniVersion": "1.0.0", "name": "m", "stateDir": str(tmp_path / "state"),
            # no cniVersion: the one kind of config whose plugin is VERSION-probed (and cached)
            "delegates": [{"name": "net-a", "type": "tracer"}]}
    return client.cni(env, json.dumps(conf).encode()).exit_code


def test_status_shows_the_daemon_in_flight_work_and_attachments(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    make_tracer(tmp_path / "plugins", "tracer", tmp_path / "trace.jsonl", sleep={"ADD": 1.0})
    daemon = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                                 metricsAddress=""))
    daemon.start()
    try:
        client = DaemonClient(daemon.config.socketPath)
        slow = threading.Thread(target=add, args=(client, tmp_path, "slowpod"))
        slow.start()
        deadline = time.monotonic() + 30  # bounded: a failed ADD must not hang the suite
        while not (tmp_path / "trace.jsonl").exists() and slow.is_alive() and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        busy = client.status()
        assert [(r["command"], r["pod"], r["container"]) for r in busy["inFlight"]] == \
            [("ADD", "pod web/slowpod", "slowpod")]
        slow.join(30)
        assert main(["status", "--socket", daemon.config.socketPath]) == 0
        out = capsys.readouterr().out
        assert "ready: yes" in out and "in flight: 0 of max 16" in out
        assert "web/slowpod" in out and "net-a" in out and "added" in out
        assert main(["status", "--socket", daemon.config.socketPath, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert set(report) == {"daemon", "daemonError", "attachments"} and report["daemonError"] is None
        state = report["daemon"]
        assert state["ready"] is True and state["caches"]["delegateVersions"] == 1
    finally:
        daemon.stop()


def test_status_without_a_daemon_lists_the_journals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    socket = str(tmp_path / "none.sock")
    assert main(["status", "--socket", socket, "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert f"daemon: not reachable at {socket}" in out and "no attachments recorded" in out


def test_status_json_has_one_shape_without_a_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_tracer(tmp_path / "plugins", "tracer", tmp_path / "trace.jsonl")
    daemon = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                                 metricsAddress=""))
    daemon.start()
    try:
        assert add(DaemonClient(daemon.config.socketPath), tmp_path, "pod1") == 0
    finally:
        daemon.stop()
    socket = str(tmp_path / "run" / "d.sock")
    assert main(["status", "--socket", socket, "--state-dir", str(tmp_path / "state"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"daemon", "daemonError", "attachments"}
    assert report["daemon"] is None and report["daemonError"].startswith(f"not reachable at {socket}")
    assert [(a["containerID"], a["pod"]["name"]) for a in report["attachments"]] == [("pod1", "pod1")]
