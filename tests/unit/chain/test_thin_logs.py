"""Where thin-mode logs go: `multus-dp cni` honours the config's logLevel, logFile and
logToStderr; $MULTUS_DP_LOG_LEVEL and $MULTUS_DP_LOG_FILE override them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run_add(fake_plugins, tmp_path: Path):
    fake_plugins.make("pa")
    calls = iter(range(100))

    def run(env_extra: dict[str, str] | None = None, **keys: object) -> subprocess.CompletedProcess[bytes]:
        conf = {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "stateDir": str(tmp_path / "state"),
                "binDir": "", "delegates": [{"cniVersion": "1.0.0", "name": "net-a", "type": "pa"}], **keys}
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"ctr{next(calls)}", "CNI_NETNS": "/run/netns/fake",
               "CNI_IFNAME": "eth0", "CNI_PATH": str(fake_plugins.dir), **(env_extra or {})}
        proc = subprocess.run([sys.executable, "-m", "multus_dp", "cni"], input=json.dumps(conf).encode(),
                              env=env, capture_output=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc
    return run


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_log_file_level_and_no_stderr_from_the_config(run_add, tmp_path: Path) -> None:
    log = tmp_path / "thin.log"
    proc = run_add(logLevel="debug", logFile=str(log), logToStderr=False)
    records = lines(log)
    assert any(r["msg"] == "ADD done" and r["level"] == "info" and r["container"] == "ctr0" for r in records)
    assert proc.stderr == b""


def test_a_higher_level_keeps_info_out(run_add, tmp_path: Path) -> None:
    log = tmp_path / "thin.log"
    run_add(logLevel="error", logFile=str(log))
    assert lines(log) == []


def test_stderr_by_default_at_info(run_add) -> None:
    proc = run_add()
    records = [json.loads(line) for line in proc.stderr.decode().splitlines()]
    assert any(r["msg"] == "ADD done" for r in records) and not any(r["level"] == "debug" for r in records)


def test_the_environment_wins(run_add, tmp_path: Path) -> None:
    conf_log, env_log = tmp_path / "conf.log", tmp_path / "env.log"
    run_add({"MULTUS_DP_LOG_LEVEL": "error", "MULTUS_DP_LOG_FILE": str(env_log)},
            logLevel="debug", logFile=str(conf_log), logToStderr=False)
    assert not conf_log.exists() and lines(env_log) == []
    run_add({"MULTUS_DP_LOG_LEVEL": "debug"}, logLevel="error", logFile=str(conf_log), logToStderr=False)
    assert any(r["msg"] == "ADD done" for r in lines(conf_log))
