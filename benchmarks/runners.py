"""Ways of attaching a pod's networks, all behind one interface so a scenario can interleave
them iteration by iteration:

    floor            the delegates exec'd directly in order by a tiny C driver: no meta-plugin
    thin             thin mode as shipped: the shim installed by `multus-dp install --on-demand`,
                     which starts its on-demand daemon when none listens (started once, in
                     prepare(), outside every timed call: a DEL of an unknown container)
    thin-kubeconfig  the same with a kubeconfig in the config: the pod is read from and its
                     network-status published to kmock's Kubernetes emulator (as in the tests)
    thin-python      `multus-dp cni`: one Python process per call (thin mode before issue 17)
    thick            the native shim -> the multus-dp daemon (a real `multus-dp daemon` subprocess)
    reference        any CNI meta-plugin binary that takes Multus' `delegates` config (--reference)

Every runner gets the same delegate configs, the same CNI_* environment and the same netns.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .procs import Call, stop_process, timed
from .scenarios import CNI_VERSION, Scenario


@dataclass(frozen=True)
class Pod:
    name: str
    container_id: str
    netns: str           # netns name under /run/netns

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass
class Env:
    """What every runner shares: where the plugins are and where runner state goes."""
    cni_dir: str
    work_dir: Path
    python: str = sys.executable
    timeout: float = 120.0


def cni_env(env: Env, command: str, pod: Pod) -> dict[str, str]:
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": pod.container_id,
            "CNI_NETNS": pod.netns_path, "CNI_IFNAME": "eth0", "CNI_PATH": env.cni_dir,
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={pod.name};"
                        f"K8S_POD_UID=uid-{pod.container_id}"}


class Runner(Protocol):
    name: str
    label: str

    def prepare(self, scenario: Scenario) -> None: ...
    def add(self, pod: Pod) -> Call: ...
    def delete(self, pod: Pod) -> Call: ...
    def leftovers(self, pod: Pod) -> list[str]: ...
    def close(self) -> None: ...


@dataclass
class PhaseSample:
    """The daemon's own account of one request: its handling time and its phases (seconds)."""
    request: float
    phases: dict[str, float]


class FloorRunner:
    name = "floor"
    label = "direct delegates (C driver, no meta-plugin)"

    def __init__(self, env: Env, driver: Path) -> None:
        self.env = env
        self.driver = str(driver)
        self.conf_dir = env.work_dir / "floor"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.args: list[str] = []

    def prepare(self, scenario: Scenario) -> None:
        self.args = []
        for i, net in enumerate(scenario.networks):
            path = self.conf_dir / f"s{scenario.number}-{i}.json"
            path.write_text(json.dumps(net.config))
            self.args += [os.path.join(self.env.cni_dir, net.plugin), net.ifname, str(path)]

    def add(self, pod: Pod) -> Call:
        return timed([self.driver, "ADD", *self.args], cni_env(self.env, "ADD", pod), timeout=self.env.timeout)

    def delete(self, pod: Pod) -> Call:
        return timed([self.driver, "DEL", *self.args], cni_env(self.env, "DEL", pod), timeout=self.env.timeout)

    def leftovers(self, pod: Pod) -> list[str]:
        return []

    def close(self) -> None:
        pass


