"""The on-demand daemon's parts in-process: one process context per set of process keys, the
idle bookkeeping, serving what is queued on an idle exit, the install file, the CLI's defaults."""
from __future__ import annotations

import argparse
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from multus_dp.base import defaults
from multus_dp.daemon import cli_daemon
from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.install import (InstallError, cleanup, install_on_demand_file, on_demand_command)
from multus_dp.daemon.metrics import DaemonMetrics
from multus_dp.daemon.ondemand import OnDemandContext, process_keys_of
from multus_dp.daemon.server import Daemon
from multus_dp.networks.conf import MultusConf


def multus_conf(tmp_path: Path, **keys: object) -> MultusConf:
    return MultusConf.model_validate({"stateDir": str(tmp_path / "state"), "sysfsRoot": str(tmp_path / "sys"),
                                      **keys})


def on_demand_config(tmp_path: Path, **keys: object) -> DaemonConfig:
    return DaemonConfig.model_validate(cli_daemon.on_demand_defaults(
        {"socketPath": str(tmp_path / "run" / "d.sock"), "stateDir": str(tmp_path / "dstate"), **keys}))


def test_process_keys_ignore_what_the_request_owns(tmp_path: Path) -> None:
    a = multus_conf(tmp_path, delegates=[{"type": "x"}], delegateTimeout=3)
    b = multus_conf(tmp_path, stateDir=str(tmp_path / "other"), networksDir="/elsewhere")
    assert process_keys_of(a) == process_keys_of(b)
    assert process_keys_of(a) != process_keys_of(multus_conf(tmp_path, sysfsRoot="/other-sys"))
    assert process_keys_of(a) != process_keys_of(multus_conf(tmp_path, nodeName="node-b"))


def test_one_context_per_set_of_process_keys_none_overrides_another(tmp_path: Path) -> None:
    context = OnDemandContext(on_demand_config(tmp_path), DaemonMetrics())
    try:
        first = context.context_for(multus_conf(tmp_path, name="a"))
        assert context.context_for(multus_conf(tmp_path, name="b", stateDir=str(tmp_path / "s2"))) is first
        other = context.context_for(multus_conf(tmp_path, sysfsRoot="/other-sys"))
        assert other is not first
        assert first.keys.sysfsRoot == str(tmp_path / "sys") and other.keys.sysfsRoot == "/other-sys"
        assert context.cache_sizes()["processContexts"] == 2
        # both share the daemon's VERSION cache, kept under its state dir
        assert first.invoker.versions is context.invoker.versions is other.invoker.versions
        runner = context.runner(multus_conf(tmp_path, sysfsRoot="/other-sys"), ready=lambda: "not yet")
        assert runner.not_ready_reason() == "not yet"
    finally:
        context.stop()
    assert context.cache_sizes()["processContexts"] == 0


def _raw_cni(path: str) -> socket.socket:
    """A client that has connected (the kernel queued it) but sends only when told."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(30)
    client.connect(path)
    return client


def _send_version(client: socket.socket) -> bytes:
    body = json.dumps({"cniVersion": "1.0.0"}).encode()
    client.sendall(b"POST /cni HTTP/1.1\r\nHost: x\r\nCNI_COMMAND: VERSION\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
    client.shutdown(socket.SHUT_WR)
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_idle_exit_serves_the_connections_already_made(tmp_path: Path) -> None:
    """Many clients connected (the kernel queues them) when the idle exit begins: every one gets
    its answer (SIGTERM's stop would cut those still queued)."""
    config = on_demand_config(tmp_path, idleTimeout=60.0)
    metrics = DaemonMetrics()
    daemon = Daemon(config, OnDemandContext(config, metrics), metrics)
    daemon.start()
    clients = [_raw_cni(config.socketPath) for _ in range(128)]
    stopper = threading.Thread(target=daemon.stop, kwargs={"serve_queued": True})
    stopper.start()

    def answered(client: socket.socket) -> bool:
        try:
            reply = _send_version(client)   # sent after the idle exit began
        except OSError:
            return False
        finally:
            client.close()
        return reply.startswith(b"HTTP/1.1 200") and b"CNI-Exit-Code: 0" in reply and b"supportedVersions" in reply

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(answered, clients))
    stopper.join(30)
    assert not stopper.is_alive()
    assert outcomes.count(True) == len(clients)
    assert not Path(config.socketPath).exists()


