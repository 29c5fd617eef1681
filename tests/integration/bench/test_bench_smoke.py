"""The benchmark harness end to end with tiny iteration counts: every scenario runs and is
verified, `--reference` works with any binary (a stand-in here, never reported as Multus), a
broken runner is caught and never becomes a number, and an interrupted run leaves nothing.
No timing is asserted."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.netns import ip
from tests.support.prereq import require, require_cni_plugins, require_root

from .standin import write_standin


@pytest.fixture
def cni_dir() -> str:
    require_root()
    return require_cni_plugins("bridge", "ptp", "macvlan", "host-local")


def bench(tmp_path: Path, cni_dir: str, *args: str, name: str = "smoke") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "benchmarks", "--cni-dir", cni_dir, "--out", str(tmp_path / "out"),
            "--name", name, "--work-dir", str(tmp_path / "work"), "--json", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=240)


def leftovers(pid: int) -> list[str]:
    prefix = f"mb{pid}"
    netns = [n.split()[0] for n in ip("netns", "list").splitlines() if n.startswith(prefix)]
    links = [link["ifname"] for link in json.loads(ip("-j", "link", "show")) if link["ifname"].startswith(prefix)]
    return netns + links


def test_every_scenario_runs_verified_with_a_reference(cni_dir: str, tmp_path: Path) -> None:
    standin = write_standin(tmp_path / "reference-standin")
    proc = bench(tmp_path, cni_dir, "--runs", "1", "--warmup", "0", "--rounds", "1", "--pods", "3",
                 "--reference", str(standin))
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    require(doc["options"]["unavailable_runners"] == {},
            f"every runner available (thick needs the built shim): {doc['options']['unavailable_runners']}")
    by_number = {s["number"]: s for s in doc["scenarios"]}
    assert sorted(by_number) == [1, 2, 3, 4, 5]
    assert all(s["status"] == "ok" for s in by_number.values()), [(n, s.get("pending")) for n, s in by_number.items()]
    for number in (1, 2):
        runners = by_number[number]["runners"]
        assert sorted(runners) == ["floor", "reference", "thick", "thin", "thin-kubeconfig"]
        assert all(r["add"]["n"] == 1 and r["del"]["n"] == 1 for r in runners.values())
        assert "thick/reference" in by_number[number]["comparisons"]
    assert sorted(by_number[3]["runners"]) == ["thick", "thin"]      # built-in SR-IOV: no floor/reference
    assert by_number[4]["runners"]["thick"]["add"]["n"] == 3          # every pod of the burst is a sample
    assert by_number[1]["runners"]["thick"]["daemon"]["phases_add_median_ms"]
    assert by_number[5]["api"]["warm"]["requests_per_add"]["n"] == 1
    # the reference is named by its path, never as Multus
    assert doc["stamp"]["reference"] == str(standin)
    assert "multus" not in by_number[1]["runners"]["reference"]["label"].lower().replace("multus-dp", "")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["smoke-latency.png", "smoke-phases.png", "smoke.json", "smoke.md"]
    assert (out / "smoke-latency.png").read_bytes()[:4] == b"\x89PNG"
    assert doc["stamp"]["machine"]["kernel"] in (out / "smoke.md").read_text()
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.parametrize("mode, expected", [("lying", "eth0 (bench-cluster) missing in the pod"),
                                            ("leaky", "interfaces left in the pod after DEL")])
def test_a_broken_runner_is_caught_and_gives_no_number(cni_dir: str, tmp_path: Path, mode: str, expected: str) -> None:
    standin = write_standin(tmp_path / f"reference-{mode}", mode)
    proc = bench(tmp_path, cni_dir, "--scenarios", "1", "--runners", "floor", "--runs", "2", "--warmup", "0",
                 "--reference", str(standin), "--no-plots")
    assert proc.returncode == 1, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    s1 = doc["scenarios"][0]
    assert s1["status"] == "broken"
    ref = s1["runners"]["reference"]
    assert expected in ref["failed"] and ref["add"] == {"n": 0} and ref["samples_ms"] == {"add": [], "del": []}
    assert s1["runners"]["floor"]["add"]["n"] == 2 and s1["comparisons"] == {}
    assert "broken runs in scenario(s) [1]" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_cleans_up(cni_dir: str, tmp_path: Path, sig: signal.Signals) -> None:
    argv = [sys.executable, "-m", "benchmarks", "--cni-dir", cni_dir, "--scenarios", "2", "--runners", "floor",
            "--runs", "500", "--out", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                n.startswith(f"mb{proc.pid}n-") for n in ip("netns", "list").split()):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(0.3)   # inside the measuring loop
        assert leftovers(proc.pid), "the run never set up its node"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert leftovers(proc.pid) == []
    assert list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "out").exists()


def test_scenario_6_a_tiny_cluster_runs_and_counts_each_daemons_requests(cni_dir: str, tmp_path: Path) -> None:
    proc = bench(tmp_path, cni_dir, "--scenarios", "6", "--runners", "floor", "--cluster-nodes", "2",
                 "--cluster-pods", "2", "--cluster-networks", "2", "--cluster-idle", "1", "--no-plots",
                 name="cluster")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    (s6,) = doc["scenarios"]
    assert s6["number"] == 6 and s6["status"] == "ok", s6.get("cluster", {}).get("failed") or s6.get("pending")
    c = s6["cluster"]
    # every daemon listed its own pods only and never listed the absent legacy CRD
    startup = c["startup"]["by_kind_median"]
    assert startup["list pods"]["requests"] == 1 and "list networks" not in startup
    assert startup["get discovery"]["requests"] == 1
    assert "list networks" in c["startup_with_legacy_crd"]["by_kind_median"]
    # per ADD: no reads, one status patch, one event per attachment; per DEL of a deleted pod: nothing
    add = c["add"]["by_kind_per_pod"]
    assert c["add"]["pods"] == 4
    assert add["patch pods/status"]["requests"] == 1 and add["create events"]["requests"] == 3
    assert not [k for k in add if k.startswith(("get ", "list "))]
    assert c["del"]["requests_per_pod"] == 0
    assert c["startup"]["rss_mb"]["median"] > 0 and c["extrapolation"]["per_add"]["multus_dp"] == 7
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["cluster.json", "cluster.md"]
    assert "Extrapolated to 300 nodes" in (out / "cluster.md").read_text()
    assert list((tmp_path / "work").iterdir()) == []
