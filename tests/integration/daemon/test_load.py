"""The daemon under load, through the real shim: 100 pods at once, one container hammered
from several callers, SIGTERM in the middle of a burst. Delegates are tracing fakes (they
record when each call starts and ends) so the runs fit CI's two cores."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.daemonproc import DaemonProcess, intervals, make_tracer, max_overlap, require_shim, run_shim


def conf(tmp_path: Path, socket: str) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "load", "type": "multus-dp", "socketPath": socket,
            "stateDir": str(tmp_path / "state"),
            "delegates": [{"cniVersion": "1.0.0", "name": "traced", "type": "tracer"}]}


def call(shim: str, command: str, body: dict[str, Any], container: str, plugins: Path) -> tuple[int, str]:
    proc = run_shim(shim, command, body, container=container, netns=f"/var/run/netns/{container}",
                    cni_path=str(plugins), args=f"K8S_POD_NAMESPACE=load;K8S_POD_NAME={container}")
    return proc.returncode, proc.stdout


def leftovers(tmp_path: Path) -> list[Path]:
    return [p for sub in ("attachments", "status") for p in (tmp_path / "state" / sub).glob("*.json")]


def test_100_concurrent_add_del_for_distinct_containers(tmp_path: Path) -> None:
    shim = require_shim()
    plugins, log = tmp_path / "plugins", tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log)
    with DaemonProcess(tmp_path / "d", maxConcurrency=8) as daemon:
        body = conf(tmp_path, daemon.socket)

        def pod(i: int) -> tuple[int, int, str]:
            add = call(shim, "ADD", body, f"load{i:03d}", plugins)
            delete = call(shim, "DEL", body, f"load{i:03d}", plugins)
            return add[0], delete[0], add[1] + delete[1]

        with ThreadPoolExecutor(100) as pool:
            outcomes = list(pool.map(pod, range(100)))
        failures = [o for o in outcomes if o[:2] != (0, 0)]
        assert not failures, failures[:3]
        status = json.loads(run_shim(shim, "VERSION", body).stdout)  # the daemon still answers
        assert "1.1.0" in status["supportedVersions"]
    calls = intervals(log)
    adds = sorted(c["cid"] for c in calls if c["cmd"] == "ADD")
    dels = sorted(c["cid"] for c in calls if c["cmd"] == "DEL")
    assert adds == dels == [f"load{i:03d}" for i in range(100)]
    assert max_overlap(calls) <= 8
    assert leftovers(tmp_path) == []


def test_concurrent_callers_for_one_container_are_serialized(tmp_path: Path) -> None:
    shim = require_shim()
    plugins, log = tmp_path / "plugins", tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log, sleep={"ADD": 0.2, "DEL": 0.2, "CHECK": 0.2})
    with DaemonProcess(tmp_path / "d") as daemon:
        body = conf(tmp_path, daemon.socket)
        commands = ["ADD", "CHECK", "DEL", "ADD", "DEL", "CHECK", "ADD", "DEL"]
        with ThreadPoolExecutor(len(commands)) as pool:
            list(pool.map(lambda c: call(shim, c, body, "shared", plugins), commands))
        assert call(shim, "DEL", body, "shared", plugins)[0] == 0
    calls = intervals(log)
    assert len(calls) >= 4 and max_overlap(calls) == 1
    assert leftovers(tmp_path) == []


def test_sigterm_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    shim = require_shim()
    plugins, log = tmp_path / "plugins", tmp_path / "trace.jsonl"
    make_tracer(plugins, "tracer", log, sleep={"ADD": 0.3})
    daemon = DaemonProcess(tmp_path / "d", maxConcurrency=4).start()
    body = conf(tmp_path, daemon.socket)
    names = [f"burst{i:02d}" for i in range(24)]
    with ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(call, shim, "ADD", body, name, plugins) for name in names}
        deadline = time.monotonic() + 60  # bounded: a broken burst must fail, not hang CI
        while (not log.exists() or len(log.read_text().splitlines()) < 4) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert daemon.terminate(120) == 0, daemon.log_text()
        outcomes = {name: f.result() for name, f in futures.items()}
    traced = {c["cid"] for c in intervals(log) if c["cmd"] == "ADD"}
    journals = {p.stem for p in (tmp_path / "state" / "attachments").glob("*.json")}
    done = {n for n, (code, _) in outcomes.items() if code == 0}
    refused = {n for n, (code, out) in outcomes.items() if code == 1 and json.loads(out)["code"] == 11}
    assert done | refused == set(names), {n: o for n, o in outcomes.items() if n not in done | refused}
    assert done, "work that had started was finished, not dropped"
    assert journals == done and traced == done, "a refused ADD did nothing; a finished one is on disk"
    records = [json.loads(line)["what"] for line in log.read_text().splitlines()]
    assert records.count("start") == records.count("end"), "no delegate was cut off"
    # a new daemon takes over from disk and removes everything
    with DaemonProcess(tmp_path / "d", maxConcurrency=4) as again:
        body = conf(tmp_path, again.socket)
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda n: call(shim, "DEL", body, n, plugins)[0], sorted(done)))
        assert codes == [0] * len(done)
    assert leftovers(tmp_path) == []
