"""The harness's arithmetic and its documents: summaries, pairwise A/B, phase diffs, targets."""
from __future__ import annotations

import json

import pytest

from benchmarks import phases, report, results
from benchmarks.api_load import ApiSeries
from benchmarks.harness import Series
from benchmarks.scenarios import Network, Scenario
from benchmarks.stats import pairwise_difference_ms, pairwise_ratio, percentile, summary


def test_summary_is_in_milliseconds_with_nearest_rank_p95() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    s = summary(seconds)
    assert (s["n"], s["min"], s["median"], s["p95"], s["max"]) == (100, 1.0, 50.5, 95.0, 100.0)
    assert percentile([3.0], 95) == 3.0
    assert summary([]) == {"n": 0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_pairwise_comparison_pairs_iterations_not_sorted_samples() -> None:
    ours = [0.010, 0.040, 0.020]
    other = [0.020, 0.040, 0.080]
    assert pairwise_ratio(ours, other)["median"] == 0.5          # ratios 0.5, 1.0, 0.25
    diff = pairwise_difference_ms(ours, other)
    assert (diff["min"], diff["median"], diff["max"]) == (-60.0, -10.0, 0.0)


METRICS_BEFORE = """\
# TYPE multus_dp_cni_request_duration_seconds histogram
multus_dp_cni_request_duration_seconds_sum{command="ADD"} 1.0
multus_dp_cni_request_duration_seconds_count{command="ADD"} 4.0
# TYPE multus_dp_phase_duration_seconds histogram
multus_dp_phase_duration_seconds_sum{phase="selection",type=""} 0.5
multus_dp_phase_duration_seconds_sum{phase="delegate",type="bridge"} 0.25
"""
METRICS_AFTER = METRICS_BEFORE.replace('"ADD"} 1.0', '"ADD"} 1.125').replace(
    'type="bridge"} 0.25', 'type="bridge"} 0.3125') + \
    'multus_dp_phase_duration_seconds_sum{phase="publish",type=""} 0.0078125\n'


def test_phase_breakdown_is_the_difference_of_two_scrapes() -> None:
    delta = phases.diff(phases.parse_sums(METRICS_BEFORE), phases.parse_sums(METRICS_AFTER))
    assert phases.request_seconds(delta, "ADD") == pytest.approx(0.125)
    assert phases.phase_only(delta) == pytest.approx({"delegate:bridge": 0.0625, "publish": 0.0078125})


def _scenario(pods: int = 1) -> Scenario:
    net = Network("n", "eth0", "bridge", {"type": "bridge"}, "10.231.1.0/24")
    return Scenario(1, "seed", "seed pod", [net, Network("p", "net1", "ptp", {"type": "ptp"}, "10.231.2.0/24")],
                    pods=pods)


def _doc(*scenario_docs: dict) -> dict:
    stamp = {"date": "d", "machine": {"hostname": "h", "cpu": "c", "cores": 2, "kernel": "k"},
             "versions": {"multus-dp": "0", "git": "g", "python": "3", "cni_plugins": "p"}, "reference": "/x/ref"}
    doc = {"stamp": stamp, "options": {"runs": 3, "warmup": 1, "rounds": 1},
           "scenarios": list(scenario_docs)}
    doc["targets"] = results.targets(doc)
    return doc


def test_targets_use_thick_against_floor_and_reference() -> None:
    floor = Series("floor", "f", add=[0.010, 0.010, 0.010], delete=[0.010] * 3)
    thick = Series("thick", "t", add=[0.012, 0.011, 0.014], delete=[0.011] * 3,
                   daemon_add=[0.0105, 0.0095, 0.0125], daemon_del=[0.010] * 3,
                   phases_add=[{"delegate:bridge": 0.005}] * 3, phases_del=[{}] * 3)
    ref = Series("reference", "r", add=[0.030, 0.020, 0.070], delete=[0.020] * 3)
    s1 = results.scenario_doc(_scenario(), [floor, thick, ref])
    doc = _doc(s1)
    by_name = {t["target"]: t for t in doc["targets"]}
    assert by_name["S1 ADD, thick / reference"]["value"] == 0.4              # 0.4, 0.55, 0.2
    assert by_name["S1 ADD, thick / reference"]["met"] is True
    assert by_name["S1 ADD overhead over the floor, thick"]["value"] == 2.0  # 2, 1, 4 ms
    assert by_name["S1 shim's own cost (+ socket round trip), ADD"]["value"] == pytest.approx(1.5)
    md = report.markdown(doc)
    assert "| thick/reference | 0.40 |" in md and "delegate:bridge 5.0" in md
    json.dumps(doc)  # the document is plain JSON


def test_a_broken_runner_gives_no_numbers_and_marks_the_scenario() -> None:
    floor = Series("floor", "f", add=[0.01], delete=[0.01])
    thin = Series("thin", "t", failed="iteration 0: ADD of p: eth0 missing")
    s1 = results.scenario_doc(_scenario(), [floor, thin])
    assert s1["status"] == "broken" and s1["comparisons"] == {}
    assert s1["runners"]["thin"]["add"] == {"n": 0}
    assert "broken: iteration 0" in report.markdown(_doc(s1))


def test_pending_scenario_and_api_counts() -> None:
    pending = results.scenario_doc(Scenario(3, "vfw", "vFW", []), pending="no SR-IOV delegate")
    warm = ApiSeries("warm", add_requests=[3, 3], del_requests=[1, 1])
    warm.add_kinds.update({"PATCH pods/status": 2, "POST events": 4})
    api = results.scenario_doc(Scenario(5, "api", "API", []), api=[warm])
    doc = _doc(pending, api)
    targets = {t["target"]: t for t in doc["targets"]}
    assert targets["S5 API requests per ADD, warm cache"]["met"] is False
    assert targets["S5 API requests per ADD, warm cache, events not counted"]["value"] == 1
    md = report.markdown(doc)
    assert "**Pending** — no SR-IOV delegate" in md and "POST events 2" in md
