"""Scenario 6: a cluster on one machine. N `multus-dp daemon` processes (distinct node names,
sockets, state dirs and bearer tokens) against one API server (benchmarks/cluster_api.py, which
applies field selectors, resumes watches without replay and counts bytes), P pods per node with
K NADs each, ADD and DEL through each node's native shim with a fast fake delegate (a shell
script: the kernel is not measured).

Phases, each counted per daemon from the API server's log (requests and bytes by verb/resource):
  start-up   spawn -> ready (caches synced) + a settle second; time to ready per daemon
  ADD        pods created (scheduled to their node), then ADD of every pod through the shim,
             until every pod carries its network-status (the publish is asynchronous)
  DEL        pods marked for deletion (deletionTimestamp), DEL through the shim, then removed
  idle       `idle` seconds with nothing happening: requests per minute per daemon
and the same start-up + idle again with the legacy `Network` CRD installed. RSS per daemon
after the ADD/DEL phases and after idling. The API server's own cost is not measured.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster_api import ClusterApi, Logged
from .procs import stop_process

NAMESPACE = "bench"
STATUS = "k8s.v1.cni.cncf.io/network-status"
PLUGIN = "bench-fake"
NAD_PLURAL = "network-attachment-definitions"
Progress = Callable[[str], None]
OTHER_PODS = 50     # pods on nodes without a daemon here
OTHER_NADS = 50     # NADs of other namespaces (other tenants' networks), none used by the pods here

FAKE_DELEGATE = """#!/bin/sh
# scenario 6's delegate: answers at once, touches nothing (the kernel is not what is measured)
cat >/dev/null
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}' ;;
ADD) printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.99.0.2/24","interface":0}]}\\n' "$CNI_IFNAME" "$CNI_NETNS" ;;
esac
exit 0
"""


@dataclass
class ClusterOptions:
    nodes: int = 5
    pods: int = 4              # per node
    networks: int = 2          # NADs per pod (plus the cluster network)
    idle: float = 30.0         # seconds of each idle window
    legacy_crd_pass: bool = True   # a second start-up + idle with the legacy Network CRD installed
    nad_scope: str = "cluster"     # the daemons' kubeNadScope
    timeout: float = 120.0


class ClusterBroken(RuntimeError):
    pass


@dataclass
class NodeDaemon:
    index: int
    root: Path
    python: str
    api_url: str
    nad_scope: str = "cluster"
    proc: subprocess.Popen[bytes] | None = None
    socket: str = ""
    started: float = 0.0
    ready_seconds: float | None = None

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def token(self) -> str:
        return f"token-{self.name}"

    def spawn(self, socket_dir: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sysfs").mkdir(exist_ok=True)          # no NIC: hardware discovery finds nothing
        self.socket = str(socket_dir / f"{self.index}.sock")
        kubeconfig = self.root / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": self.api_url}}],
            "users": [{"name": "u", "user": {"token": self.token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
        config = self.root / "daemon.json"
        config.write_text(json.dumps({
            "socketPath": self.socket, "stateDir": str(self.root / "state"), "metricsAddress": "",
            "logFile": str(self.root / "daemon.log"), "logLevel": "warning", "kubeconfig": str(kubeconfig),
            "nodeName": self.name, "sysfsRoot": str(self.root / "sysfs"), "udev": False,
            "sriovPoolsConfig": str(self.root / "no-pools.json"), "multusNamespace": NAMESPACE,
            "kubeNadScope": self.nad_scope}))
        self.started = time.monotonic()
        self.ready_seconds = None
        self.proc = subprocess.Popen([self.python, "-m", "multus_dp", "daemon", "--config", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def poll_ready(self) -> bool:
        from multus_dp.daemon.protocol import DaemonClient

        assert self.proc is not None
        if self.ready_seconds is not None:
            return True
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise ClusterBroken(f"daemon {self.name} exited with {self.proc.returncode}: {err[-600:]}")
        try:
            ready, _ = DaemonClient(self.socket, timeout=2.0).ready()
        except OSError:
            return False
        if ready:
            self.ready_seconds = time.monotonic() - self.started
        return ready

    def rss_mb(self) -> float | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


@dataclass
class Window:
    """What the API server saw in one phase, per daemon."""
    name: str
    seconds: float
    requests: dict[str, Counter[str]] = field(default_factory=dict)   # token -> "verb resource" -> n
    bytes: dict[str, Counter[str]] = field(default_factory=dict)      # token -> "verb resource" -> bytes
    codes: Counter[str] = field(default_factory=Counter)              # "verb resource code" over all daemons


class Meter:
    """Per-token request and byte counts between two marks. Bytes of a watch are attributed to
    the window in which they were streamed (byte counters are snapshotted, not the log)."""

    def __init__(self, api: ClusterApi, tokens: Sequence[str]) -> None:
        self.api = api
        self.tokens = set(tokens)

    def mark(self) -> tuple[float, int, dict[str, Counter[str]]]:
        def snap() -> tuple[int, dict[str, Counter[str]]]:
            out: dict[str, Counter[str]] = {}
            for entry in self.api.log:
                out.setdefault(entry.token, Counter())[f"{entry.verb} {entry.resource}"] += entry.bytes
            return len(self.api.log), out
        count, sizes = self.api.call(snap)
        return time.monotonic(), count, sizes

    def window(self, name: str, start: tuple[float, int, dict[str, Counter[str]]]) -> Window:
        end = self.mark()
        log: list[Logged] = self.api.call(lambda: self.api.log[start[1]:end[1]])
        win = Window(name, round(end[0] - start[0], 3))
        for token in self.tokens:
            win.requests[token] = Counter()
            win.bytes[token] = end[2].get(token, Counter()) - start[2].get(token, Counter())
        for entry in log:
            if entry.token in self.tokens:
                win.requests[entry.token][f"{entry.verb} {entry.resource}"] += 1
                win.codes[f"{entry.verb} {entry.resource} {entry.code}"] += 1
        return win


def _per_daemon(win: Window) -> dict[str, Any]:
    """Medians over daemons, by verb/resource, of requests and bytes in the window."""
    tokens = sorted(win.requests)
    keys = sorted({k for t in tokens for k in win.requests[t]} | {k for t in tokens for k in win.bytes[t]})
    totals_r = [sum(win.requests[t].values()) for t in tokens]
    totals_b = [sum(win.bytes[t].values()) for t in tokens]
    return {"seconds": win.seconds,
            "requests_per_daemon": {"median": statistics.median(totals_r), "min": min(totals_r), "max": max(totals_r)},
            "bytes_per_daemon": {"median": statistics.median(totals_b), "min": min(totals_b), "max": max(totals_b)},
            "by_kind_median": {k: {"requests": statistics.median([win.requests[t][k] for t in tokens]),
                                   "bytes": statistics.median([win.bytes[t][k] for t in tokens])} for k in keys},
            "codes_total": dict(sorted(win.codes.items()))}


def _per_pod(win: Window, pods_per_node: int) -> dict[str, Any]:
    tokens = sorted(win.requests)
    n = len(tokens) * pods_per_node
    kinds = Counter[str]()
    sizes = Counter[str]()
    for t in tokens:
        kinds.update(win.requests[t])
        sizes.update(win.bytes[t])
    # watch bytes are what the daemon's own watches received meanwhile (its pods' MODIFIED events)
    return {"seconds": win.seconds, "pods": n,
            "requests_per_pod": round(sum(v for k, v in kinds.items() if not k.startswith("watch")) / n, 2),
            "by_kind_per_pod": {k: {"requests": round(kinds[k] / n, 2), "bytes": round(sizes[k] / n, 1)}
                                for k in sorted(set(kinds) | set(sizes))},
            "codes_total": dict(sorted(win.codes.items()))}


def _nad(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": name, "type": PLUGIN})}}


def _pod(name: str, node: str, networks: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
                         "annotations": {"k8s.v1.cni.cncf.io/networks": networks},
                         "labels": {"app": "bench"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/app:1.0"}]},
            "status": {"phase": "Pending"}}


class Cluster:
    def __init__(self, opts: ClusterOptions, work: Path, python: str, progress: Progress) -> None:
        self.opts = opts
        self.work = work
        self.python = python
        self.progress = progress
        self.api = ClusterApi(legacy_crd=False)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="mb-cluster-"))   # unix socket paths must be short
        self.plugins = work / "plugins"
        self.plugins.mkdir(parents=True, exist_ok=True)
        script = self.plugins / PLUGIN
        script.write_text(FAKE_DELEGATE)
        script.chmod(0o755)
        self.daemons = [NodeDaemon(i, work / f"node-{i}", python, self.api.url, opts.nad_scope)
                        for i in range(opts.nodes)]
        self.meter = Meter(self.api, [d.token for d in self.daemons])
        from .runners import shim_path

        self.shim = str(shim_path())
        if not os.access(self.shim, os.X_OK):
            raise ClusterBroken(f"the shim {self.shim} is not built (pip install -e . compiles native/shim.c)")

    # ---- phases ----------------------------------------------------------------------------
    def start_daemons(self) -> dict[str, Any]:
        mark = self.meter.mark()
        for d in self.daemons:
            d.spawn(self.socket_dir)
        deadline = time.monotonic() + self.opts.timeout
        while not all(d.poll_ready() for d in self.daemons):
            if time.monotonic() > deadline:
                late = [d.name for d in self.daemons if d.ready_seconds is None]
                raise ClusterBroken(f"daemons not ready within {self.opts.timeout:.0f} s: {late}")
            time.sleep(0.05)
        time.sleep(1.0)   # the watches open right after the first LIST
        ready = [d.ready_seconds or 0.0 for d in self.daemons]
        doc = _per_daemon(self.meter.window("start-up", mark))
        doc["ready_seconds"] = {"median": round(statistics.median(ready), 3), "max": round(max(ready), 3)}
        doc["rss_mb"] = self._rss()
        return doc

    def stop_daemons(self) -> None:
        for d in self.daemons:
            d.stop()

    def _rss(self) -> dict[str, float] | None:
        values = [v for d in self.daemons if (v := d.rss_mb()) is not None]
        return {"median": statistics.median(values), "max": max(values)} if values else None

    def _conf(self, d: NodeDaemon) -> bytes:
        return json.dumps({"cniVersion": "1.0.0", "name": "bench-cluster", "type": "multus-dp",
                           "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": PLUGIN}],
                           "stateDir": str(d.root / "state"), "binDir": "",
                           "networksDir": str(d.root / "networks.d"), "confDir": str(d.root / "conf.d"),
                           "cniConfigDir": str(d.root / "conf.d"), "deviceInfoDir": str(d.root / "devinfo")}).encode()

    def _pods(self, d: NodeDaemon) -> list[str]:
        return [f"{d.name}-pod-{k}" for k in range(self.opts.pods)]

    def _shim(self, d: NodeDaemon, command: str, pod: str) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": f"c-{pod}",
               "CNI_NETNS": f"/var/run/netns/{pod}", "CNI_IFNAME": "eth0", "CNI_PATH": str(self.plugins),
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={NAMESPACE};K8S_POD_NAME={pod};K8S_POD_UID=uid-{pod}",
               "MULTUS_DP_SOCKET": d.socket}
        proc = subprocess.run([self.shim], input=self._conf(d), env=env, capture_output=True, timeout=self.opts.timeout)
        if proc.returncode != 0:
            raise ClusterBroken(f"{command} of {pod} on {d.name} exited {proc.returncode}: "
                                f"{proc.stdout.decode(errors='replace')[-400:]}")
        if command == "ADD":
            result = json.loads(proc.stdout)
            names = [i.get("name") for i in result.get("interfaces", [])]
            if "eth0" not in names:   # the other attachments are checked in the pod's network-status
                raise ClusterBroken(f"ADD of {pod} on {d.name}: interfaces {names}, no eth0")

    def _on_every_node(self, command: str) -> None:
        errors: list[BaseException] = []

        def node(d: NodeDaemon) -> None:
            try:
                for pod in self._pods(d):
                    self._shim(d, command, pod)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=node, args=(d,), daemon=True) for d in self.daemons]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise ClusterBroken(str(errors[0]))

    def _wait(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.opts.timeout
        while not check():
            if time.monotonic() > deadline:
                raise ClusterBroken(f"timed out waiting for {what}")
            time.sleep(0.1)

    def _statuses_published(self) -> bool:
        for d in self.daemons:
            for pod in self._pods(d):
                obj = self.api.get("pods", NAMESPACE, pod) or {}
                value = (obj.get("metadata", {}).get("annotations") or {}).get(STATUS)
                if not value or len(json.loads(value)) != self.opts.networks + 1:
                    return False
        return True

    def add_del(self) -> dict[str, Any]:
        networks = ",".join(f"net-{i}" for i in range(1, self.opts.networks + 1))
        for d in self.daemons:
            for pod in self._pods(d):
                self.api.put("pods", _pod(pod, d.name, networks))
        time.sleep(0.5)   # the scheduler's binding reaches the node's watch before kubelet calls CNI
        mark = self.meter.mark()
        self._on_every_node("ADD")
        self._wait(self._statuses_published, "every pod's network-status")
        time.sleep(0.5)   # the events after the patch
        add = _per_pod(self.meter.window("ADD", mark), self.opts.pods)
        rss_after_add = self._rss()
        for d in self.daemons:
            for pod in self._pods(d):
                self.api.begin_delete("pods", NAMESPACE, pod)
        time.sleep(0.5)   # kubelet sees the deletion, then tears the sandbox down
        mark = self.meter.mark()
        self._on_every_node("DEL")
        time.sleep(1.0)   # anything the daemons would publish asynchronously
        delete = _per_pod(self.meter.window("DEL", mark), self.opts.pods)
        for d in self.daemons:
            for pod in self._pods(d):
                self.api.finalize("pods", NAMESPACE, pod)
        return {"add": add, "del": delete, "rss_mb_after_add": rss_after_add}

    def idle(self) -> dict[str, Any]:
        time.sleep(1.0)
        mark = self.meter.mark()
        time.sleep(self.opts.idle)
        doc = _per_daemon(self.meter.window("idle", mark))
        minutes = doc["seconds"] / 60.0
        doc["requests_per_minute_per_daemon"] = round(doc["requests_per_daemon"]["median"] / minutes, 3)
        doc["rss_mb"] = self._rss()
        return doc

    def close(self) -> None:
        self.stop_daemons()
        self.api.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def unavailable_reason() -> str | None:
    try:
        import aiohttp  # noqa: F401

        from multus_dp.daemon.protocol import DaemonClient  # noqa: F401
    except ImportError as exc:
        return f"needs aiohttp and the multus-dp daemon ({exc}); pip install -e '.[bench]'"
    from .runners import shim_path

    if not os.access(shim_path(), os.X_OK):
        return f"the shim {shim_path()} is not built (pip install -e . compiles native/shim.c)"
    return None


def run_cluster(opts: ClusterOptions, work: Path, progress: Progress, python: str = sys.executable) -> dict[str, Any]:
    """The whole scenario; the result section of the document (with `failed` set when broken)."""
    work.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"options": {"nodes": opts.nodes, "pods_per_node": opts.pods,
                                       "networks_per_pod": opts.networks, "idle_seconds": opts.idle,
                                       "nad_scope": opts.nad_scope, "other_pods": OTHER_PODS,
                                       "other_nads": OTHER_NADS},
                           "failed": None}
    cluster = Cluster(opts, work, python, progress)
    try:
        for i in range(1, opts.networks + 1):
            cluster.api.put(NAD_PLURAL, _nad(f"net-{i}"))
        for i in range(OTHER_PODS):   # the rest of the cluster: a node's LIST/WATCH must not carry them
            cluster.api.put("pods", _pod(f"elsewhere-{i}", "node-elsewhere", ""))
        for i in range(OTHER_NADS):   # other tenants' NADs: cluster-wide NAD caches carry them
            cluster.api.put(NAD_PLURAL, _nad(f"tenant-net-{i}", f"tenant-{i % 10}"))
        progress(f"scenario 6: starting {opts.nodes} daemons (legacy Network CRD not installed)")
        doc["startup"] = cluster.start_daemons()
        progress(f"scenario 6: ready (median {doc['startup']['ready_seconds']['median']} s); "
                 f"ADD+DEL of {opts.pods} pod(s) x {opts.networks} NAD(s) on each node")
        doc.update(cluster.add_del())
        progress(f"scenario 6: per ADD {doc['add']['requests_per_pod']} request(s), per DEL "
                 f"{doc['del']['requests_per_pod']}; idling {opts.idle:g} s")
        doc["idle"] = cluster.idle()
        if opts.legacy_crd_pass:
            cluster.stop_daemons()
            cluster.api.install_legacy_crd(True)
            cluster.api.put("networks", {"apiVersion": "kubernetes.com/v1", "kind": "Network",
                                         "metadata": {"name": "flannel", "namespace": "default"},
                                         "plugin": "flannel", "args": "[]"})
            progress("scenario 6: restarting the daemons with the legacy Network CRD installed; idling")
            doc["startup_with_legacy_crd"] = cluster.start_daemons()
            doc["idle_with_legacy_crd"] = cluster.idle()
    except ClusterBroken as exc:
        doc["failed"] = str(exc)
        progress(f"scenario 6: BROKEN: {exc}")
    finally:
        cluster.close()
    doc["extrapolation"] = extrapolate(doc)
    return doc


# ---- the 300-node extrapolation ------------------------------------------------------------
TARGET = {"nodes": 300, "pods_per_node": 8, "networks_per_pod": 5}
WATCH_TIMEOUT_S = 300      # kubeWatchTimeout default: each watch is re-opened this often when idle
LEGACY_RECHECK_S = 3600    # kubeLegacyNetworksRecheck default
OLD_BACKOFF_S = 30         # kubeBackoffMax: the failed legacy LIST period before this change


def _kind(section: dict[str, Any], prefix: str) -> float:
    return sum(v["requests"] for k, v in section.get("by_kind_per_pod", {}).items() if k.startswith(prefix))


def extrapolate(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Scale the measured per-pod pattern to 300 nodes x 8 pods x 5 networks, beside Multus'
    per-pod pattern. Assumptions are listed in the result."""
    if doc.get("failed") or "add" not in doc:
        return None
    measured_networks = doc["options"]["networks_per_pod"]
    add, delete = doc["add"], doc["del"]
    patches = _kind(add, "patch pods/status")
    events_per_attachment = _kind(add, "create events") / (measured_networks + 1)
    reads = _kind(add, "get") + _kind(add, "list")
    n, p, k = TARGET["nodes"], TARGET["pods_per_node"], TARGET["networks_per_pod"]
    ours_add = reads + patches + events_per_attachment * (k + 1)
    ours_del = delete["requests_per_pod"]
    multus_add = 3 + k + 1 + (k + 1)       # GET pod x3, GET per NAD, PUT status, one event per attachment
    pods = n * p
    idle_watches = 2                        # pods + NADs (the legacy CRD absent)
    return {
        "target": TARGET,
        "assumptions": [
            f"per-pod requests measured at {measured_networks} NAD(s) per pod; reads and status patches do not "
            "depend on the number of networks, AddedInterface events are one per attachment (cluster network "
            "included), so 5 networks give 6 events",
            "every pod is new: ADD once and DEL once per pod (a full churn of 2,400 pods); DELs are of pods being "
            "deleted (deletionTimestamp set), so no network-status withdrawal",
            f"idle: each daemon re-opens its pod and NAD watches every kubeWatchTimeout ({WATCH_TIMEOUT_S} s) and "
            f"asks discovery for the legacy CRD every kubeLegacyNetworksRecheck ({LEGACY_RECHECK_S} s); before "
            f"this change a failed LIST every kubeBackoffMax ({OLD_BACKOFF_S} s)",
            "Multus (thin, per the reported pattern): GET pod x3, one GET per NAD, one PUT pods/status, one event "
            "per attachment on ADD; its DEL reads the pod once (GET) — its cache-based thick mode reads less",
            "watch bytes (the node's own pod events) are not requests and are not in the request counts",
        ],
        "per_add": {"multus_dp": round(ours_add, 2), "multus": multus_add,
                    "multus_dp_detail": {"reads": reads, "patch_status": patches,
                                         "events": round(events_per_attachment * (k + 1), 2)},
                    "multus_detail": {"get_pod": 3, "get_nad": k, "put_status": 1, "events": k + 1}},
        "per_del": {"multus_dp": ours_del, "multus": 1},
        "full_churn_requests": {"multus_dp": round(pods * (ours_add + ours_del)), "multus": pods * (multus_add + 1)},
        "idle_requests_per_second_cluster": {
            "multus_dp": round(n * (idle_watches / WATCH_TIMEOUT_S + 1 / LEGACY_RECHECK_S), 2),
            "multus_dp_before_legacy_fix": round(n * (idle_watches / WATCH_TIMEOUT_S + 1 / OLD_BACKOFF_S), 2)},
        "rss_total_gb": round(n * doc["startup"]["rss_mb"]["median"] / 1024, 1) if doc["startup"].get("rss_mb") else None,
    }
