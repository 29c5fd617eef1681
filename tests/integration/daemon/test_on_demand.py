"""Thin mode on demand, end to end with real processes: `multus-dp install --on-demand` puts the
real shim and its `multus-dp.on-demand` file into a temp bin dir, the shim is exec'd as a
runtime execs a plugin, and it starts the real `multus-dp daemon --on-demand` (detached) when
none listens. Fake delegates (small scripts) stand in for the plugins."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from multus_dp.daemon.protocol import DaemonClient
from tests.support.daemonproc import require_shim, run_shim
from tests.support.fakeplugin import FakePlugin, FakePluginDir

STATUS = "k8s.v1.cni.cncf.io/network-status"


class OnDemandNode:
    """A bin dir with the installed shim, fake delegates, a short socket path; every daemon the
    shims start is found by its command line (it names our socket) and stopped at the end."""

    def __init__(self, root: Path, plugins: FakePluginDir, idle_timeout: float, on_demand: bool = True) -> None:
        self.root = root
        self.plugins = plugins
        self.bin_dir = root / "bin"
        self.state = root / "state"
        self.daemon_state = root / "daemon-state"
        self.log = root / "daemon.log"
        self.socket_root = Path(tempfile.mkdtemp(prefix="mdp-od-"))   # a unix socket path has 108 bytes
        self.socket = str(self.socket_root / "run" / "daemon.sock")
        self.cluster = plugins.make("cluster", address="10.244.1.5/24")
        self.second = plugins.make("second", address="192.168.50.7/24")
        self.install(on_demand, idle_timeout)

    def install(self, on_demand: bool, idle_timeout: float | None = None) -> None:
        argv = [sys.executable, "-m", "multus_dp", "install", "--bin-dir", str(self.bin_dir), "--no-conf"]
        if on_demand:
            argv += ["--on-demand", "--state-dir", str(self.daemon_state), "--daemon-log-file", str(self.log)]
            if idle_timeout is not None:
                argv += ["--idle-timeout", str(idle_timeout)]
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    @property
    def shim(self) -> str:
        return str(self.bin_dir / "multus-dp")

    def conf(self, **extra: Any) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "socketPath": self.socket,
                "stateDir": str(self.state), "binDir": "", "networksDir": str(self.root / "none"),
                "confDir": str(self.root / "none"), "cniConfigDir": str(self.root / "none"),
                "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "cluster"},
                              {"cniVersion": "1.0.0", "name": "second", "type": "second"}], **extra}

    def call(self, command: str, cid: str, conf: dict[str, Any] | None = None, pod: str = "p1",
             namespace: str = "it") -> subprocess.CompletedProcess[str]:
        return run_shim(self.shim, command, conf or self.conf(), container=cid, netns="/run/netns/none",
                        cni_path=str(self.plugins.dir),
                        args=f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={pod};"
                             f"K8S_POD_UID=uid-{pod}", timeout=60)

    def daemon_pids(self) -> list[int]:
        """Live `multus-dp daemon --on-demand` processes serving our socket."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"--on-demand" in argv and self.socket.encode() in argv and state != "Z":
                pids.append(int(entry))
        return pids

    def daemon_starts(self) -> int:
        """How many daemons started: each logs "serving on" once."""
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if '"serving on ' in line)

    def wait_no_daemon(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.daemon_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.daemon_pids(), f"the on-demand daemon did not exit; log: {self.log_tail()}"

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else "(no log)"

    def close(self) -> None:
        for pid in self.daemon_pids():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while self.daemon_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.daemon_pids():
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.socket_root, ignore_errors=True)


@pytest.fixture
def node_factory(tmp_path: Path, fake_plugins: FakePluginDir) -> Iterator[Callable[..., OnDemandNode]]:
    require_shim()
    made: list[OnDemandNode] = []

    def make(idle_timeout: float = 60.0, on_demand: bool = True) -> OnDemandNode:
        made.append(OnDemandNode(tmp_path, fake_plugins, idle_timeout, on_demand))
        return made[-1]

    yield make
    for node in made:
        node.close()


