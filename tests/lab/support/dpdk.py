"""DPDK in the lab guest: a trimmed PMD directory, hugepages, and the DPDK processes the tests run.

EAL dlopens every library in its compiled-in PMD directory (Debian: pmds-23.0, ~130 drivers)
before it even looks at a device (under TCG: the vFW's EAL init ~2.0 s instead of ~0.7 s, more
with a cold page cache), and there is no EAL option to skip that directory. The guest's root is
the host's `/` under a writable overlay, so `prepare()` puts a tmpfs over the PMD directory
holding links to only the drivers the lab needs (igb VF PMD, PCI and vdev buses, the ring
mempool) plus whatever the DPDK binaries link directly (dpdk-testpmd links a few PMDs: without
their links the loader would not find them, since /usr/lib's librte_*.so links point into the
PMD directory). The full directory stays reachable through a bind mount. It also reserves 2 MiB
hugepages and mounts hugetlbfs. Everything is gone with the guest; nothing here runs on the host.

The guest has one vCPU: a busy-polling DPDK process competes with everything else there. The
vFW sleeps when a poll round is empty (`--idle-sleep-us`); dpdk-testpmd cannot, so it runs as
SCHED_IDLE (`chrt --idle 0`): it polls only while nothing else wants the CPU.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.prereq import require
from tests.support.vfw import VFW_BINARY, VfwProcess

# the drivers a VF of the emulated 82576 needs: net_e1000 (net_e1000_igb_vf), the PCI bus, the vdev
# bus (ethdev links it), the default "ring_mp_mc" mempool ops
DEFAULT_DRIVERS = "bus_pci bus_vdev mempool_ring net_e1000"
DRIVERS = os.environ.get("MULTUS_DP_LAB_DPDK_DRIVERS", DEFAULT_DRIVERS).split()
HUGEPAGES = int(os.environ.get("MULTUS_DP_LAB_HUGEPAGES", "32"))   # of 2 MiB
HUGEPAGE_SYSFS = Path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
HUGETLBFS = Path("/dev/hugepages")
TESTPMD = os.environ.get("MULTUS_DP_LAB_TESTPMD", "dpdk-testpmd")
# how long a DPDK process may take to initialise EAL, probe its VFs and start its ports (TCG)
START_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_DPDK_START_TIMEOUT", "120"))
STOP_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_DPDK_STOP_TIMEOUT", "30"))
# EAL arguments every lab DPDK process gets: no shared config files (several processes, no
# cleanup), IOVA = VA (vfio behind the emulated VT-d), no telemetry socket/thread
EAL_COMMON = ["--in-memory", "--iova-mode=va", "--no-telemetry"]
LIB_RE = re.compile(r"^\s*(librte_\S+\.so\.\d+)\s+=>")


def default_pmd_dir() -> Path | None:
    """EAL's compiled-in plugin directory (RTE_EAL_PMD_PATH): Debian puts it under the multiarch libdir."""
    found = sorted(glob.glob("/usr/lib/*/dpdk/pmds-*"))
    return Path(found[-1]) if found else None


PMD_DIR = Path(os.environ.get("MULTUS_DP_LAB_DPDK_PMD_DIR", "") or (default_pmd_dir() or "/nonexistent"))


@dataclass(frozen=True)
class DpdkLab:
    """What prepare() set up: the trimmed PMD directory's drivers and the hugepages."""

    pmd_dir: Path
    drivers: tuple[str, ...]          # the librte_*.so.N names linked into the trimmed directory
    hugepages: int
    testpmd: str | None               # the dpdk-testpmd binary, when installed
    vfw: Path | None                  # the vFW binary, when built

    def require_testpmd(self) -> str:
        require(self.testpmd is not None, f"{TESTPMD} (apt-get install dpdk)")
        return self.testpmd or ""

    def require_vfw(self) -> Path:
        require(self.vfw is not None, f"the vFW binary {VFW_BINARY} (scripts/setup-dpdk.sh builds dpdk/vfw)")
        return self.vfw or Path()


def full_pmd_dir(pmd_dir: Path) -> Path:
    """Where the untouched PMD directory stays reachable (bind mount). Beside it, not under /run:
    EAL refuses plugins below a world-writable directory, and the guest's /run is one."""
    return pmd_dir.parent / f"{pmd_dir.name}-all"


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines())


