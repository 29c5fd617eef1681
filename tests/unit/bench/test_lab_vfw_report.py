"""The vFW time-to-first-packet benchmark's arithmetic and report (benchmarks/lab_vfw.py); the
measurements themselves run in the lab guest."""
from __future__ import annotations

from typing import Any

from benchmarks.lab_vfw import PHASES, VARIANTS, phases, render_md

MS = 1_000_000
TIMELINE = {"start": 1_500 * MS, "ealInitDone": 2_700 * MS, "portsStarted": 2_750 * MS, "linksUp": 2_760 * MS,
            "firstForwarded": 2_800 * MS}


def test_the_phases_split_add_start_to_first_packet_without_gap_or_overlap() -> None:
    seconds = phases(add_start_ns=1_000 * MS, add_done_ns=1_450 * MS, timeline=TIMELINE)

    assert {k: round(v * 1000) for k, v in seconds.items()} == {
        "add": 450, "handover": 50, "eal_init": 1200, "port_start": 50, "first_packet": 50, "total": 1800,
        "links_up": 10}
    assert abs(sum(seconds[k] for k in PHASES) - seconds["total"]) < 1e-9


def doc() -> dict[str, Any]:
    def summary(median: float) -> dict[str, float]:
        return {"n": 5, "min": median, "median": median, "p95": median + 1}

    keys = (*PHASES, "total", "del", "eal_helper")
    return {"rounds": 5, "stamp": {"machine": {"kernel": "6.1", "cores": 1}, "versions": {"git": "abc"}, "date": "d"},
            "guest": {"accel": "tcg", "nic": "QEMU igb", "dpdk_drivers": ["a", "b"], "hugepages_2m": 32,
                      "vfw_idle_sleep_us": 200},
            "phases": {v: {k: summary(100.0 * (i + 1) + n) for n, k in enumerate(keys)}
                       for i, v in enumerate(VARIANTS)},
            "single_rounds_ms": {"whole PMD directory": {"add": 1, "eal_init": 2, "port_start": 3, "first_packet": 4,
                                                         "total": 10}}}


def test_the_report_says_it_is_a_tcg_lab_figure_and_shows_every_phase_per_variant() -> None:
    text = render_md(doc())

    assert "TCG lab figure, not a hardware figure" in text
    assert all(v in text.splitlines()[4] for v in VARIANTS)   # the table's header row
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["ADD (VF config + vfio bind)"] == "| ADD (VF config + vfio bind) | 100 (101) | 200 (201) |"
    assert rows["total: ADD start -> first packet"].endswith("| 105 (106) | 205 (206) |")
    assert "whole PMD directory: ADD 1, EAL init 2" in text