def test_idle_seconds_count_from_the_last_connection(tmp_path: Path) -> None:
    config = on_demand_config(tmp_path)
    metrics = DaemonMetrics()
    daemon = Daemon(config, OnDemandContext(config, metrics), metrics)
    daemon.start()
    try:
        client = _raw_cni(config.socketPath)
        # while a connection is open the daemon is never idle
        for _ in range(100):
            if daemon._connections:
                break
            threading.Event().wait(0.01)
        assert daemon.idle_seconds() == 0.0
        _send_version(client)
        for _ in range(100):
            if not daemon._connections:
                break
            threading.Event().wait(0.01)
        assert daemon.idle_seconds() > 0.0
    finally:
        daemon.stop()


def test_on_demand_defaults_and_flags(tmp_path: Path) -> None:
    out = cli_daemon.on_demand_defaults({"stateDir": str(tmp_path), "idleTimeout": None, "logFile": None})
    assert out["metricsAddress"] == "" and out["idleTimeout"] == defaults.DAEMON_IDLE_TIMEOUT
    assert out["logFile"] == str(tmp_path / defaults.ON_DEMAND_LOG_NAME)
    assert out["devicePlugin"] is False
    assert cli_daemon.on_demand_defaults({"idleTimeout": 5.0})["idleTimeout"] == 5.0


def test_on_demand_takes_no_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli_daemon.configure(parser)
    args = parser.parse_args(["--on-demand", "--config", str(tmp_path / "daemon.yaml")])
    assert cli_daemon.run(args) == 2
    assert "--on-demand takes no --config" in capsys.readouterr().err


def test_the_on_demand_file_names_the_daemon_command(tmp_path: Path) -> None:
    argv = on_demand_command(30, "/var/lib/x", None, "warning", python="/usr/bin/python3")
    assert argv == ["/usr/bin/python3", "-m", "multus_dp", "daemon", "--on-demand", "--log-file",
                    f"/var/lib/x/{defaults.ON_DEMAND_LOG_NAME}", "--state-dir", "/var/lib/x", "--idle-timeout",
                    "30", "--log-level", "warning"]
    assert install_on_demand_file(tmp_path, argv) is True
    assert install_on_demand_file(tmp_path, argv) is False   # unchanged: not rewritten
    path = tmp_path / "multus-dp.on-demand"
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert lines == argv
    assert path.stat().st_mode & 0o022 == 0    # the shim refuses a file others may write
    with pytest.raises(InstallError, match="one non-empty line"):
        install_on_demand_file(tmp_path, ["/usr/bin/python3", "bad\narg"])
    with pytest.raises(InstallError, match="absolute path"):
        install_on_demand_file(tmp_path, ["python3"])
    assert tmp_path / "multus-dp.on-demand" in cleanup(tmp_path, tmp_path / "conf")
    assert not path.exists()
    assert install_on_demand_file(tmp_path, None) is False


def test_status_reports_the_sriov_of_the_contexts_requests_brought(tmp_path: Path) -> None:
    context = OnDemandContext(on_demand_config(tmp_path), DaemonMetrics())
    try:
        assert context.sriov_status() == {"ready": True, "reason": None}   # nothing asked for yet
        context.context_for(multus_conf(tmp_path, sriovExternal=True))
        assert "sriovExternal" in (context.sriov_status()["reason"] or "")
        context.context_for(multus_conf(tmp_path))                         # the built-in delegate
        assert context.sriov_status() == {"ready": True, "reason": None}
    finally:
        context.stop()


def test_a_context_keeps_its_hardware_model_across_requests(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    context = OnDemandContext(on_demand_config(tmp_path, udev=False), DaemonMetrics())
    try:
        sriov = context.context_for(multus_conf(tmp_path)).sriov
        assert sriov is not None
        # discovered once when the context was built, then kept current: not a sysfs scan per lookup
        assert sriov.inventory() is sriov.inventory()
    finally:
        context.stop()
