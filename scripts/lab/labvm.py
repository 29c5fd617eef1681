"""Boot the SR-IOV lab guest and run one command in it (stdlib only).

The guest: QEMU (TCG by default) booting Debian's kernel with an emulated Intel 82576 (`igb`,
real SR-IOV) behind a PCIe root port and an emulated VT-d. Its root is the host's `/` over 9p
(read-only) under a tmpfs overlay, so it runs this checkout and its venv unchanged; the
writable share `out_dir` is `/lab-out` inside. Used by tests/lab/conftest.py (the host side of
the lab tier), scripts/lab/run-lab-tests and scripts/lab/run-in-guest.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUEST_OUT = "/lab-out"
EXIT_TIMEOUT = 124      # like timeout(1)
EXIT_DIED = 125         # the guest stopped without recording its command's status
# host variables worth seeing inside (CI=true turns missing prerequisites into failures)
PASSED_ENV_PREFIXES = ("MULTUS_DP_",)
PASSED_ENV_NAMES = ("CI",)
GUEST_OWN_ENV = ("MULTUS_DP_LAB", "MULTUS_DP_LAB_PF", "MULTUS_DP_LAB_PF_BDF")

DEFAULT_GUEST_PYTEST_ARGS = ("-p", "no:hypothesispytest", "-p", "no:kmock")

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class LabConfig:
    """Where the lab's pieces are and how long it may take; every field has an env override."""

    repo: Path = REPO
    cache: Path = Path("/var/cache/multus-dp-lab")          # MULTUS_DP_LAB_CACHE
    qemu: str = "qemu-system-x86_64"                         # MULTUS_DP_LAB_QEMU
    accel: str = "tcg"                                       # MULTUS_DP_LAB_ACCEL (tcg|kvm)
    # one vCPU: under TCG on a busy 2-core host a second vCPU can starve the guest's timers (RCU
    # stalls, a hung guest); the tier runs as fast with one (157 s for 28 tests either way)
    smp: int = 1                                             # MULTUS_DP_LAB_SMP
    mem_mb: int = 1024                                       # MULTUS_DP_LAB_MEM
    timeout_s: float = 600.0                                 # MULTUS_DP_LAB_TIMEOUT: whole guest run
    test_timeout_s: float = 120.0                            # MULTUS_DP_LAB_TEST_TIMEOUT: stack dump of a stuck test
    out_root: Path = Path("/tmp")                            # MULTUS_DP_LAB_OUT: results dirs go here
    python: Path = REPO / ".venv/bin/python"                 # MULTUS_DP_LAB_PYTHON: the guest's interpreter
    overlay_size: str = "512m"                               # MULTUS_DP_LAB_OVERLAY: guest's writable layer
    boot_retries: int = 1                                    # MULTUS_DP_LAB_BOOT_RETRIES: guest died before its shell
    extra_qemu: tuple[str, ...] = ()                         # MULTUS_DP_LAB_QEMU_ARGS
    # MULTUS_DP_LAB_PYTEST_ARGS: under TCG importing hypothesis (~13 s) and kmock's aiohttp
    # (~8 s) dominates a guest run, and no guest test uses their plugins
    pytest_args: tuple[str, ...] = DEFAULT_GUEST_PYTEST_ARGS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, repo: Path = REPO) -> LabConfig:
        get = env.get
        return cls(
            repo=repo,
            cache=Path(get("MULTUS_DP_LAB_CACHE", "/var/cache/multus-dp-lab")),
            qemu=get("MULTUS_DP_LAB_QEMU", "qemu-system-x86_64"),
            accel=get("MULTUS_DP_LAB_ACCEL", "tcg"),
            smp=int(get("MULTUS_DP_LAB_SMP", "1")),
            mem_mb=int(get("MULTUS_DP_LAB_MEM", "1024")),
            timeout_s=float(get("MULTUS_DP_LAB_TIMEOUT", "600")),
            test_timeout_s=float(get("MULTUS_DP_LAB_TEST_TIMEOUT", "120")),
            out_root=Path(get("MULTUS_DP_LAB_OUT", "/tmp")),
            python=Path(get("MULTUS_DP_LAB_PYTHON", str(repo / ".venv/bin/python"))),
            overlay_size=get("MULTUS_DP_LAB_OVERLAY", "512m"),
            boot_retries=int(get("MULTUS_DP_LAB_BOOT_RETRIES", "1")),
            extra_qemu=tuple(shlex.split(get("MULTUS_DP_LAB_QEMU_ARGS", ""))),
            pytest_args=tuple(shlex.split(get("MULTUS_DP_LAB_PYTEST_ARGS", shlex.join(DEFAULT_GUEST_PYTEST_ARGS)))),
        )

    @property
    def build(self) -> Path:
        return self.cache / "current"

    @property
    def kernel(self) -> Path:
        return self.build / "vmlinux"

    @property
    def initrd(self) -> Path:
        return self.build / "initrd.gz"

    def missing(self) -> list[str]:
        """Prerequisites that are not there, each as a sentence naming the fix."""
        problems = []
        if not shutil.which(self.qemu):
            problems.append(f"{self.qemu} (run scripts/setup-lab.sh: qemu-system-x86 from bookworm-backports)")
        for what in (self.kernel, self.initrd):
            if not what.is_file():
                problems.append(f"{what} (run scripts/setup-lab.sh)")
        if not os.access(self.python, os.X_OK):
            problems.append(f"guest interpreter {self.python} (run ./setup.sh)")
        return problems


