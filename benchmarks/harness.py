"""The measurement loops: interleaved A/B iterations of one scenario over every runner.

Iteration i runs each runner once, in an order rotated by i (so no runner always goes
first), each with a fresh container ID in its own netns: ADD (timed), verify, DEL (timed),
verify. The first `warmup` iterations are verified but not recorded. A runner whose run is
broken is dropped from the scenario with the reason; it never contributes a number.

Every runner's DEL starts `settle` seconds after its ADD returned, whatever the harness did in
between (the thick runner's metrics scrapes take milliseconds the others do not spend): the
kernel finishes bringing the pod's links up in the background (IPv6 addrconf and the like)
and a DEL right after an ADD has less to tear down than one a moment later, so an unequal gap
showed up as a few ms of "overhead" of the slower runner. On a node, DEL comes long after ADD.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import phases as phasemod
from .node import Node
from .procs import Call, ip
from .runners import Pod, Runner
from .scenarios import Scenario
from .verify import BrokenRun, check_add, check_del, check_host_clean

Progress = Callable[[str], None]


@dataclass
class Series:
    runner: str
    label: str
    add: list[float] = field(default_factory=list)
    delete: list[float] = field(default_factory=list)
    daemon_add: list[float] = field(default_factory=list)      # the daemon's own handling time
    daemon_del: list[float] = field(default_factory=list)
    phases_add: list[dict[str, float]] = field(default_factory=list)
    phases_del: list[dict[str, float]] = field(default_factory=list)
    makespan_add: list[float] = field(default_factory=list)    # burst: first spawn to last reap
    makespan_del: list[float] = field(default_factory=list)
    failed: str | None = None


@dataclass
class Options:
    runs: int = 30
    warmup: int = 3
    rounds: int = 5          # burst scenario: rounds of N pods at once
    settle: float = 0.1      # seconds from an ADD's return to its DEL, the same for every runner


def _snapshot(runner: Runner) -> dict[str, float] | None:
    snap = getattr(runner, "phase_snapshot", None)
    return snap() if snap else None


def _record_phases(series: Series, runner: Runner, before: dict[str, float] | None,
                   command: str) -> dict[str, float] | None:
    """Records the request's phases; returns the snapshot taken after it (the next one's before)."""
    if before is None:
        return None
    after = _snapshot(runner)
    delta = phasemod.diff(before, after or {})
    request = phasemod.request_seconds(delta, command)
    if request is not None:
        (series.daemon_add if command == "ADD" else series.daemon_del).append(request)
    (series.phases_add if command == "ADD" else series.phases_del).append(phasemod.phase_only(delta))
    return after


def _settle(since: float, settle: float) -> None:
    """Wait until `settle` seconds have passed since `since` (time.monotonic())."""
    left = settle - (time.monotonic() - since)
    if left > 0:
        time.sleep(left)


def _best_effort_del(runner: Runner, pods: Sequence[Pod], node: Node) -> None:
    """After a broken run: give the runner a chance to clean up, then reset the netns."""
    for pod in pods:
        try:
            runner.delete(pod)
        except Exception:  # noqa: BLE001 - cleanup after a failure must not mask it
            pass
        for link in set(_links(pod.netns)) - {"lo"}:
            ip("-n", pod.netns, "link", "del", link, check=False)


def _links(netns: str) -> list[str]:
    import json

    return [link["ifname"] for link in json.loads(ip("-j", "-n", netns, "link", "show", check=False) or "[]")]


def _announce(runner: Runner, pods: Sequence[Pod]) -> None:
    """A runner whose pods must exist somewhere first (thin-kubeconfig: in the API emulator)
    gets them before the clock runs."""
    announce = getattr(runner, "announce_pods", None)
    if announce:
        announce(list(pods))


def _runner_checks(runner: Runner, pod: Pod) -> list[str]:
    """A runner's own checks after an ADD (thin-kubeconfig: the network-status on the pod)."""
    verify = getattr(runner, "verify_add", None)
    return list(verify(pod)) if verify else []


def _one(runner: Runner, pod: Pod, scenario: Scenario, node: Node, series: Series, record: bool,
         settle: float = 0.0) -> None:
    _announce(runner, [pod])
    before = _snapshot(runner)
    add = runner.add(pod)
    added = time.monotonic()
    problems = check_add(add, pod.netns, scenario.networks) or _runner_checks(runner, pod)
    if problems:
        raise BrokenRun(f"ADD of {pod.name}: " + "; ".join(problems))
    # the snapshot after the ADD is the one before the DEL: nothing runs in between
    before = _record_phases(series, runner, before, "ADD") if record else None
    _settle(added, settle)
    delete = runner.delete(pod)
    problems = check_del(delete, pod.netns, pod.container_id, node, runner.leftovers(pod))
    problems += check_host_clean(node, scenario)
    if problems:
        raise BrokenRun(f"DEL of {pod.name}: " + "; ".join(problems))
    if record:
        _record_phases(series, runner, before, "DEL")
        series.add.append(add.seconds)
        series.delete.append(delete.seconds)


