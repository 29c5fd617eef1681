"""From measured series to the result document (plain JSON-able dicts): summaries, A/B
comparisons pair by pair, the daemon's phase breakdown and the issue's targets."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from .api_load import ApiSeries
from .harness import Series
from .scenarios import Scenario
from .stats import pairwise_difference_ms, pairwise_ratio, summary

OURS = ("thick", "thin", "thin-kubeconfig", "thin-python")


def _ms(values: Sequence[float]) -> list[float]:
    return [round(v * 1000.0, 3) for v in values]


def _phase_medians(samples: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s})
    return {k: round(statistics.median([s.get(k, 0.0) for s in samples]) * 1000.0, 3) for k in keys}


OTHER = "other (journal, locks, conf parsing)"


def _with_other(phases: Sequence[dict[str, float]], requests: Sequence[float]) -> list[dict[str, float]]:
    """Each request's phases plus the time in no phase (clamped at 0: parallel phases overlap)."""
    return [{**p, OTHER: max(0.0, r - sum(p.values()))} for p, r in zip(phases, requests)]


def runner_doc(s: Series) -> dict[str, Any]:
    doc: dict[str, Any] = {"label": s.label, "failed": s.failed, "add": summary(s.add), "del": summary(s.delete),
                           "samples_ms": {"add": _ms(s.add), "del": _ms(s.delete)}}
    if s.makespan_add:
        doc["makespan"] = {"add": summary(s.makespan_add), "del": summary(s.makespan_del)}
    if s.daemon_add:
        doc["daemon"] = {
            "add": summary(s.daemon_add), "del": summary(s.daemon_del),
            # the shim's own cost plus the socket round trip: wall time minus the daemon's handling
            "shim_and_transport_add": summary([w - d for w, d in zip(s.add, s.daemon_add)]),
            "shim_and_transport_del": summary([w - d for w, d in zip(s.delete, s.daemon_del)]),
            "phases_add_median_ms": _phase_medians(_with_other(s.phases_add, s.daemon_add)),
            "phases_del_median_ms": _phase_medians(_with_other(s.phases_del, s.daemon_del)),
        }
    return doc


