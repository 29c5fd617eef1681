"""The chaos suite: concurrent pods through the shim and the daemon while faults land at
random points drawn from a seeded generator, then DEL and GC of everything and a check that
nothing is left.

Each round starts a burst of pods (a real bridge cluster network, plus at random a real ptp
network, an SR-IOV VF of the simulated NIC, a delegate that hangs or one that fails) and
injects, at random moments of the burst, some of: daemon SIGKILL (+ restart), shim SIGKILL,
state dir full, state dir read-only (a real tmpfs), and before DEL the deletion of some pods'
netns. Then every pod is deleted through the shim, a GC runs, and the node must be as before:
no links in the pods, no veths, bridge ports or host-local leases, no journals, temp, lock,
status or VF record files, every VF netdev back on the host under its name with its MAC and
MTU, every VF's settings as they were.

Parameters (environment): MULTUS_DP_CHAOS_SEED (default: drawn and printed),
MULTUS_DP_CHAOS_ROUNDS (default 10), MULTUS_DP_CHAOS_PODS (pods per round, default 8),
MULTUS_DP_CHAOS_REPORT (a file to write the run's figures to, JSON). Every failure message
starts with the seed and round, so a failing run can be replayed exactly.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.daemonnic import DaemonNode
from tests.support.daemonproc import require_shim
from tests.support.fakeplugin import FakePluginDir
from tests.support.netns import ip
from tests.support.prereq import require_binary, require_cni_plugins

SEED = int(os.environ.get("MULTUS_DP_CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
ROUNDS = int(os.environ.get("MULTUS_DP_CHAOS_ROUNDS", "10"))
PODS = int(os.environ.get("MULTUS_DP_CHAOS_PODS", "8"))
REPORT = os.environ.get("MULTUS_DP_CHAOS_REPORT")
VFS = 3
DELEGATE_TIMEOUT = 2.0     # the hanging delegate is cut off at this (seconds)
CALL_TIMEOUT = 90.0        # no shim call may take longer than this: a hang is a failure
FAULTS = ("daemon_kill", "shim_kill", "hang", "fail", "state_full", "state_ro", "netns_gone")


@dataclass
class Pod:
    cid: str
    netns: str
    networks: list[dict[str, str]]
    vf: bool = False
    add_code: str = ""


@dataclass
class Run:
    seed: int
    pods: int = 0
    rounds: int = 0
    adds_ok: int = 0
    adds_failed: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)

    def tag(self, round_: int) -> str:
        return f"[chaos seed={self.seed} round={round_}; replay: MULTUS_DP_CHAOS_SEED={self.seed}]"


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(path)], check=True)


def fill(path: Path) -> bool:
    """Fill the state dir to the last byte; False when it cannot be (already read-only)."""
    try:
        fh = open(path / "filler.bin", "wb", buffering=0)  # unbuffered: close has nothing to flush
    except OSError:
        return False
    with fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return True


def remount(path: Path, mode: str, tries: int = 20) -> bool:
    """ro can be refused (EBUSY) while a file is open for writing: retry a moment later."""
    for _ in range(tries):
        if subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True).returncode == 0:
            return True
        time.sleep(0.02)
    return False


def host_veths() -> set[str]:
    out = ip("-j", "link", "show", "type", "veth")
    return {link["ifname"] for link in json.loads(out)} if out.strip() else set()


class Chaos:
    def __init__(self, node: DaemonNode, netlab, run: Run) -> None:
        self.node = node
        self.lab = netlab
        self.run = run
        self.shims: dict[str, subprocess.Popen[bytes]] = {}
        self.guard = threading.Lock()

    # ---- one shim call, killable -------------------------------------------------------
    def shim(self, command: str, pod: Pod | None) -> tuple[int, str]:
        """One call through the shim; `pod` None is a GC that keeps nothing."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_PATH": self.node.cni_path}
        if pod is None:
            body = {**self.node.body("[]"), "cniVersion": "1.1.0", "cni.dev/valid-attachments": []}
            pod = Pod("gc", "", [])
        else:
            body = self.node.body(pod.networks, delegateTimeout=DELEGATE_TIMEOUT, vfNetdevReturnTimeout=1.0)
            env.update({"CNI_CONTAINERID": pod.cid, "CNI_NETNS": pod.netns, "CNI_IFNAME": "eth0",
                        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=chaos;K8S_POD_NAME={pod.cid}"})
        proc = subprocess.Popen([self.node.shim], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        with self.guard:
            self.shims[pod.cid] = proc
        try:
            out, _ = proc.communicate(json.dumps(body).encode(), timeout=CALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -999, f"{command} did not return within {CALL_TIMEOUT:g}s"
        finally:
            with self.guard:
                self.shims.pop(pod.cid, None)
        return proc.returncode, out.decode(errors="replace")

    # ---- a round ------------------------------------------------------------------------
    def plan(self, rng: random.Random, round_: int) -> tuple[list[Pod], set[str]]:
        faults = set(rng.sample(FAULTS, rng.randint(1, 3)))
        vf_pods = set(rng.sample(range(PODS), min(VFS, PODS)))
        faulty = set(rng.sample(range(PODS), rng.randint(1, 2)))
        pods = []
        for i in range(PODS):
            networks: list[dict[str, str]] = []
            if rng.random() < 0.6:
                networks.append({"name": "ptp-net"})
            vf = i in vf_pods
            if vf:
                networks.append({"name": "vf-net", "deviceID": self.node.bdfs[sorted(vf_pods).index(i)]})
            for kind in ("hang", "fail"):
                if kind in faults and i in faulty:
                    networks.append({"name": f"{kind}-net"})
            pods.append(Pod(f"r{round_}p{i}", self.lab.path(self.lab.add_netns()), networks, vf))
        return pods, faults

    def inject(self, rng: random.Random, faults: set[str], pods: list[Pod], started: threading.Event,
               done: threading.Event) -> None:
        """Faults at random moments of the ADD burst (the moments drawn up front: replayable)."""
        events: list[tuple[float, str, str]] = []
        if "daemon_kill" in faults:
            events.append((rng.uniform(0.02, 0.4), "daemon_kill", ""))
        if "shim_kill" in faults:
            for pod in rng.sample(pods, rng.randint(1, 3)):
                events.append((rng.uniform(0.01, 0.3), "shim_kill", pod.cid))
        if "state_full" in faults:
            events.append((rng.uniform(0.0, 0.4), "state_full", ""))
        if "state_ro" in faults:
            events.append((rng.uniform(0.0, 0.4), "state_ro", ""))
        started.wait()
        t0 = time.monotonic()
        for at, kind, target in sorted(events):
            if done.wait(max(0.0, at - (time.monotonic() - t0))):
                break   # the burst is over: a later fault would not land in it
            if kind == "daemon_kill":
                assert self.node.daemon.proc is not None
                self.node.daemon.proc.send_signal(signal.SIGKILL)
                self.node.daemon.proc.wait(10)
                self.run.faults[kind] += 1
                self.node.daemon.start()
            elif kind == "shim_kill":
                with self.guard:
                    proc = self.shims.get(target)
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    self.run.faults[kind] += 1
            elif kind == "state_full" and fill(self.node.state):
                self.run.faults[kind] += 1
            elif kind == "state_ro" and remount(self.node.state, "ro"):
                self.run.faults[kind] += 1

    def heal(self) -> None:
        """The operator fixes the node: space back, writable again, the daemon running."""
        assert remount(self.node.state, "rw"), "cannot remount the state dir read-write"
        filler = self.node.state / "filler.bin"
        if filler.exists():
            filler.unlink()
        if self.node.daemon.proc is None or self.node.daemon.proc.poll() is not None:
            self.node.daemon.start()

    def round(self, round_: int) -> None:
        rng = random.Random(f"{self.run.seed}/{round_}")
        tag = self.run.tag(round_)
        veths_before = host_veths()
        pods, faults = self.plan(rng, round_)
        self.run.faults.update(f for f in faults if f in ("hang", "fail"))
        started, done = threading.Event(), threading.Event()
        failure: list[BaseException] = []

        def inject() -> None:
            try:
                self.inject(rng, faults, pods, started, done)
            except BaseException as exc:  # re-raised below, with the seed
                failure.append(exc)

        injector = threading.Thread(target=inject)
        injector.start()
        with ThreadPoolExecutor(len(pods)) as pool:
            futures = [pool.submit(self.shim, "ADD", pod) for pod in pods]
            started.set()
            outcomes = [f.result() for f in futures]
        done.set()
        injector.join()
        if failure:
            raise AssertionError(f"{tag} fault injection failed: {failure[0]!r}") from failure[0]
        for pod, (code, out) in zip(pods, outcomes):
            assert code != -999, f"{tag} ADD {pod.cid} hung: {out}"
            pod.add_code = "ok" if code == 0 else out[:200]
            self.run.adds_ok += code == 0
            self.run.adds_failed += code != 0
        self.heal()
        if "netns_gone" in faults:
            # not for VF pods: the simulated VF netdev is a veth, which dies with its netns
            # (a real VF's netdev returns to the host; tests/integration/sriov cover that)
            for pod in rng.sample([p for p in pods if not p.vf], rng.randint(1, 3)):
                ip("netns", "del", Path(pod.netns).name)
                self.run.faults["netns_gone"] += 1
        with ThreadPoolExecutor(len(pods)) as pool:
            dels = list(pool.map(lambda p: self.shim("DEL", p), pods))
        failed = [(p.cid, p.add_code, out) for p, (code, out) in zip(pods, dels) if code != 0]
        assert not failed, f"{tag} DEL failed (faults {sorted(faults)}): {failed}"
        gc = self.shim("GC", None)
        assert gc[0] == 0, f"{tag} GC failed: {gc[1]}"
        alive = [p.netns for p in pods if os.path.exists(p.netns)]
        leaks = self.node.leftovers(alive)
        leaks += [f"host veth {v}" for v in sorted(host_veths() - veths_before)]
        self.run.leaks += leaks
        assert leaks == [], f"{tag} left behind after faults {sorted(faults)}: {leaks}; ADD outcomes: " + \
            "; ".join(f"{p.cid}={p.add_code}" for p in pods)
        self.run.pods += len(pods)
        self.run.rounds += 1


@pytest.fixture
def chaos_node(netlab, tmp_path: Path):
    require_binary("mount")
    cni_dir = require_cni_plugins("bridge", "ptp", "host-local")
    fakes = FakePluginDir(tmp_path)
    fakes.make("hang", sleep={"ADD": 60})
    fakes.make("fail", fail={"ADD": (11, "injected failure")})
    state = tmp_path / "state"
    mount_tmpfs(state)
    node = DaemonNode(netlab, tmp_path, cni_dir, require_shim(), vfs=VFS, extra_plugins=fakes.dir, state=state)
    ipam = {"type": "host-local", "dataDir": str(node.ipam)}
    node.add_nad("ptp-net", {"cniVersion": "1.0.0", "type": "ptp", "ipam": {**ipam, "subnet": "10.250.4.0/22"}})
    node.add_nad("hang-net", {"cniVersion": "1.0.0", "type": "hang"})
    node.add_nad("fail-net", {"cniVersion": "1.0.0", "type": "fail"})
    node.daemon.start()
    try:
        yield node
    finally:
        node.daemon.kill()
        subprocess.run(["mount", "-o", "remount,rw", str(state)], capture_output=True)
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def test_chaos(chaos_node: DaemonNode, netlab) -> None:
    run = Run(seed=SEED)
    print(f"chaos: seed {SEED}, {ROUNDS} rounds of {PODS} pods (replay: MULTUS_DP_CHAOS_SEED={SEED})")
    chaos = Chaos(chaos_node, netlab, run)
    start = time.monotonic()
    try:
        for round_ in range(ROUNDS):
            chaos.round(round_)
    finally:
        figures = {"seed": run.seed, "rounds": run.rounds, "pods": run.pods, "addsOk": run.adds_ok,
                   "addsFailed": run.adds_failed, "faults": dict(sorted(run.faults.items())),
                   "faultsTotal": sum(run.faults.values()), "leaks": len(run.leaks),
                   "seconds": round(time.monotonic() - start, 1)}
        print("chaos figures:", json.dumps(figures))
        if REPORT:
            Path(REPORT).write_text(json.dumps(figures, indent=2) + "\n")
    assert run.rounds == ROUNDS