@dataclass
class GuestRun:
    """What one boot produced. `status` is the guest command's exit status, or None."""

    out_dir: Path
    status: int | None
    timed_out: bool
    elapsed_s: float
    boot_s: float | None = None          # guest uptime when its shell was ready
    qemu_status: int | None = None

    @property
    def serial_log(self) -> Path:
        return self.out_dir / "serial.log"

    @property
    def exit_code(self) -> int:
        if self.timed_out:
            return EXIT_TIMEOUT
        return EXIT_DIED if self.status is None else self.status

    def problem(self, timeout_s: float) -> str | None:
        """Why the guest did not report, in words; None when it did."""
        if self.timed_out:
            return f"lab guest timed out after {timeout_s:.0f} s (MULTUS_DP_LAB_TIMEOUT) and was killed"
        if self.status is None:
            return f"lab guest died without reporting (qemu exit {self.qemu_status})"
        return None

    def tail(self, lines: int = 30) -> str:
        return tail_of(self.serial_log, lines) + tail_of(self.out_dir / "qemu.stderr", 10)


def tail_of(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = text.splitlines()[-lines:]
    return f"--- {path.name} (last {len(kept)} lines) ---\n" + "\n".join(kept) + "\n" if kept else ""


def guest_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if (k in PASSED_ENV_NAMES or k.startswith(PASSED_ENV_PREFIXES)) and k not in GUEST_OWN_ENV}


