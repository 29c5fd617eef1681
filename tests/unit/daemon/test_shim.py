"""The native shim exec'd as a runtime execs a CNI plugin, against an in-process daemon."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.server import Daemon
from tests.support.daemonproc import intervals, make_tracer, require_shim, run_shim


@pytest.fixture
def shim() -> str:
    return require_shim()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                            metricsAddress=""))
    d.start()
    yield d
    d.stop()


def conf(tmp_path: Path, **extra: object) -> dict:
    return {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state"),
            "delegates": [{"cniVersion": "1.0.0", "name": "net-a", "type": "tracer"}], **extra}


def test_version_round_trip(shim: str, daemon: Daemon) -> None:
    proc = run_shim(shim, "VERSION", {"cniVersion": "0.4.0", "socketPath": daemon.config.socketPath})
    assert proc.returncode == 0, proc.stdout
    reply = json.loads(proc.stdout)
    assert reply["cniVersion"] == "0.4.0" and "1.1.0" in reply["supportedVersions"]


def test_add_check_del_forward_env_and_stdin(shim: str, daemon: Daemon, tmp_path: Path) -> None:
    log = tmp_path / "trace.jsonl"
    plugins = tmp_path / "plugins"
    make_tracer(plugins, "tracer", log)
    body = conf(tmp_path, socketPath=daemon.config.socketPath)
    common = {"container": "c1", "netns": "/var/run/netns/x", "cni_path": str(plugins),
              "args": "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1"}
    add = run_shim(shim, "ADD", body, **common)
    assert add.returncode == 0, add.stdout
    assert json.loads(add.stdout)["ips"][0]["address"] == "10.77.0.2/24"
    assert add.stdout.endswith("\n") and add.stderr == ""
    check = run_shim(shim, "CHECK", body, **common)
    assert (check.returncode, check.stdout) == (0, "")
    delete = run_shim(shim, "DEL", body, **common)
    assert (delete.returncode, delete.stdout) == (0, "")
    assert [(c["cmd"], c["cid"]) for c in intervals(log)] == [("ADD", "c1"), ("CHECK", "c1"), ("DEL", "c1")]


def test_plugin_error_passes_through_with_its_exit_status(shim: str, daemon: Daemon, tmp_path: Path) -> None:
    proc = run_shim(shim, "ADD", conf(tmp_path, socketPath=daemon.config.socketPath), container="c1",
                    netns="/var/run/netns/x", cni_path=str(tmp_path / "empty"))
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["code"] == 104 and "tracer" in err["msg"] and err["cniVersion"] == "1.0.0"


def test_env_socket_wins_over_the_config(shim: str, daemon: Daemon, tmp_path: Path) -> None:
    proc = run_shim(shim, "VERSION", {"cniVersion": "1.0.0", "socketPath": str(tmp_path / "wrong.sock")},
                    extra_env={"MULTUS_DP_SOCKET": daemon.config.socketPath})
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"])
def test_daemon_not_running_is_code_11_for_every_command(shim: str, tmp_path: Path, command: str) -> None:
    sock = tmp_path / "run" / "gone.sock"
    proc = run_shim(shim, command, {"cniVersion": "1.0.0", "socketPath": str(sock)}, container="c1",
                    netns="/var/run/netns/x")
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["code"] == 11 and err["cniVersion"] == "1.0.0"
    assert command in err["msg"] and str(sock) in err["msg"] and "No such file" in err["msg"]
    assert "multus-dp daemon runs on this node" in err["details"]


def test_socket_refusing_connections_is_code_11(shim: str, tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()
    proc = run_shim(shim, "DEL", {"cniVersion": "1.0.0"}, container="c1",
                    extra_env={"MULTUS_DP_SOCKET": str(path)})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 11 and "Connection refused" in err["msg"]


def _fake_server(path: Path, reply: bytes | None) -> socket.socket:
    """A listener that answers every connection with `reply` (None: never answers)."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(4)

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        if reply is not None:
            conn.recv(65536)
            conn.sendall(reply)
            conn.close()
        else:
            threading.Event().wait(10)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_no_reply_within_the_timeout_is_code_11(shim: str, tmp_path: Path) -> None:
    path = tmp_path / "slow.sock"
    srv = _fake_server(path, None)
    try:
        proc = run_shim(shim, "ADD", {"cniVersion": "1.0.0", "daemonTimeout": 0.3}, container="c1",
                        netns="/x", extra_env={"MULTUS_DP_SOCKET": str(path)})
    finally:
        srv.close()
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 11 and "within 0.3 s" in err["msg"]


def test_a_reply_that_is_not_from_the_daemon_is_code_11(shim: str, tmp_path: Path) -> None:
    path = tmp_path / "other.sock"
    srv = _fake_server(path, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    try:
        proc = run_shim(shim, "DEL", {"cniVersion": "0.4.0"}, container="c1",
                        extra_env={"MULTUS_DP_SOCKET": str(path)})
    finally:
        srv.close()
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 11 and "CNI-Exit-Code" in err["msg"]


def test_exit_code_and_body_come_from_the_reply(shim: str, tmp_path: Path) -> None:
    path = tmp_path / "scripted.sock"
    body = b'{"code": 7, "msg": "bad"}\n'
    srv = _fake_server(path, b"HTTP/1.1 200 OK\r\nCNI-Exit-Code: 3\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    try:
        proc = run_shim(shim, "ADD", {"cniVersion": "1.0.0"}, container="c1", netns="/x",
                        extra_env={"MULTUS_DP_SOCKET": str(path)})
    finally:
        srv.close()
    assert (proc.returncode, proc.stdout) == (3, body.decode())


def test_line_break_in_a_cni_variable_is_refused_locally(shim: str, tmp_path: Path) -> None:
    proc = run_shim(shim, "ADD", {"cniVersion": "1.0.0"}, container="c1", netns="/x",
                    args="K8S_POD_NAME=a\r\nInjected: yes", extra_env={"MULTUS_DP_SOCKET": str(tmp_path / "none")})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 4 and "CNI_ARGS" in err["msg"]


def test_bad_timeout_env_is_invalid_env(shim: str) -> None:
    proc = run_shim(shim, "DEL", {"cniVersion": "1.0.0"}, extra_env={"MULTUS_DP_TIMEOUT": "soon"})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 4 and "MULTUS_DP_TIMEOUT" in err["msg"]


def test_installed_shim_finds_a_non_default_socket_from_install(daemon: Daemon, tmp_path: Path) -> None:
    """libcni (podman) checks a conflist with VERSION and only {"cniVersion"} on stdin: the
    shim installed with `--socket` still reaches that daemon, through its socket file."""
    import subprocess
    import sys

    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "10-primary.conf").write_text(json.dumps({"cniVersion": "1.0.0", "name": "p", "type": "bridge"}))
    done = subprocess.run([sys.executable, "-m", "multus_dp", "install", "--bin-dir", str(bin_dir), "--conf-dir",
                           str(conf_dir), "--socket", daemon.config.socketPath], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (bin_dir / "multus-dp.socket").read_text().strip() == daemon.config.socketPath
    proc = run_shim(str(bin_dir / "multus-dp"), "VERSION", {"cniVersion": "1.0.0"})
    assert proc.returncode == 0 and json.loads(proc.stdout)["cniVersion"] == "1.0.0", proc.stdout
    cleaned = subprocess.run([sys.executable, "-m", "multus_dp", "install", "--cleanup", "--bin-dir", str(bin_dir),
                              "--conf-dir", str(conf_dir)], capture_output=True, text=True)
    assert cleaned.returncode == 0 and not list(bin_dir.iterdir()), cleaned.stdout