class _MetaRunner:
    """A meta-plugin fed a Multus-style config with the scenario's `delegates` on stdin."""
    name = "meta"
    label = "meta-plugin"

    def __init__(self, env: Env, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.env = env
        self.argv = argv
        self.extra_env = extra_env or {}
        self.stdin = b""

    def config(self, scenario: Scenario) -> dict[str, Any]:
        return {"cniVersion": CNI_VERSION, "name": "bench-meta", "type": "multus", "delegates": scenario.delegates}

    def prepare(self, scenario: Scenario) -> None:
        self.stdin = json.dumps(self.config(scenario)).encode()

    def _call(self, command: str, pod: Pod) -> Call:
        return timed(self.argv, {**cni_env(self.env, command, pod), **self.extra_env}, self.stdin, self.env.timeout)

    def add(self, pod: Pod) -> Call:
        return self._call("ADD", pod)

    def delete(self, pod: Pod) -> Call:
        return self._call("DEL", pod)

    def leftovers(self, pod: Pod) -> list[str]:
        return []

    def close(self) -> None:
        pass


class OursMixin:
    state_dir: Path

    def ours_config(self, scenario: Scenario, work: Path) -> dict[str, Any]:
        return {"cniVersion": CNI_VERSION, "name": "bench-multus-dp", "type": "multus-dp",
                "delegates": scenario.delegates, "stateDir": str(self.state_dir), "binDir": "",
                "networksDir": str(work / "networks.d"), "confDir": str(work / "conf.d"),
                "cniConfigDir": str(work / "conf.d"), "deviceInfoDir": str(work / "devinfo"),
                **scenario.conf_extra}

    def journal_leftovers(self, pod: Pod) -> list[str]:
        journal = self.state_dir / "attachments" / f"{pod.container_id}.json"
        left = [f"journal {journal} still exists"] if journal.exists() else []
        vf_dir = self.state_dir / "vf"
        allocations = sorted(p.name for p in vf_dir.glob("*.json")) if vf_dir.exists() else []
        return left + ([f"VF allocations left in {vf_dir}: {allocations}"] if allocations else [])


def thin_argv(python: str) -> list[str]:
    """What a node's wrapper execs: the venv's `multus-dp cni` console script."""
    script = Path(python).parent / "multus-dp"
    return [str(script), "cni"] if script.exists() else [python, "-m", "multus_dp", "cni"]


class ThinPythonRunner(_MetaRunner, OursMixin):
    name = "thin-python"
    label = "multus-dp thin, per-call Python (multus-dp cni)"

    def __init__(self, env: Env) -> None:
        super().__init__(env, thin_argv(env.python), {"MULTUS_DP_LOG_LEVEL": "warning"})
        self.state_dir = env.work_dir / "thin-python-state"

    def config(self, scenario: Scenario) -> dict[str, Any]:
        return self.ours_config(scenario, self.env.work_dir / "thin-python")

    def leftovers(self, pod: Pod) -> list[str]:
        return self.journal_leftovers(pod)


def shim_path() -> Path:
    import multus_dp

    return Path(multus_dp.__file__).parent / "bin" / "multus-dp-shim"


# the bench's on-demand daemon must not idle out between scenarios: its start is not measured
BENCH_IDLE_TIMEOUT = 3600.0


class ThinRunner(_MetaRunner, OursMixin):
    """Thin mode as a node runs it: `<bin>/multus-dp` is the shim, `<bin>/multus-dp.on-demand`
    names the daemon it starts. The config carries the socket (no environment variable)."""
    name = "thin"
    label = "multus-dp thin (C shim -> on-demand daemon)"

    def __init__(self, env: Env) -> None:
        from multus_dp.daemon.install import install_on_demand_file, install_shim, on_demand_command

        shim = shim_path()
        if not os.access(shim, os.X_OK):
            raise DaemonUnavailable(f"the shim {shim} is not built (pip install -e . compiles native/shim.c)")
        root = env.work_dir / self.name
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        install_shim(bin_dir, shim)
        self.daemon_state = root / "daemon-state"
        self.daemon_log = self.daemon_state / "on-demand-daemon.log"
        install_on_demand_file(bin_dir, on_demand_command(BENCH_IDLE_TIMEOUT, str(self.daemon_state),
                                                          str(self.daemon_log), "warning", python=env.python))
        # a unix socket path must fit 108 bytes: a short private dir, whatever the work dir is
        self.socket_dir = Path(tempfile.mkdtemp(prefix="mb-thin-"))
        self.socket = str(self.socket_dir / "daemon.sock")
        super().__init__(env, [str(bin_dir / "multus-dp")])
        self.state_dir = env.work_dir / f"{self.name}-state"
        self.root = root

    def config(self, scenario: Scenario) -> dict[str, Any]:
        return {**self.ours_config(scenario, self.root), "socketPath": self.socket}

    def prepare(self, scenario: Scenario) -> None:
        super().prepare(scenario)
        if not os.path.exists(self.socket):   # start the daemon now, outside the timed calls
            start = self.delete(Pod("bench-start", "bench-on-demand-start", "none"))
            if not start.ok:
                log = self.daemon_log.read_text()[-800:] if self.daemon_log.exists() else ""
                raise DaemonUnavailable(f"the on-demand daemon did not start: {start.describe()} {log}")

    def leftovers(self, pod: Pod) -> list[str]:
        return self.journal_leftovers(pod)

    def phase_snapshot(self) -> dict[str, float]:
        from multus_dp.daemon.protocol import DaemonClient

        from .phases import parse_sums

        return parse_sums(DaemonClient(self.socket, timeout=10).metrics())

    def close(self) -> None:
        """Stop the on-demand daemon the shim started (by its pid, from its /status)."""
        from multus_dp.daemon.protocol import DaemonClient

        try:
            pid = int(DaemonClient(self.socket, timeout=5).status()["pid"])
        except (OSError, KeyError, ValueError):
            pid = 0
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists(f"/proc/{pid}"):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class ThinKubeconfigRunner(ThinRunner):
    """Thin mode with a kubeconfig: every pod exists in kmock's emulator (created before the
    clock runs, removed after its DEL), the daemon GETs it, and its network-status is checked
    after each ADD (and its removal after each DEL). The emulator runs in a process of its own on
    the same cores: a real API server's CPU is not the node's, so this is the harder case."""
    name = "thin-kubeconfig"
    label = "multus-dp thin + kubeconfig (C shim -> on-demand daemon -> API emulator)"

    def __init__(self, env: Env) -> None:
        from .kube_emulator import EmulatorProcess, write_kubeconfig

        super().__init__(env)
        try:
            self.emulator = EmulatorProcess(env.python)
        except ImportError as exc:
            super().close()
            raise DaemonUnavailable(f"needs kmock (pip install -e '.[bench]'): {exc}") from exc
        self.kubeconfig = write_kubeconfig(self.root / "kubeconfig", self.emulator.url)
        self.networks = 0

    def config(self, scenario: Scenario) -> dict[str, Any]:
        self.networks = len(scenario.networks)
        return {**super().config(scenario), "kubeconfig": str(self.kubeconfig), "nodeName": KUBE_NODE}

    def announce_pods(self, pods: list[Pod]) -> None:
        self.emulator.forget_requests()
        for pod in pods:
            self.emulator.seed("", "v1", "pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": KUBE_NAMESPACE, "uid": f"uid-{pod.container_id}"},
                "spec": {"nodeName": KUBE_NODE, "containers": [{"name": "c", "image": "busybox"}]}})

    def _status(self, pod: Pod) -> list[dict[str, Any]]:
        obj = self.emulator.get("", "v1", "pods", KUBE_NAMESPACE, pod.name) or {}
        value = (obj.get("metadata", {}).get("annotations") or {}).get(STATUS_ANNOTATION)
        return json.loads(value) if value else []

    def _eventually(self, pod: Pod, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """The daemon publishes right after its reply: poll (outside the timed call) up to 10 s."""
        deadline = time.monotonic() + STATUS_WAIT
        while True:
            status = self._status(pod)
            if done(status) or time.monotonic() > deadline:
                return status
            time.sleep(0.01)

    def verify_add(self, pod: Pod) -> list[str]:
        status = self._eventually(pod, lambda s: len(s) == self.networks)
        if len(status) != self.networks:
            return [f"network-status on the pod has {len(status)} entries, expected {self.networks}: {status}"]
        return []

    def leftovers(self, pod: Pod) -> list[str]:
        status = self._eventually(pod, lambda s: not s)
        left = [f"network-status still on the pod after DEL: {status}"] if status else []
        self.emulator.remove("", "v1", "pods", KUBE_NAMESPACE, pod.name)   # the pod is gone, as after a real DEL
        return left + super().leftovers(pod)

    def close(self) -> None:
        super().close()
        self.emulator.close()


STATUS_WAIT = 10.0                # seconds a published network-status may take to show on the pod
KUBE_NAMESPACE = "bench"          # cni_env's K8S_POD_NAMESPACE
KUBE_NODE = "bench-node"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"


class DaemonUnavailable(RuntimeError):
    pass


@dataclass
class Daemon:
    """`multus-dp daemon` as a subprocess on the run's own socket; metrics over that socket."""
    env: Env
    root: Path
    keys: dict[str, Any] = field(default_factory=dict)   # the node keys the daemon owns (sysfsRoot, ...)
    proc: subprocess.Popen[bytes] | None = None
    socket: str = ""
    socket_dir: Path | None = None
    log: Path = field(default_factory=Path)

    def start(self, timeout: float = 30.0) -> None:
        try:
            from multus_dp.daemon.protocol import DaemonClient
        except ImportError as exc:
            raise DaemonUnavailable(f"this build has no daemon ({exc})") from exc
        self.root.mkdir(parents=True, exist_ok=True)
        # a unix socket path must fit 108 bytes: a short private dir, whatever the work dir is
        self.socket_dir = Path(tempfile.mkdtemp(prefix="mb-daemon-"))
        self.socket = str(self.socket_dir / "daemon.sock")
        self.log = self.root / "daemon.log"
        config = self.root / "daemon.json"
        config.write_text(json.dumps({"socketPath": self.socket, "stateDir": str(self.root / "state"),
                                      "metricsAddress": "", "logFile": str(self.log), "logLevel": "warning",
                                      **self.keys}))
        self.proc = subprocess.Popen([self.env.python, "-m", "multus_dp", "daemon", "--config", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = DaemonClient(self.socket, timeout=2.0)
        deadline = time.monotonic() + timeout
        reason = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise DaemonUnavailable(f"multus-dp daemon exited with {self.proc.returncode}: {err[-800:]}")
            try:
                ready, reason = client.ready()   # not just alive: an ADD before ready gets code 11
                if ready:
                    self.client = client
                    return
            except OSError as exc:
                reason = str(exc)
            time.sleep(0.05)
        self.stop()
        raise DaemonUnavailable(f"multus-dp daemon on {self.socket} not ready within {timeout:.0f} s: {reason}")

    def metrics_text(self) -> str:
        return self.client.metrics()

    def stop(self) -> None:
        stop_process(self.proc)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


class ThickRunner(_MetaRunner, OursMixin):
    name = "thick"
    label = "multus-dp thick (C shim -> daemon)"

    def __init__(self, env: Env, node_keys: dict[str, Any] | None = None) -> None:
        shim = shim_path()
        if not os.access(shim, os.X_OK):
            raise DaemonUnavailable(f"the shim {shim} is not built (pip install -e . compiles native/shim.c)")
        # keys the process owns (the simulated NIC's sysfsRoot, sriovSimulatedPf) go to the daemon's config
        self.daemon = Daemon(env, env.work_dir / "daemon", dict(node_keys or {}))
        self.daemon.start()
        super().__init__(env, [str(shim)], {"MULTUS_DP_SOCKET": self.daemon.socket})
        self.state_dir = env.work_dir / "thick-state"

    def config(self, scenario: Scenario) -> dict[str, Any]:
        return self.ours_config(scenario, self.env.work_dir / "thick")

    def leftovers(self, pod: Pod) -> list[str]:
        return self.journal_leftovers(pod)

    def phase_snapshot(self) -> dict[str, float]:
        from .phases import parse_sums

        return parse_sums(self.daemon.metrics_text())

    def close(self) -> None:
        self.daemon.stop()


class ReferenceRunner(_MetaRunner):
    """Any CNI meta-plugin that takes Multus' `delegates` config (e.g. a Go Multus thin binary)."""
    name = "reference"

    def __init__(self, env: Env, path: str) -> None:
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"--reference {path} is not an executable file")
        super().__init__(env, [os.path.abspath(path)])
        self.path = os.path.abspath(path)
        self.label = f"reference {self.path}"
        self.cache_dir = env.work_dir / "reference-cache"

    def config(self, scenario: Scenario) -> dict[str, Any]:
        # Multus' own keys: its delegate cache and its plugin dir go to the run's dirs
        return {**super().config(scenario), "cniDir": str(self.cache_dir), "binDir": self.env.cni_dir}

    def leftovers(self, pod: Pod) -> list[str]:
        cached = self.cache_dir / pod.container_id
        return [f"reference cache {cached} still exists"] if cached.exists() else []