def _linked_pmds(binary: str | Path, pmd_names: set[str]) -> set[str]:
    """The PMD-directory libraries BINARY needs at load time (ldd: its DT_NEEDED closure)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    return {m.group(1) for line in out.splitlines() if (m := LIB_RE.match(line)) and m.group(1) in pmd_names}


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(argv)} failed: {done.stderr.strip()}"


def trim_pmd_dir(pmd_dir: Path, drivers: list[str], binaries: list[str | Path]) -> tuple[str, ...]:
    """A tmpfs over PMD_DIR with links to DRIVERS and the PMDs BINARIES link, into the full
    directory (bind-mounted beside it). Idempotent."""
    full = full_pmd_dir(pmd_dir)
    if not _mounted(full):
        full.mkdir(parents=True, exist_ok=True)
        _run("mount", "--bind", str(pmd_dir), str(full))
    names = {p.name for p in full.iterdir()}
    sonames = {n for n in names if re.fullmatch(r"librte_\w+\.so\.\d+", n)}
    wanted = {n for n in sonames for d in drivers if n.startswith(f"librte_{d}.so.")}
    missing = [d for d in drivers if not any(n.startswith(f"librte_{d}.so.") for n in sonames)]
    assert not missing, f"DPDK drivers not in {pmd_dir}: {missing} (MULTUS_DP_LAB_DPDK_DRIVERS)"
    for binary in [*binaries, *(full / n for n in sorted(wanted))]:
        wanted |= _linked_pmds(binary, sonames)
    if not _mounted(pmd_dir):
        _run("mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "mdp-lab-dpdk-pmds", str(pmd_dir))
    for soname in wanted:
        stem = soname.rsplit(".so.", 1)[0]
        # EAL loads *.so and *.so.<ABI>; the loader follows the .so.<ABI>.<minor> file
        for name in (n for n in names if n.startswith(f"{stem}.so")):
            link = pmd_dir / name
            if not link.is_symlink():
                link.symlink_to(full / name)
    return tuple(sorted(wanted))


def reserve_hugepages(count: int) -> int:
    """COUNT 2 MiB hugepages and a hugetlbfs mount; the number the kernel actually reserved."""
    if int(HUGEPAGE_SYSFS.read_text()) < count:
        HUGEPAGE_SYSFS.write_text(str(count))
    if not any(line.split()[2] == "hugetlbfs" for line in Path("/proc/mounts").read_text().splitlines()):
        HUGETLBFS.mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", str(HUGETLBFS))
    return int(HUGEPAGE_SYSFS.read_text())


def prepare(with_testpmd: bool = True) -> DpdkLab:
    """Make the guest ready for DPDK (once; idempotent). A missing prerequisite skips, or fails in CI.
    `with_testpmd=False`: only what the vFW needs (the PMDs testpmd links would be loaded by every
    DPDK process as plugins too)."""
    require(PMD_DIR.is_dir(), f"DPDK's PMD directory {PMD_DIR} (apt-get install dpdk dpdk-dev)")
    require(Path("/dev/vfio/vfio").exists(), "/dev/vfio/vfio (vfio-pci loaded by guest-prep.sh)")
    testpmd = shutil.which(TESTPMD) if with_testpmd else None
    vfw = VFW_BINARY if os.access(VFW_BINARY, os.X_OK) else None
    drivers = trim_pmd_dir(PMD_DIR, DRIVERS, [b for b in (testpmd, vfw) if b])
    pages = reserve_hugepages(HUGEPAGES)
    assert pages >= HUGEPAGES, f"the guest reserved {pages} of {HUGEPAGES} hugepages (MULTUS_DP_LAB_HUGEPAGES)"
    return DpdkLab(pmd_dir=PMD_DIR, drivers=drivers, hugepages=pages, testpmd=testpmd, vfw=vfw)


@dataclass
class DpdkProcess:
    """A DPDK application running in the guest, its output in a log file; stopped gently."""

    argv: list[str]
    log: Path
    stdin_pipe: bool = False
    proc: subprocess.Popen[bytes] | None = None
    _log_fh: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> DpdkProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                                     stdout=self._log_fh, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_output(self, needle: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until the output shows NEEDLE; fails with the output if the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.output():
            if not self.running():
                raise AssertionError(f"{self.argv[0]} exited ({self.proc and self.proc.returncode}) before "
                                     f"{needle!r}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.argv[0]}: no {needle!r} after {timeout_s} s:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (or, for testpmd, Enter on stdin) and wait; SIGKILL the group past the timeout."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.stdin_pipe and self.proc.stdin:
                try:
                    self.proc.stdin.write(b"\n")
                    self.proc.stdin.close()
                except OSError:
                    pass
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log_fh:
            self._log_fh.close()
            self._log_fh = None
        return self.proc.returncode


def testpmd_icmpecho(lab: DpdkLab, eal_args: list[str], log: Path) -> DpdkProcess:
    """dpdk-testpmd answering ARP and ping on the devices EAL_ARGS allow (-a <pci>), started.
    testpmd forwards on lcores other than the main one: lcore 1 shares the guest's one CPU."""
    # stdbuf: testpmd prints "Press enter to exit" without flushing, and its stdout is a file here
    argv = ["chrt", "--idle", "0", "stdbuf", "-oL", lab.require_testpmd(), "--lcores", "0@0,1@0", *EAL_COMMON,
            *eal_args, "--", "--forward-mode=icmpecho", "--total-num-mbufs=2048", "--nb-cores=1"]
    # non-interactive testpmd forwards until a line arrives on its stdin
    return DpdkProcess(argv, log, stdin_pipe=True).start()