def wait_refused(path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return
        finally:
            probe.close()
        assert time.monotonic() < deadline, f"{path} still accepts connections"
        time.sleep(0.02)


def assert_added(done: subprocess.CompletedProcess[str], node: OnDemandNode) -> dict[str, Any]:
    assert done.returncode == 0, f"{done.stdout} {done.stderr} daemon log: {node.log_tail()}"
    result = json.loads(done.stdout)
    assert result["ips"][0]["address"] == "10.244.1.5/24"
    return result


def commands(plugin: FakePlugin, cid: str) -> list[str]:
    return [c["command"] for c in plugin.calls() if c["env"].get("CNI_CONTAINERID") == cid]


def test_two_first_adds_race_to_start_the_daemon_one_starts(node_factory) -> None:
    node = node_factory()
    assert node.daemon_pids() == []
    with ThreadPoolExecutor(4) as pool:   # four runtimes' first ADDs at once, no daemon yet
        adds = list(pool.map(lambda k: node.call("ADD", f"race{k}", pod=f"p{k}"), range(4)))
    for done in adds:
        assert_added(done, node)
    assert len(node.daemon_pids()) == 1, node.log_tail()
    assert node.daemon_starts() == 1, node.log_tail()
    assert "cannot start" not in node.log_tail()   # no second daemon even tried
    status = DaemonClient(node.socket, timeout=10).status()
    assert status["pid"] == node.daemon_pids()[0]
    assert status["caches"]["processContexts"] == 1   # four requests, one set of process keys
    for k in range(4):
        assert node.call("DEL", f"race{k}", pod=f"p{k}").returncode == 0
        assert commands(node.second, f"race{k}") == ["ADD", "DEL"]
    assert not list((node.state / "attachments").glob("*.json"))


def test_idle_exit_mid_burst_loses_no_request(node_factory) -> None:
    node = node_factory(idle_timeout=0.5)
    # gaps around the idle time (some requests land as the daemon decides to exit), and one
    # well past it (the daemon has surely exited: the next request starts a new one)
    gaps = [0.3, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.5, 3.0, 0.5, 0.55, 0.6]
    outcomes = []
    for k, gap in enumerate(gaps):
        outcomes.append(node.call("ADD", f"burst{k}", pod=f"p{k}"))
        time.sleep(gap)
    for done in outcomes:
        assert_added(done, node)
    assert node.daemon_starts() >= 2, node.log_tail()
    assert "exiting (idleTimeout)" in node.log_tail()
    for k in range(len(gaps)):   # whichever daemon serves it: the state is on disk
        done = node.call("DEL", f"burst{k}", pod=f"p{k}")
        assert done.returncode == 0, done.stdout
        assert commands(node.cluster, f"burst{k}") == ["ADD", "DEL"]
    node.wait_no_daemon()
    assert not os.path.exists(node.socket), "an idle exit removes the socket file"


def test_del_after_the_daemon_exited(node_factory) -> None:
    node = node_factory(idle_timeout=600)
    conf = node.conf(daemonIdleTimeout=0.5)   # the config's idle time wins over install's
    assert_added(node.call("ADD", "late1", conf=conf), node)
    assert (node.state / "attachments" / "late1.json").exists()
    node.wait_no_daemon()
    assert "no request for 0.5 s" in node.log_tail()
    done = node.call("DEL", "late1", conf=conf)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + node.log_tail()
    assert commands(node.cluster, "late1") == ["ADD", "DEL"]
    assert commands(node.second, "late1") == ["ADD", "DEL"]
    assert not (node.state / "attachments" / "late1.json").exists()
    assert node.daemon_starts() == 2


def test_a_stale_socket_file_gets_a_new_daemon(node_factory) -> None:
    node = node_factory()
    Path(node.socket).parent.mkdir(parents=True, mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(node.socket)          # a file nobody listens on: what a killed daemon leaves
    stale.close()
    assert stat.S_ISSOCK(os.lstat(node.socket).st_mode)
    assert_added(node.call("ADD", "stale1"), node)
    assert len(node.daemon_pids()) == 1 and node.daemon_starts() == 1
    assert node.call("DEL", "stale1").returncode == 0


def test_a_killed_daemon_is_replaced_and_the_del_still_cleans_up(node_factory) -> None:
    node = node_factory()
    assert_added(node.call("ADD", "killed1"), node)
    [pid] = node.daemon_pids()
    os.kill(pid, signal.SIGKILL)     # its socket file stays behind
    node.wait_no_daemon()
    wait_refused(node.socket)        # its last thread is gone too (the listener closes with it)
    assert os.path.exists(node.socket)
    done = node.call("DEL", "killed1")
    assert (done.returncode, done.stdout) == (0, ""), done.stdout
    assert commands(node.second, "killed1") == ["ADD", "DEL"]


def test_thick_mode_never_starts_a_daemon(node_factory) -> None:
    node = node_factory(on_demand=False)
    assert not (node.bin_dir / "multus-dp.on-demand").exists()
    for command in ("ADD", "DEL", "VERSION"):
        done = node.call(command, "thick1")
        err = json.loads(done.stdout)
        assert done.returncode == 1 and err["code"] == 11 and node.socket in err["msg"], done.stdout
    assert node.daemon_pids() == [] and node.daemon_starts() == 0
    assert node.cluster.calls() == []


def test_switching_back_to_thick_mode_removes_the_on_demand_file(node_factory) -> None:
    node = node_factory()
    assert (node.bin_dir / "multus-dp.on-demand").exists()
    node.install(on_demand=False)
    assert not (node.bin_dir / "multus-dp.on-demand").exists()
    done = node.call("ADD", "switch1")
    assert json.loads(done.stdout)["code"] == 11 and node.daemon_pids() == []


def test_version_is_answered_without_a_daemon(node_factory) -> None:
    node = node_factory()
    done = run_shim(node.shim, "VERSION", {"cniVersion": "0.4.0"})
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"cniVersion": "0.4.0", "supportedVersions": [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}
    assert json.loads(run_shim(node.shim, "VERSION", b"").stdout)["cniVersion"] == "1.1.0"
    assert node.daemon_pids() == [] and node.daemon_starts() == 0


def test_a_daemon_that_dies_at_start_is_reported_at_once(node_factory) -> None:
    node = node_factory()
    marker = node.bin_dir / "multus-dp.on-demand"
    marker.write_text("/bin/false\n")       # exits at once: no waiting out the start timeout
    done = node.call("ADD", "dies1", conf=node.conf(daemonStartTimeout=120))
    err = json.loads(done.stdout)
    assert done.returncode == 1 and err["code"] == 11, done.stdout
    assert "it exited during start" in err["msg"] and str(marker) in err["msg"]
    marker.write_text("/nonexistent/multus-dp\n")
    err = json.loads(node.call("ADD", "dies2").stdout)
    assert err["code"] == 11 and "cannot start the on-demand daemon /nonexistent/multus-dp" in err["msg"]
    assert "No such file" in err["msg"]
    assert node.cluster.calls() == []


def test_a_daemon_that_never_listens_ends_in_the_start_timeout(node_factory) -> None:
    node = node_factory()
    # alive but never listening: the shim that starts it and the one waiting for it both give up
    (node.bin_dir / "multus-dp.on-demand").write_text("/bin/sh\n-c\nexec sleep 3\n")
    conf = node.conf(daemonStartTimeout=0.5)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda k: node.call("ADD", f"slow{k}", conf=conf), range(2)))
    errors = [json.loads(done.stdout) for done in outcomes]
    assert [(done.returncode, err["code"]) for done, err in zip(outcomes, errors)] == [(1, 11), (1, 11)], errors
    messages = sorted(err["msg"] for err in errors)
    assert any("did not listen on" in m and "within 0.5 s: start timeout" in m for m in messages), messages
    assert node.cluster.calls() == []