def guest_script(cfg: LabConfig, command: str, env: Mapping[str, str]) -> str:
    """The /bin/sh script the guest runs: prepare the NIC, then COMMAND from the repo root."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    return (
        "#!/bin/sh\n"
        f"{exports}"
        f". {shlex.quote(str(cfg.repo / 'scripts/lab/guest-prep.sh'))}\n"
        f"cd {shlex.quote(str(cfg.repo))} || exit 1\n"
        "echo \"LAB: command start $(cut -d' ' -f1 /proc/uptime)s\"\n"
        f"{command}\n"
    )


def qemu_argv(cfg: LabConfig, out_dir: Path) -> list[str]:
    accel = ["-accel", "kvm", "-cpu", "host"] if cfg.accel == "kvm" else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    append = ("console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet loglevel=4 "
              f"lab.cmd={GUEST_OUT}/cmd.sh lab.overlay={cfg.overlay_size}")
    return [
        cfg.qemu, *accel,
        "-machine", "q35,kernel-irqchip=split", "-smp", str(cfg.smp), "-m", str(cfg.mem_mb),
        "-device", "intel-iommu,intremap=on,caching-mode=on",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", f"file:{out_dir / 'serial.log'}",
        "-kernel", str(cfg.kernel), "-initrd", str(cfg.initrd), "-append", append,
        "-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={out_dir},mount_tag=out,security_model=none",
        "-device", "pcie-root-port,id=rp1,slot=1,chassis=1",
        "-device", "igb,bus=rp1,mac=52:54:00:12:34:01",
        *cfg.extra_qemu,
    ]


class _Follower:
    """Hands complete new lines of a growing file to a sink."""

    def __init__(self, path: Path, sink: LineSink) -> None:
        self.path, self.sink, self.offset, self.partial = path, sink, 0, ""

    def poll(self, final: bool = False) -> None:
        try:
            with self.path.open("r", errors="replace") as f:
                f.seek(self.offset)
                chunk = f.read()
                self.offset = f.tell()
        except OSError:
            return
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = ""
        for line in lines:
            self.sink(line)


def fresh_out_dir(cfg: LabConfig, prefix: str = "multus-dp-lab-") -> Path:
    import tempfile
    cfg.out_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=cfg.out_root))


def run_guest(cfg: LabConfig, command: str, out_dir: Path, *,
              follow: Mapping[str, LineSink] | None = None,
              env: Mapping[str, str] | None = None,
              on_retry: LineSink | None = None) -> GuestRun:
    """Boot the guest, run COMMAND (shell) there, power off; kill everything past the timeout.

    `follow` maps file names in out_dir (e.g. "serial.log") to sinks fed with their new lines
    while the guest runs (progress output). A guest that dies before its shell is up (an
    infrastructure hiccup, not a test result) is booted again, `cfg.boot_retries` times.
    """
    for attempt in range(cfg.boot_retries + 1):
        run = _boot_once(cfg, command, out_dir, follow, env)
        died_booting = run.status is None and not run.timed_out and run.boot_s is None
        if not died_booting or attempt == cfg.boot_retries:
            return run
        if on_retry:
            on_retry(f"LAB: guest died while booting (qemu exit {run.qemu_status}); booting again")
    raise AssertionError("unreachable")


def _boot_once(cfg: LabConfig, command: str, out_dir: Path, follow: Mapping[str, LineSink] | None,
               env: Mapping[str, str] | None) -> GuestRun:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("rc", "serial.log", "qemu.stderr"):
        (out_dir / stale).unlink(missing_ok=True)
    script = out_dir / "cmd.sh"
    script.write_text(guest_script(cfg, command, guest_env() if env is None else env))
    script.chmod(0o755)
    followers = [_Follower(out_dir / name, sink) for name, sink in (follow or {}).items()]
    start = time.monotonic()
    timed_out = False
    with (out_dir / "qemu.stderr").open("w") as stderr:
        proc = subprocess.Popen(qemu_argv(cfg, out_dir), stdin=subprocess.DEVNULL,
                                stdout=stderr, stderr=stderr, start_new_session=True)
        try:
            while True:
                try:
                    proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                for f in followers:
                    f.poll()
                if time.monotonic() - start > cfg.timeout_s:
                    timed_out = True
                    break
        finally:
            if proc.poll() is None:  # timeout, Ctrl-C or an error here: nothing may outlive us
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for f in followers:
        f.poll(final=True)
    status = None
    rc_file = out_dir / "rc"
    if not timed_out and rc_file.is_file():
        text = rc_file.read_text().strip()
        status = int(text) if text.lstrip("-").isdigit() else None
    return GuestRun(out_dir=out_dir, status=status, timed_out=timed_out,
                    elapsed_s=time.monotonic() - start, boot_s=_boot_seconds(out_dir / "serial.log"),
                    qemu_status=proc.returncode)


def _boot_seconds(serial_log: Path) -> float | None:
    try:
        for line in serial_log.read_text(errors="replace").splitlines():
            if line.startswith("LAB: shell ready "):
                return float(line.split()[-1].rstrip("s"))
    except (OSError, ValueError):
        pass
    return None


@dataclass
class Outcome:
    """One guest test's result as the JUnit XML has it."""

    status: str                  # "passed" | "failed" | "skipped"
    message: str = ""
    details: str = ""
    seconds: float = 0.0