# ---- what a pod sees, and the vFW ------------------------------------------------------------
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
EAL_HELPER = Path(sys.executable).parent / "multus-dp-eal"      # the venv's console script
IP = Path(shutil.which("ip") or "/usr/sbin/ip")
VFW_IDLE_SLEEP_US = int(os.environ.get("MULTUS_DP_LAB_VFW_IDLE_SLEEP_US", "200"))


def write_podinfo(path: Path, network_status: list[dict[str, Any]]) -> Path:
    """The downward-API annotations file kubelet would mount in the pod: `key="Go-quoted value"`
    (json.dumps quotes an ASCII string as Go's %q does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{NETWORK_STATUS_ANNOTATION}={json.dumps(json.dumps(network_status))}\n")
    return path


def eal_args(annotations: Path, *networks: str) -> list[str]:
    """`-a <pci>` for NETWORKS as the multus-dp-eal helper computes them in the pod."""
    argv = [str(EAL_HELPER), "--annotations", str(annotations), "--format", "json", "--quiet"]
    for network in networks:
        argv += ["--network", network]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"multus-dp-eal failed ({done.returncode}): {done.stderr}"
    args: list[str] = json.loads(done.stdout)["eal"]
    return args


def start_vfw(lab: DpdkLab, *, netns: str, wan: str, lan: str, wan_address: str, lan_address: str,
              annotations: Path, rules: Path, work: Path, eal_extra: list[str] | None = None) -> VfwProcess:
    """The vFW as its pod would start it: in the pod's netns, ports by network name from the pod's
    annotations (through multus-dp-eal). tests/support/vfw.py's VfwProcess runs it; here its
    "binary" is `ip`, which execs the vFW in the netns (same pid: signals reach the vFW)."""
    args = ["netns", "exec", netns, str(lab.require_vfw()),
            "--wan", wan, "--lan", lan, "--wan-address", wan_address, "--lan-address", lan_address,
            "--annotations", str(annotations), "--eal-helper", str(EAL_HELPER), "--rules", str(rules),
            "--idle-sleep-us", str(VFW_IDLE_SLEEP_US)]
    return VfwProcess(args, ["-l", "0", *EAL_COMMON, *(eal_extra or [])], work, binary=IP)


def stop_vfw(vfw: VfwProcess) -> int:
    """SIGTERM and its exit status; killed (and the timeout raised) if it does not stop in time."""
    try:
        return vfw.stop(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        vfw.kill()
        raise


def final_stats(vfw: VfwProcess) -> dict[str, Any]:
    """The counters the vFW wrote at exit (its --stats-file)."""
    assert vfw.stats_path is not None and vfw.stats_path.exists(), f"no stats at exit:\n{vfw.stderr[-3000:]}"
    counters: dict[str, Any] = json.loads(vfw.stats_path.read_text())
    return counters


@pytest.fixture(scope="session")
def dpdk_lab() -> DpdkLab:
    """The guest made ready for DPDK once per session (trimmed PMD directory, hugepages)."""
    return prepare()