def test_an_on_demand_file_others_may_write_is_refused(node_factory) -> None:
    node = node_factory()
    marker = node.bin_dir / "multus-dp.on-demand"
    marker.chmod(0o666)
    done = node.call("ADD", "unsafe1")
    err = json.loads(done.stdout)
    assert done.returncode == 1 and err["code"] == 11 and "refusing to run the command in" in err["msg"]
    assert node.daemon_pids() == []


def test_kubeconfig_pod_and_nads_read_and_status_published(node_factory, tmp_path: Path) -> None:
    from multus_dp.k8s.kinds import NADS, PODS
    from tests.unit.k8s.conftest import FAST, eventually
    from tests.unit.k8s.emulator import Emulator, pod, write_kubeconfig
    from tests.unit.k8s.flow import nad

    node = node_factory()
    emu = Emulator()
    try:
        emu.seed(NADS, nad("cluster-net", "cluster", namespace="kube-system"))
        emu.seed(NADS, nad("net-a", "second"))
        emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-a@data0"}))
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", emu.url, token="token-1")
        conf = node.conf(kubeconfig=str(kubeconfig), clusterNetwork="cluster-net", delegates=[], **FAST)
        mark = emu.mark()
        done = node.call("ADD", "kube1", conf=conf, pod="web", namespace="ns1")
        assert_added(done, node)
        assert [c["env"]["CNI_IFNAME"] for c in node.second.calls() if c["command"] == "ADD"] == ["data0"]

        def published() -> list[dict[str, Any]]:
            value = emu.get(PODS, "ns1", "web")["metadata"].get("annotations", {}).get(STATUS)
            return json.loads(value) if value else []

        status = eventually(published, what="network-status on the pod")
        assert [(s["name"], s["interface"]) for s in status] == [("kube-system/cluster-net", "eth0"),
                                                                 ("ns1/net-a", "data0")]
        seen = emu.since(mark)
        assert [r.path for r in seen if r.method == "GET"] == [
            "/api/v1/namespaces/ns1/pods/web",
            "/apis/k8s.cni.cncf.io/v1/namespaces/kube-system/network-attachment-definitions/cluster-net",
            "/apis/k8s.cni.cncf.io/v1/namespaces/ns1/network-attachment-definitions/net-a"]
        # another config without a kubeconfig, served by the same daemon with its own context
        assert_added(node.call("ADD", "plain1"), node)
        assert DaemonClient(node.socket, timeout=10).status()["caches"]["processContexts"] == 2
        assert node.call("DEL", "plain1").returncode == 0
        done = node.call("DEL", "kube1", conf=conf, pod="web", namespace="ns1")
        assert (done.returncode, done.stdout) == (0, ""), done.stdout
        eventually(lambda: published() == [], what="network-status withdrawn")
        assert len(node.daemon_pids()) == 1
    finally:
        emu.close()
