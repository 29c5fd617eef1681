"""multus-dp-vfw's life: SIGTERM and SIGINT stop it cleanly with its counters written, and the
traffic stops with it; the stats on stdout when no --stats-file is given (EAL logs on stderr);
--default-action overrides the rule file's default."""
from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support.netns import NetLab
from tests.support.prereq import require_root
from tests.support.vfw import (DPDK_RUN_DIR, SERVER_IP, STATS_TIMEOUT, VfwProcess, VfwTopology, assert_stats_contract,
                               require_vfw)


@pytest.fixture(scope="module")
def topo() -> VfwTopology:
    require_root()
    require_vfw()
    topology = VfwTopology(NetLab())
    try:
        yield topology
    finally:
        topology.cleanup()


def test_sigterm_stops_the_vfw_with_its_stats_and_the_traffic_stops(topo, tmp_path) -> None:
    rules = tmp_path / "rules"
    rules.write_text("default deny\ndeny udp from any to any port 5002\n")
    vfw = VfwProcess([*topo.router_args(), "--rules", str(rules), "--default-action", "allow"], topo.eal_args(),
                     tmp_path / "run")
    try:
        ready = vfw.wait_ready()
        assert ready["pid"] == vfw.proc.pid
        passing = topo.client.ping(SERVER_IP, count=2)
        assert passing.returncode == 0, passing.stdout

        assert vfw.stop(signal.SIGTERM) == 0, vfw.stderr
    finally:
        vfw.kill()
    final = json.loads(vfw.stats_path.read_text())
    assert_stats_contract(final, rules=1)
    assert final["default"]["action"] == "allow", "--default-action overrides the file's default"
    assert final["default"]["packets"] >= 4 and final["forwarded"] >= 4
    assert final["timeline"]["linksUp"] == ready["linksUp"]
    assert "stopping" in vfw.stderr
    stopped = topo.client.ping(SERVER_IP, count=2, wait=1)
    assert stopped.returncode != 0 and " 0 received" in stopped.stdout


def test_sigint_with_the_stats_on_stdout(topo, tmp_path) -> None:
    vfw = VfwProcess([*topo.router_args(), "--default-action", "allow"], topo.eal_args(), tmp_path / "run",
                     stats_file=False)
    try:
        vfw.wait_ready()
        assert topo.client.ping(SERVER_IP).returncode == 0
        vfw.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + STATS_TIMEOUT
        while not vfw.stdout.endswith("\n") and time.monotonic() < deadline:
            time.sleep(0.02)
        topo.client.ping(SERVER_IP)
        assert vfw.stop(signal.SIGINT) == 0, vfw.stderr
    finally:
        vfw.kill()
    lines = vfw.stdout.splitlines()
    assert len(lines) == 2, "stdout holds the JSON counters only (EAL logs go to stderr)"
    dumped, final = (json.loads(line) for line in lines)
    for stats in (dumped, final):
        assert_stats_contract(stats, rules=0)
    assert final["forwarded"] >= dumped["forwarded"] + 2 and dumped["forwarded"] >= 2
    assert "EAL:" in vfw.stderr
    assert not (DPDK_RUN_DIR / topo.file_prefix / "mp_socket").exists(), "EAL cleaned up its socket"