def comparisons(series: dict[str, Series], burst: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ours in OURS:
        a = series.get(ours)
        if a is None or a.failed or not a.add:
            continue
        for other in ("floor", "reference"):
            b = series.get(other)
            if b is None or b.failed or not b.add:
                continue
            key = f"{ours}/{other}"
            if burst:  # pods of a burst are not paired: compare the medians and the makespans
                out[key] = {"add_ratio_of_medians": round(statistics.median(a.add) / statistics.median(b.add), 3),
                            "del_ratio_of_medians": round(statistics.median(a.delete) / statistics.median(b.delete), 3),
                            "makespan_add_ratio": round(statistics.median(a.makespan_add)
                                                        / statistics.median(b.makespan_add), 3),
                            "makespan_del_ratio": round(statistics.median(a.makespan_del)
                                                        / statistics.median(b.makespan_del), 3)}
            else:
                out[key] = {"add_ratio": pairwise_ratio(a.add, b.add), "del_ratio": pairwise_ratio(a.delete, b.delete),
                            "add_difference_ms": pairwise_difference_ms(a.add, b.add),
                            "del_difference_ms": pairwise_difference_ms(a.delete, b.delete)}
    return out


def scenario_doc(scenario: Scenario, series: list[Series] | None = None, api: list[ApiSeries] | None = None,
                 pending: str | None = None, cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"number": scenario.number, "key": scenario.key, "title": scenario.title,
                           "networks": [{"name": n.name, "ifname": n.ifname, "plugin": n.plugin, "subnet": n.subnet}
                                        for n in scenario.networks],
                           "pods_at_once": scenario.pods}
    if pending:
        doc["status"] = "pending"
        doc["pending"] = pending
        return doc
    if cluster is not None:
        doc["status"] = "broken" if cluster.get("failed") else "ok"
        doc["cluster"] = cluster
        return doc
    if api is not None:
        doc["status"] = "broken" if any(s.failed for s in api) else "ok"
        doc["api"] = {s.mode: {"failed": s.failed, "runs": len(s.add_requests),
                               "requests_per_add": summary_counts(s.add_requests),
                               "requests_per_del": summary_counts(s.del_requests),
                               "add_by_kind_per_pod": _per_pod(s.add_kinds, len(s.add_requests)),
                               "del_by_kind_per_pod": _per_pod(s.del_kinds, len(s.del_requests)),
                               "add_latency": summary(s.add_seconds), "del_latency": summary(s.del_seconds)}
                      for s in api}
        return doc
    by_name = {s.runner: s for s in series or []}
    doc["status"] = "broken" if any(s.failed for s in by_name.values()) else "ok"
    doc["runners"] = {name: runner_doc(s) for name, s in by_name.items()}
    doc["comparisons"] = comparisons(by_name, burst=scenario.pods > 1)
    return doc


# issue 17: thin mode (the shipped thin binary, with and without a kubeconfig) near the floor
THIN_MODES = ("thin", "thin-kubeconfig")
THIN_OVERHEAD_MS = 15.0
THIN_MAKESPAN_RATIO = 1.5


def thin_targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    s1, s2, s4 = _scenario(doc, 1), _scenario(doc, 2), _scenario(doc, 4)
    for mode in THIN_MODES:
        for number, sc in ((1, s1), (2, s2)):
            floor = (sc or {}).get("comparisons", {}).get(f"{mode}/floor")
            if floor:
                out.append(_target(f"S{number} ADD overhead over the floor, {mode}",
                                   floor["add_difference_ms"]["median"], THIN_OVERHEAD_MS, " ms"))
        floor4 = (s4 or {}).get("comparisons", {}).get(f"{mode}/floor")
        if floor4:
            out.append(_target(f"S4 ADD makespan / floor's, {mode}", floor4["makespan_add_ratio"],
                               THIN_MAKESPAN_RATIO, "×"))
    return out


def summary_counts(values: Sequence[int]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def _per_pod(kinds: Any, runs: int) -> dict[str, float]:
    return {k: round(v / runs, 2) for k, v in sorted(kinds.items())} if runs else {}


def _scenario(doc: dict[str, Any], number: int) -> dict[str, Any] | None:
    return next((s for s in doc["scenarios"] if s["number"] == number and s.get("status") != "pending"), None)


def _target(name: str, value: float | None, limit: float, unit: str, note: str = "") -> dict[str, Any]:
    met = None if value is None else value <= limit
    return {"target": name, "limit": f"≤ {limit:g}{unit}", "value": value, "unit": unit, "met": met, "note": note}


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets (medians on this machine), for thick mode — the production mode —
    and thin mode as a second line when thick did not run."""
    out: list[dict[str, Any]] = []
    s1, s2, s5 = _scenario(doc, 1), _scenario(doc, 2), _scenario(doc, 5)
    for mode in OURS:
        if not s1 or mode not in s1.get("runners", {}) or s1["runners"][mode]["failed"]:
            continue
        comp = s1["comparisons"]
        ref = comp.get(f"{mode}/reference")
        no_ref = "no --reference given (no Go Multus is installable here)"
        out.append(_target(f"S1 ADD, {mode} / reference", ref["add_ratio"]["median"] if ref else None, 0.5, "×",
                           "" if ref else no_ref))
        floor = comp.get(f"{mode}/floor")
        out.append(_target(f"S1 ADD overhead over the floor, {mode}",
                           floor["add_difference_ms"]["median"] if floor else None, 3, " ms"))
        daemon = s1["runners"][mode].get("daemon")
        if daemon:
            out.append(_target("S1 shim's own cost (+ socket round trip), ADD",
                               daemon["shim_and_transport_add"]["median"], 2, " ms",
                               "thick wall time minus the daemon's own request time"))
        if s2 and mode in s2.get("runners", {}):
            ref2 = s2["comparisons"].get(f"{mode}/reference")
            out.append(_target(f"S2 ADD, {mode} / reference", ref2["add_ratio"]["median"] if ref2 else None, 0.4, "×",
                               "" if ref2 else no_ref))
            out.append(_target(f"S2 DEL, {mode} / reference", ref2["del_ratio"]["median"] if ref2 else None, 0.6, "×",
                               "" if ref2 else no_ref))
        break  # thick if it ran, else thin
    out += thin_targets(doc)
    if s5 and "warm" in s5.get("api", {}):
        warm = s5["api"]["warm"]
        kinds = warm["add_by_kind_per_pod"]
        events = kinds.get("POST events", 0.0)
        total = warm["requests_per_add"].get("median")
        out.append(_target("S5 API requests per ADD, warm cache", total, 1, "",
                           f"of which {events:g} AddedInterface event(s) (one per attachment, as Multus sends); "
                           f"reads {sum(v for k, v in kinds.items() if k.startswith('GET')):g}"))
        if total is not None:
            out.append(_target("S5 API requests per ADD, warm cache, events not counted", round(total - events, 2), 1, ""))
    return out
