"""The daemon in-process on a temp socket, driven through its HTTP protocol with tracing
delegates: serialization per container, bounded concurrency, GC alone, readiness, status,
metrics."""
from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon, DaemonError
from tests.support.daemonproc import intervals, make_tracer, max_overlap


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    return tmp_path / "plugins"


def start_daemon(tmp_path: Path, **keys: object) -> Daemon:
    keys = {"socketPath": str(tmp_path / "run" / "d.sock"), "stateDir": str(tmp_path / "state"),
            "metricsAddress": "", **keys}
    config = DaemonConfig.model_validate(keys)
    daemon = Daemon(config)
    daemon.start()
    return daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_daemon(tmp_path, maxConcurrency=3)
    yield d
    d.stop()


def conf(tmp_path: Path, plugin: str = "tracer", **extra: object) -> dict:
    return {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state"),
            "delegates": [{"cniVersion": "1.0.0", "name": "net-a", "type": plugin}], **extra}


def cni(client: DaemonClient, command: str, cid: str, plugins: Path, body: dict) -> tuple[int, dict | None]:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/none",
           "CNI_IFNAME": "eth0", "CNI_PATH": str(plugins), "CNI_ARGS": f"K8S_POD_NAMESPACE=ns;K8S_POD_NAME={cid}"}
    reply = client.cni(env, json.dumps(body).encode())
    return reply.exit_code, json.loads(reply.stdout) if reply.stdout.strip() else None


def test_socket_is_0600_in_a_0700_directory(daemon: Daemon) -> None:
    path = Path(daemon.config.socketPath)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_add_check_del_through_the_socket(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    log = tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log)
    client = DaemonClient(daemon.config.socketPath)
    code, result = cni(client, "ADD", "c1", plugins, conf(tmp_path))
    assert code == 0 and result["ips"][0]["address"] == "10.77.0.2/24"
    assert client.status()["attachments"][0]["networks"] == [{"network": "net-a", "interface": "eth0",
                                                               "state": "added"}]
    assert cni(client, "CHECK", "c1", plugins, conf(tmp_path)) == (0, None)
    assert cni(client, "DEL", "c1", plugins, conf(tmp_path)) == (0, None)
    assert [c["cmd"] for c in intervals(log)] == ["ADD", "CHECK", "DEL"]
    assert client.status()["attachments"] == []