def run_sequential(scenario: Scenario, runners: Sequence[Runner], node: Node, opts: Options,
                   progress: Progress) -> list[Series]:
    series = {r.name: Series(r.name, r.label) for r in runners}
    netns = {r.name: node.add_netns(f"s{scenario.number}-{r.name}") for r in runners}
    for r in runners:
        r.prepare(scenario)
    total = opts.warmup + opts.runs
    for i in range(total):
        live = [r for r in runners if series[r.name].failed is None]
        if not live:
            break
        shift = i % len(live)
        for runner in live[shift:] + live[:shift]:
            pod = Pod(f"s{scenario.number}-{runner.name}-{i}", f"bench-s{scenario.number}-{runner.name}-{i}",
                      netns[runner.name])
            try:
                _one(runner, pod, scenario, node, series[runner.name], record=i >= opts.warmup,
                     settle=opts.settle)
            except BrokenRun as exc:
                series[runner.name].failed = f"iteration {i}: {exc}"
                progress(f"scenario {scenario.number}: {runner.name} BROKEN, dropped: {exc}")
                _best_effort_del(runner, [pod], node)
        if (i + 1) % 5 == 0 or i + 1 == total:
            progress(f"scenario {scenario.number} ({scenario.key}): {i + 1}/{total} iterations"
                     + ("" if i >= opts.warmup else " (warm-up)") + " " + _latest(series.values()))
    return list(series.values())


def _latest(all_series: Sequence[Series] | Any) -> str:
    parts = []
    for s in all_series:
        if s.failed:
            parts.append(f"{s.runner}=broken")
        elif s.add:
            parts.append(f"{s.runner} add {s.add[-1] * 1000:.1f}ms del {s.delete[-1] * 1000:.1f}ms")
    return "; ".join(parts)


def _at_once(calls: Sequence[Callable[[], Call]]) -> tuple[list[Call], float]:
    """Start every call together (threads behind a barrier); their results and the makespan."""
    barrier = threading.Barrier(len(calls) + 1)
    results: list[Call | BaseException | None] = [None] * len(calls)

    def go(k: int) -> None:
        barrier.wait()
        try:
            results[k] = calls[k]()
        except BaseException as exc:  # noqa: BLE001 - reported below as a broken run
            results[k] = exc

    threads = [threading.Thread(target=go, args=(k,), daemon=True) for k in range(len(calls))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    makespan = time.perf_counter() - start
    for r in results:
        if isinstance(r, BaseException):
            raise BrokenRun(f"exec failed: {r}")
    return [r for r in results if isinstance(r, Call)], makespan


def _burst(runner: Runner, pods: Sequence[Pod], scenario: Scenario, node: Node, series: Series,
           record: bool, settle: float = 0.0) -> None:
    _announce(runner, pods)
    adds, add_span = _at_once([lambda p=p: runner.add(p) for p in pods])
    added = time.monotonic()
    problems = [f"{p.name}: {m}" for p, call in zip(pods, adds)
                for m in check_add(call, p.netns, scenario.networks) or _runner_checks(runner, p)]
    if problems:
        raise BrokenRun(f"ADD of {len(pods)} pods at once: " + "; ".join(problems[:5]))
    _settle(added, settle)
    dels, del_span = _at_once([lambda p=p: runner.delete(p) for p in pods])
    problems = [f"{p.name}: {m}" for p, call in zip(pods, dels)
                for m in check_del(call, p.netns, p.container_id, node, runner.leftovers(p))]
    problems += check_host_clean(node, scenario)
    if problems:
        raise BrokenRun(f"DEL of {len(pods)} pods at once: " + "; ".join(problems[:5]))
    if record:
        series.add += [c.seconds for c in adds]
        series.delete += [c.seconds for c in dels]
        series.makespan_add.append(add_span)
        series.makespan_del.append(del_span)


def run_burst(scenario: Scenario, runners: Sequence[Runner], node: Node, opts: Options,
              progress: Progress) -> list[Series]:
    series = {r.name: Series(r.name, r.label) for r in runners}
    netns = {r.name: [node.add_netns(f"s{scenario.number}-{r.name}-{k}") for k in range(scenario.pods)]
             for r in runners}
    for r in runners:
        r.prepare(scenario)
    warmup = 1 if opts.warmup else 0
    total = warmup + opts.rounds
    for i in range(total):
        live = [r for r in runners if series[r.name].failed is None]
        shift = i % len(live) if live else 0
        for runner in live[shift:] + live[:shift]:
            pods = [Pod(f"s{scenario.number}-{runner.name}-{i}-{k}", f"bench-s{scenario.number}-{runner.name}-{i}-{k}",
                        ns) for k, ns in enumerate(netns[runner.name])]
            try:
                _burst(runner, pods, scenario, node, series[runner.name], record=i >= warmup, settle=opts.settle)
            except BrokenRun as exc:
                series[runner.name].failed = f"round {i}: {exc}"
                progress(f"scenario {scenario.number}: {runner.name} BROKEN, dropped: {exc}")
                _best_effort_del(runner, pods, node)
        progress(f"scenario {scenario.number} ({scenario.key}): round {i + 1}/{total}"
                 + (" (warm-up)" if i < warmup else "") + " "
                 + "; ".join(f"{s.runner} makespan {s.makespan_add[-1] * 1000:.0f}ms" for s in series.values()
                             if s.makespan_add and not s.failed))
    return list(series.values())
