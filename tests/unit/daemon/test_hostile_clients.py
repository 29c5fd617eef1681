"""The daemon against hostile or careless local clients: a socket directory others can write, a
nesting bomb through the shim, a shim killed before its reply, a socket served by someone else."""
from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.server import Daemon, DaemonError
from tests.support.daemonproc import make_tracer, require_shim, run_shim


def start_daemon(tmp_path: Path, socket_path: Path | None = None) -> Daemon:
    daemon = Daemon(DaemonConfig(socketPath=str(socket_path or tmp_path / "run" / "d.sock"),
                                 stateDir=str(tmp_path / "state"), metricsAddress=""))
    daemon.start()
    return daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_daemon(tmp_path)
    yield d
    d.stop()


# ---- the socket directory ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o722])
def test_daemon_refuses_a_socket_directory_others_can_write(tmp_path: Path, mode: int) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(mode)
    with pytest.raises(DaemonError, match=rf"{run} is writable by .*mode {mode:04o}"):
        start_daemon(tmp_path)
    assert list(run.iterdir()) == []


def test_daemon_refuses_a_writable_parent(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)   # not sticky: anyone may rename `run` away and put their own there
    with pytest.raises(DaemonError, match=rf"{shared} is writable by group and others"):
        start_daemon(tmp_path, shared / "run" / "d.sock")


def test_sticky_parent_is_fine_and_missing_dirs_get_safe_modes(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)   # like /tmp: others cannot rename what is ours in it
    old = os.umask(0)       # created directories must not inherit a careless umask
    try:
        daemon = start_daemon(tmp_path, sticky / "a" / "b" / "d.sock")
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE((sticky / "a").stat().st_mode) == 0o755
        assert stat.S_IMODE((sticky / "a" / "b").stat().st_mode) == 0o700
        assert stat.S_IMODE((sticky / "a" / "b" / "d.sock").stat().st_mode) == 0o600
    finally:
        daemon.stop()


def test_daemon_refuses_a_symlinked_socket_directory_into_an_open_one(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (tmp_path / "run").symlink_to(open_dir)
    with pytest.raises(DaemonError, match="writable by"):
        start_daemon(tmp_path)


# ---- bombs and vanished clients ----------------------------------------------------------------
def test_nesting_bomb_through_the_shim_is_code_6_not_11(daemon: Daemon, tmp_path: Path) -> None:
    shim = require_shim()
    proc = run_shim(shim, "ADD", b"[" * 100_000, container="c1", netns="/x", cni_path=str(tmp_path),
                    extra_env={"MULTUS_DP_SOCKET": daemon.config.socketPath})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 6, proc.stdout
    assert daemon.wait_idle(10) == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_gone_before_its_reply_is_one_info_line(daemon: Daemon, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    make_tracer(tmp_path / "plugins", "tracer", trace, sleep={"ADD": 0.5})
    records = _Records()
    logger = logging.getLogger("multus_dp.daemon")
    logger.addHandler(records)
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.DEBUG)
    logger.disabled = False   # a library's logging.config call earlier in the session may have disabled it
    try:
        body = json.dumps({"cniVersion": "1.0.0", "name": "m", "stateDir": str(tmp_path / "state"),
                           "delegates": [{"cniVersion": "1.0.0", "name": "a", "type": "tracer"}]}).encode()
        head = (f"POST /cni HTTP/1.1\r\nContent-Length: {len(body)}\r\nCNI_COMMAND: ADD\r\nCNI_CONTAINERID: c1\r\n"
                f"CNI_NETNS: /x\r\nCNI_IFNAME: eth0\r\nCNI_PATH: {tmp_path / 'plugins'}\r\n\r\n").encode()
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(daemon.config.socketPath)
        sock.sendall(head + body)
        sock.close()   # what a killed shim does
        # the delegate ran (so the connection was accepted and counted); then wait for the reply attempt
        deadline = time.monotonic() + 30
        while '"end"' not in (trace.read_text() if trace.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert daemon.wait_idle(30) == []
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
        logger.disabled = disabled
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    gone = [r for r in records.records if "went away" in r.getMessage()]
    assert errors == [] and len(gone) == 1 and gone[0].levelno == logging.INFO and gone[0].exc_info is None


# ---- the shim's trust in the socket (impostors run by a real other user: integration tier) -------
def test_shim_refuses_a_bad_socket_uid_setting(tmp_path: Path) -> None:
    proc = run_shim(require_shim(), "DEL", {"cniVersion": "1.0.0"}, container="c1",
                    extra_env={"MULTUS_DP_SOCKET": str(tmp_path / "d.sock"), "MULTUS_DP_SOCKET_UID": "root"})
    err = json.loads(proc.stdout)
    assert proc.returncode == 1 and err["code"] == 4 and "MULTUS_DP_SOCKET_UID" in err["msg"]