def test_error_reply_is_the_cni_error_and_is_counted(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    client = DaemonClient(daemon.config.socketPath)
    code, err = cni(client, "ADD", "c1", plugins, conf(tmp_path, plugin="missing-plugin"))
    assert code == 1 and err["code"] == 104 and "missing-plugin" in err["msg"]
    metrics = client.metrics()
    assert 'multus_dp_cni_errors_total{code="104",command="ADD"} 1.0' in metrics
    assert 'multus_dp_cni_request_duration_seconds_count{command="ADD"} 1.0' in metrics


def test_same_container_is_serialized(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    log = tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log, sleep={"ADD": 0.3, "DEL": 0.3})
    client = DaemonClient(daemon.config.socketPath)
    commands = ["ADD", "DEL", "ADD", "DEL", "ADD", "DEL"]
    with ThreadPoolExecutor(len(commands)) as pool:
        codes = list(pool.map(lambda c: cni(client, c, "same", plugins, conf(tmp_path))[0], commands))
    calls = [c for c in intervals(log) if c["cid"] == "same"]
    assert calls and max_overlap(calls) == 1
    # every DEL succeeds; each ADD either attaches or finds the container attached (111)
    assert [code for c, code in zip(commands, codes, strict=True) if c == "DEL"] == [0, 0, 0]
    assert codes.count(0) >= 4
    assert cni(client, "DEL", "same", plugins, conf(tmp_path))[0] == 0
    assert client.status()["attachments"] == []


def test_concurrency_is_bounded_by_max_concurrency(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    log = tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log, sleep={"ADD": 0.5})
    client = DaemonClient(daemon.config.socketPath)
    cids = [f"c{i}" for i in range(8)]
    with ThreadPoolExecutor(len(cids)) as pool:
        codes = list(pool.map(lambda cid: cni(client, "ADD", cid, plugins, conf(tmp_path))[0], cids))
    assert codes == [0] * len(cids)
    calls = intervals(log)
    assert len(calls) == 8
    assert max_overlap(calls) == daemon.config.maxConcurrency


def test_gc_never_runs_beside_add(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    log = tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log, sleep={"ADD": 0.4, "DEL": 0.1})
    client = DaemonClient(daemon.config.socketPath)
    assert cni(client, "ADD", "stale", plugins, conf(tmp_path))[0] == 0
    gc_conf = conf(tmp_path, **{"cni.dev/valid-attachments": [{"containerID": "busy", "ifname": "eth0"}]})
    started = threading.Event()

    def add_busy() -> int:
        started.set()
        return cni(client, "ADD", "busy", plugins, conf(tmp_path))[0]

    with ThreadPoolExecutor(2) as pool:
        add = pool.submit(add_busy)
        started.wait()
        gc = pool.submit(cni, client, "GC", "", plugins, gc_conf)
        assert add.result() == 0 and gc.result()[0] == 0
    calls = intervals(log)
    busy_add = next(c for c in calls if c["cid"] == "busy" and c["cmd"] == "ADD")
    gc_del = next(c for c in calls if c["cid"] == "stale" and c["cmd"] == "DEL")
    assert gc_del["start"] > busy_add["end"] or gc_del["end"] < busy_add["start"]
    assert [a["containerID"] for a in client.status()["attachments"]] == ["busy"]


def test_queue_full_answers_try_again_later(tmp_path: Path, plugins: Path) -> None:
    daemon = start_daemon(tmp_path, maxConcurrency=1, maxQueue=0)
    try:
        log = tmp_path / "trace.jsonl"
        make_tracer(plugins, "tracer", log, sleep={"ADD": 0.5})
        client = DaemonClient(daemon.config.socketPath)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(cni, client, "ADD", "c1", plugins, conf(tmp_path))
            deadline = time.monotonic() + 30
            while not log.exists() and not first.done() and time.monotonic() < deadline:
                threading.Event().wait(0.01)  # bounded: a failed first ADD must not hang the suite
            assert log.exists(), f"the first ADD never reached its delegate: {first.result() if first.done() else 'still running'}"
            code, err = cni(client, "ADD", "c2", plugins, conf(tmp_path))
            assert first.result()[0] == 0
        assert code == 1 and err["code"] == 11 and "ns/c2" in err["msg"] and "maxConcurrency" in err["msg"]
        assert [c["cid"] for c in intervals(log)] == ["c1"]
    finally:
        daemon.stop()


def test_readiness_follows_the_indicator_file(tmp_path: Path, plugins: Path) -> None:
    indicator = tmp_path / "primary-ready"
    daemon = start_daemon(tmp_path, readinessindicatorfile=str(indicator))
    try:
        make_tracer(plugins, "tracer", tmp_path / "trace.jsonl")
        client = DaemonClient(daemon.config.socketPath)
        ready, reason = client.ready()
        assert not ready and str(indicator) in reason
        assert client.healthy()
        code, err = cni(client, "ADD", "c1", plugins, conf(tmp_path))
        assert code == 1 and err["code"] == 11 and str(indicator) in err["msg"]
        indicator.write_text("")
        assert client.ready() == (True, "ready")
        assert cni(client, "ADD", "c1", plugins, conf(tmp_path))[0] == 0
        indicator.unlink()
        assert cni(client, "DEL", "c1", plugins, conf(tmp_path))[0] == 0, "DEL works while not ready"
    finally:
        daemon.stop()


def test_phase_metrics_per_delegate_type(daemon: Daemon, tmp_path: Path, plugins: Path) -> None:
    make_tracer(plugins, "tracer", tmp_path / "trace.jsonl")
    client = DaemonClient(daemon.config.socketPath)
    assert cni(client, "ADD", "c1", plugins, conf(tmp_path))[0] == 0
    metrics = client.metrics()
    for phase in ('phase="selection",type=""', 'phase="delegate",type="tracer"', 'phase="publish",type=""'):
        assert f"multus_dp_phase_duration_seconds_count{{{phase}}} 1.0" in metrics
    assert "multus_dp_cni_requests_in_flight 0.0" in metrics


def test_metrics_listener_on_its_own_address(tmp_path: Path) -> None:
    import urllib.request

    daemon = start_daemon(tmp_path, metricsAddress="127.0.0.1:0")
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=10).read().decode()
        assert "multus_dp_cni_requests_in_flight" in body
    finally:
        daemon.stop()
    assert not os.path.exists(daemon.config.socketPath)


def test_second_daemon_on_the_same_socket_refuses(daemon: Daemon, tmp_path: Path) -> None:
    other = Daemon(DaemonConfig(socketPath=daemon.config.socketPath, metricsAddress=""))
    with pytest.raises(DaemonError, match="already serving"):
        other.start()
    assert DaemonClient(daemon.config.socketPath).healthy()


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "run" / "d.sock"
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # a socket file nobody listens on: what a killed daemon leaves
    daemon = start_daemon(tmp_path)
    try:
        assert DaemonClient(str(path)).healthy()
    finally:
        daemon.stop()


def test_unknown_endpoint_and_bad_request(daemon: Daemon) -> None:
    from multus_dp.daemon.protocol import UnixHTTPConnection

    conn = UnixHTTPConnection(daemon.config.socketPath, 10)
    conn.request("GET", "/nope")
    resp = conn.getresponse()
    assert resp.status == 404 and b"/status" in resp.read()
    conn.close()
    conn = UnixHTTPConnection(daemon.config.socketPath, 10)
    conn.putrequest("POST", "/cni")
    conn.endheaders()
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 400 and resp.getheader("CNI-Exit-Code") == "1" and body["code"] == 5
    conn.close()


def test_a_client_that_never_finishes_its_request_is_cut_off(tmp_path: Path) -> None:
    import socket

    daemon = start_daemon(tmp_path, readTimeout=0.2)
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(daemon.config.socketPath)
        sock.sendall(b"POST /cni HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # then nothing
        sock.settimeout(30)
        assert sock.recv(100) == b"", "the daemon closed the connection"
        sock.close()
        assert daemon.wait_idle(30) == [] and DaemonClient(daemon.config.socketPath).healthy()
    finally:
        daemon.stop()
