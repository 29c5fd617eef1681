"""One benchmark run: builds the node and the runners, runs the chosen scenarios, assembles
and writes the results; `close()` undoes everything (called also after an interrupt)."""
from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import api_load, cluster, harness, report, results, scenarios
from .node import Node, sweep_orphans
from .procs import build_floor_driver, timed
from .runners import (DaemonUnavailable, Env, FloorRunner, ReferenceRunner, Runner, ThickRunner,
                      ThinKubeconfigRunner, ThinPythonRunner, ThinRunner)
from .stamp import stamp
from .stats import summary


class Session:
    def __init__(self, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
        self.args = args
        self.progress = progress
        self.runners: list[Runner] = []
        self.unavailable: dict[str, str] = {}
        self.node: Node | None = None

    def _start_runners(self, env: Env, driver: Path, node_keys: dict[str, Any]) -> None:
        makers: dict[str, Callable[[], Runner]] = {
            "floor": lambda: FloorRunner(env, driver), "thin": lambda: ThinRunner(env),
            "thin-kubeconfig": lambda: ThinKubeconfigRunner(env), "thin-python": lambda: ThinPythonRunner(env),
            "thick": lambda: ThickRunner(env, node_keys)}
        for name in self.args.runners:
            try:
                self.runners.append(makers[name]())
            except (DaemonUnavailable, OSError, RuntimeError) as exc:
                self.unavailable[name] = str(exc)
                self.progress(f"runner {name} unavailable: {exc}")
        if self.args.reference:
            self.runners.append(ReferenceRunner(env, self.args.reference))

    def _harness_floor(self, driver: Path) -> dict[str, Any]:
        """What the measuring itself costs: an exec of /bin/true, and the floor driver with no delegate."""
        env = {"PATH": "/usr/bin:/bin"}
        true = [timed(["/bin/true"], env).seconds for _ in range(30)]
        empty = [timed([str(driver), "ADD"], env).seconds for _ in range(30)]
        return {"exec_true": summary(true), "floor_driver_empty": summary(empty)}

    def run(self) -> tuple[dict[str, Any], list[Path]]:
        args = self.args
        swept = sweep_orphans()
        if swept:
            self.progress(f"removed leftovers of an earlier killed run: {swept}")
        if args.work_dir:
            args.work_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="multus-dp-bench-", dir=args.work_dir))
        self.node = node = Node(work)
        env = Env(cni_dir=args.cni_dir, work_dir=work, timeout=args.timeout)
        driver = build_floor_driver(work / "bin")
        cluster_opts = cluster.ClusterOptions(nodes=args.cluster_nodes, pods=args.cluster_pods,
                                              networks=args.cluster_networks, idle=args.cluster_idle,
                                              legacy_crd_pass=not args.cluster_no_legacy_crd_pass,
                                              nad_scope=args.cluster_nad_scope,
                                              timeout=args.timeout)
        all_scenarios = scenarios.build(
            node, args.subnet_base, args.pods, args.scenarios,
            cluster_title=f"a cluster on one machine: {args.cluster_nodes} daemons x {args.cluster_pods} pods x "
                          f"{args.cluster_networks} NADs against one API server (fake delegate)")
        # the scenarios' node keys (scenario 3's simulated NIC): the daemon's own config
        node_keys = {k: v for s in all_scenarios.values() for k, v in s.conf_extra.items()}
        self._start_runners(env, driver, node_keys)
        opts = harness.Options(runs=args.runs, warmup=args.warmup, rounds=args.rounds, settle=args.settle)
        doc: dict[str, Any] = {"stamp": stamp(args.cni_dir, args.reference),
                               "options": {"runs": args.runs, "warmup": args.warmup, "rounds": args.rounds,
                                           "settle": args.settle,
                                           "pods": args.pods, "scenarios": args.scenarios,
                                           "runners": [r.name for r in self.runners],
                                           "unavailable_runners": self.unavailable, "cni_dir": args.cni_dir},
                               "harness": self._harness_floor(driver), "scenarios": []}
        for number in args.scenarios:
            scenario = all_scenarios[number]
            self.progress(f"scenario {number}: {scenario.title}")
            if scenario.pending:
                doc["scenarios"].append(results.scenario_doc(scenario, pending=scenario.pending))
            elif number == 5:
                reason = api_load.unavailable_reason()
                doc["scenarios"].append(results.scenario_doc(scenario, pending=reason) if reason else
                                        results.scenario_doc(scenario, api=api_load.run_api(
                                            scenario, node, env, opts, self.progress)))
            elif number == 6:
                reason = cluster.unavailable_reason()
                doc["scenarios"].append(results.scenario_doc(scenario, pending=reason) if reason else
                                        results.scenario_doc(scenario, cluster=cluster.run_cluster(
                                            cluster_opts, work / "cluster", self.progress, env.python)))
            elif scenario.pods > 1:
                doc["scenarios"].append(results.scenario_doc(
                    scenario, harness.run_burst(scenario, self.runners, node, opts, self.progress)))
            else:
                runners = self.runners
                if scenario.builtin_only:
                    runners = [r for r in runners if r.name in ("thin", "thick")]
                    self.progress(f"scenario {number}: built-in delegates only: floor and reference do not apply")
                doc["scenarios"].append(results.scenario_doc(
                    scenario, harness.run_sequential(scenario, runners, node, opts, self.progress)))
        doc["targets"] = results.targets(doc)
        written = report.write(doc, args.out, args.name, with_plots=not args.no_plots)
        return doc, written

    def close(self) -> None:
        for runner in self.runners:
            try:
                runner.close()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                self.progress(f"closing {runner.name}: {exc}")
        self.runners = []
        if self.node is not None:
            self.node.cleanup()
            self.node = None