@dataclass
class GuestPytestRun:
    guest: GuestRun
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)   # junit_key -> Outcome
    summary: str = ""              # pytest's last line inside the guest
    problem: str | None = None     # set when the guest produced no usable results

    def outcome(self, nodeid: str) -> Outcome | None:
        return self.outcomes.get(junit_key(nodeid))


def junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) that pytest's junitxml writes for a node id (its mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parse_junit(xml_path: Path) -> dict[tuple[str, str], Outcome]:
    import xml.etree.ElementTree as ET
    outcomes: dict[tuple[str, str], Outcome] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        outcome = Outcome("passed", seconds=float(case.get("time", "0") or 0))
        for child in case:
            if child.tag in ("failure", "error"):
                text = f"{child.get('message', '')}\n{child.text or ''}".strip()
                if outcome.status == "failed":
                    outcome.details += "\n\n" + text
                else:
                    outcome.status, outcome.message, outcome.details = "failed", child.get("message", ""), text
            elif child.tag == "skipped" and outcome.status == "passed":
                outcome.status, outcome.message = "skipped", child.get("message", "")
        outcomes[key] = outcome
    return outcomes


def pytest_command(cfg: LabConfig, args: list[str]) -> str:
    """The guest's pytest: the lab tier of this checkout, JUnit + log + summary in /lab-out."""
    # a module that fails to import fails its own tests (no result), not the whole run
    argv = [str(cfg.python), "-u", "-m", "pytest", "-m", "lab", "-v", "--color=no",
            "--continue-on-collection-errors", "-p", "no:cacheprovider", f"--junitxml={GUEST_OUT}/junit.xml",
            "-o", f"faulthandler_timeout={cfg.test_timeout_s:.0f}", *cfg.pytest_args,
            *(args or ["tests/lab"])]
    return (f"{shlex.join(argv)} > {GUEST_OUT}/pytest.log 2>&1\n"
            "rc=$?\n"
            f"tail -n 1 {GUEST_OUT}/pytest.log > {GUEST_OUT}/summary.txt\n"
            f"dmesg > {GUEST_OUT}/dmesg.txt 2>/dev/null\n"
            "exit $rc")


def run_guest_pytest(cfg: LabConfig, args: list[str], out_dir: Path, *,
                     on_line: LineSink | None = None) -> GuestPytestRun:
    """Run `pytest -m lab ARGS` in the guest and collect per-test outcomes from its JUnit XML."""
    for stale in ("junit.xml", "pytest.log", "summary.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    follow = {"pytest.log": on_line, "serial.log": _lab_lines(on_line)} if on_line else None
    guest = run_guest(cfg, pytest_command(cfg, args), out_dir, follow=follow, on_retry=on_line)
    run = GuestPytestRun(guest=guest)
    summary = out_dir / "summary.txt"
    run.summary = summary.read_text(errors="replace").strip() if summary.is_file() else ""
    run.problem = guest.problem(cfg.timeout_s)
    junit = out_dir / "junit.xml"
    if run.problem is None:
        try:
            run.outcomes = parse_junit(junit)
        except Exception as exc:  # missing or truncated XML (OSError, ParseError): no honest result
            run.problem = f"the guest's pytest (exit {guest.status}) left no readable JUnit XML: {exc}"
    return run


def _lab_lines(sink: LineSink) -> LineSink:
    """Only the lab's own console lines (boot milestones), not the kernel's."""
    def feed(line: str) -> None:
        if line.startswith("LAB"):
            sink(line)
    return feed
