"""Ways of attaching a pod's networks, all behind one interface so a scenario can interleave
them iteration by iteration:

    floor      the delegates exec'd directly in order by a tiny C driver: no meta-plugin
    thin       multus-dp as a plain CNI plugin (`multus-dp cni`, one Python process per call)
    thick      the native shim -> the multus-dp daemon (a real `multus-dp daemon` subprocess)
    reference  any CNI meta-plugin binary that takes Multus' `delegates` config (--reference)

Every runner gets the same delegate configs, the same CNI_* environment and the same netns.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .procs import Call, timed
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


class ThinRunner(_MetaRunner, OursMixin):
    name = "thin"
    label = "multus-dp thin (multus-dp cni)"

    def __init__(self, env: Env) -> None:
        super().__init__(env, thin_argv(env.python), {"MULTUS_DP_LOG_LEVEL": "warning"})
        self.state_dir = env.work_dir / "thin-state"

    def config(self, scenario: Scenario) -> dict[str, Any]:
        return self.ours_config(scenario, self.env.work_dir / "thin")

    def leftovers(self, pod: Pod) -> list[str]:
        return self.journal_leftovers(pod)


def shim_path() -> Path:
    import multus_dp

    return Path(multus_dp.__file__).parent / "bin" / "multus-dp-shim"


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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
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
