"""Scenario 5: Kubernetes API requests per ADD and per DEL, against kmock's emulator.

The chain runs in this process with the same pieces the daemon wires (KubeSources ->
ProcessContext -> its per-request runner -> chain.entry.handle), real delegates into a real netns:
  warm  watch caches synced before the first ADD (the daemon's steady state)
  cold  no watch: every lookup is a GET (thin mode with a kubeconfig)
Each pod is new (seeded before the caches start); requests are counted from the emulator's
own log, multus-dp's User-Agent only, watch connections left out. Every ADD is verified
(interfaces in the pod, network-status written on the pod object), every DEL too.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .harness import Options, Progress
from .node import Node
from .procs import Call
from .runners import Env, Pod, cni_env
from .scenarios import Scenario
from .verify import BrokenRun, check_add, check_del

NAMESPACE = "bench"
NODE = "bench-node"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"


@dataclass
class ApiSeries:
    mode: str
    add_requests: list[int] = field(default_factory=list)
    del_requests: list[int] = field(default_factory=list)
    add_kinds: Counter[str] = field(default_factory=Counter)
    del_kinds: Counter[str] = field(default_factory=Counter)
    add_seconds: list[float] = field(default_factory=list)
    del_seconds: list[float] = field(default_factory=list)
    failed: str | None = None


def unavailable_reason() -> str | None:
    try:
        import kmock  # noqa: F401

        from multus_dp.k8s import build_sources  # noqa: F401
    except ImportError as exc:
        return f"needs kmock and multus_dp.k8s ({exc}); pip install -e '.[bench]'"
    return None


def _pod(name: str, networks: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
                         "annotations": {"k8s.v1.cni.cncf.io/networks": networks}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}


def run_api(scenario: Scenario, node: Node, env: Env, opts: Options, progress: Progress) -> list[ApiSeries]:
    from multus_dp.chain.entry import handle
    from multus_dp.chain.context import ProcessContext
    from multus_dp.cni.invoke import DelegateInvoker
    from multus_dp.hardware.assignments import CheckpointAssignments
    from multus_dp.k8s import build_sources
    from multus_dp.k8s.credentials import USER_AGENT
    from multus_dp.networks.conf import MultusConf

    from .kube_emulator import Emulator, write_kubeconfig

    work = env.work_dir / "api"
    work.mkdir(parents=True, exist_ok=True)
    cluster, *secondaries = scenario.networks
    (work / "cluster.conf").write_text(json.dumps(cluster.config))
    emu = Emulator()
    out: list[ApiSeries] = []
    try:
        for net in secondaries:
            emu.seed("k8s.cni.cncf.io", "v1", "network-attachment-definitions", {
                "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": net.name, "namespace": NAMESPACE}, "spec": {"config": json.dumps(net.config)}})
        selection = ",".join(f"{n.name}@{n.ifname}" for n in secondaries)
        total = opts.warmup + opts.runs
        conf = {"cniVersion": "1.0.0", "name": "bench-multus-dp", "type": "multus-dp",
                "clusterNetwork": str(work / "cluster.conf"), "stateDir": str(work / "state"),
                "networksDir": str(work / "networks.d"), "confDir": str(work / "conf.d"),
                "cniConfigDir": str(work / "conf.d"), "deviceInfoDir": str(work / "devinfo"), "binDir": "",
                "kubeconfig": str(write_kubeconfig(work / "kubeconfig", emu.url)), "nodeName": NODE,
                "multusNamespace": NAMESPACE}
        stdin = json.dumps(conf).encode()
        for mode in ("warm", "cold"):
            for i in range(total):
                emu.seed("", "v1", "pods", _pod(f"{mode}-{i}", selection))
            series = ApiSeries(mode)
            out.append(series)
            keys = MultusConf.model_validate(conf)
            sources = build_sources(keys, watch=mode == "warm", env={})
            if sources is None:
                raise BrokenRun("the kubeconfig was not picked up")
            sources.start()
            try:
                if mode == "warm" and not sources.wait_synced(30):
                    raise BrokenRun(f"caches did not sync: {sources.not_ready_reason()}")
                context = ProcessContext(keys=keys, invoker=DelegateInvoker(timeout=env.timeout), kube=sources,
                                         assignments=CheckpointAssignments(keys.kubeletCheckpoint))
                netns = node.add_netns(f"s5-{mode}")
                for i in range(total):
                    pod = Pod(f"{mode}-{i}", f"bench-s5-{mode}-{i}", netns)
                    try:
                        _one(pod, series, i >= opts.warmup, scenario, node, env, emu, sources,
                             lambda e: handle(e, stdin, context.runner), USER_AGENT)
                    except BrokenRun as exc:
                        series.failed = f"iteration {i}: {exc}"
                        progress(f"scenario 5 ({mode}): BROKEN: {exc}")
                        break
                    if (i + 1) % 10 == 0 or i + 1 == total:
                        progress(f"scenario 5 ({mode} cache): {i + 1}/{total} pods; requests per ADD "
                                 f"{series.add_requests[-1:]}, per DEL {series.del_requests[-1:]}")
            finally:
                sources.stop(timeout=5)
    finally:
        emu.close()
    return out


def _one(pod: Pod, series: ApiSeries, record: bool, scenario: Scenario, node: Node, env: Env, emu: Any,
         sources: Any, call: Any, agent: str) -> None:
    for command in ("ADD", "DEL"):
        mark = len(emu.requests(agent))
        start = time.perf_counter()
        reply = call(cni_env(env, command, pod) | {"CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={NAMESPACE};"
                                                                f"K8S_POD_NAME={pod.name};K8S_POD_UID=uid-{pod.name}"})
        seconds = time.perf_counter() - start
        if not sources.publisher.flush(10):
            raise BrokenRun(f"{command} of {pod.name}: network-status publish did not finish in 10 s")
        seen = [r for r in emu.requests(agent)[mark:] if not r.watch]
        result = Call(("in-process", command), seconds, reply.exit_code, reply.stdout, "")
        if command == "ADD":
            problems = check_add(result, pod.netns, scenario.networks)
            obj = emu.get("", "v1", "pods", NAMESPACE, pod.name) or {}
            status = (obj.get("metadata", {}).get("annotations") or {}).get(STATUS_ANNOTATION)
            entries = json.loads(status) if status else []
            if len(entries) != len(scenario.networks):
                problems.append(f"network-status on the pod has {len(entries)} entries, expected "
                                f"{len(scenario.networks)}: {status!r}")
        else:
            problems = check_del(result, pod.netns, pod.container_id, node, [])
        if problems:
            raise BrokenRun(f"{command} of {pod.name}: " + "; ".join(problems))
        if record:
            if command == "ADD":
                series.add_requests.append(len(seen))
                series.add_kinds.update(r.category for r in seen)
                series.add_seconds.append(seconds)
            else:
                series.del_requests.append(len(seen))
                series.del_kinds.update(r.category for r in seen)
                series.del_seconds.append(seconds)
