"""Host side of the lab tier: every test in tests/lab runs inside the QEMU guest.

On the host each collected lab test is replaced by a `GuestResultItem` with the same node id.
The first one to run boots ONE guest for the session (scripts/lab/labvm.py), which runs the
selected tests with the project's own pytest and venv; each item then reports its guest
counterpart's outcome: pass, fail with the guest's failure text, or skip with its reason.
A guest that times out, dies or leaves no JUnit XML fails every lab item. A missing lab
prerequisite skips on a laptop and fails with CI=true (tests.support.prereq.require).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.prereq import IN_CI, require

LAB_DIR = Path(__file__).resolve().parents[1]
REPO = LAB_DIR.parents[1]
# marks that the guest evaluates itself; on the host they would be judged in the wrong place
GUEST_ONLY_MARKS = {"skip", "skipif", "xfail", "usefixtures", "parametrize", "filterwarnings"}
_RUN_KEY = pytest.StashKey["GuestSession"]()


def load_labvm() -> ModuleType:
    """scripts/lab/labvm.py is a stdlib-only script module; import it by path."""
    if "labvm" in sys.modules:
        return sys.modules["labvm"]
    spec = importlib.util.spec_from_file_location("labvm", REPO / "scripts/lab/labvm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["labvm"] = module
    spec.loader.exec_module(module)
    return module


class GuestFailure(Exception):
    """A guest test failed (or the guest did); the text is what the user needs to see."""


class GuestSession:
    """Boots the guest at most once per pytest session and keeps its results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.labvm = load_labvm()
        self.cfg = self.labvm.LabConfig.from_env(repo=REPO)
        self.run: Any = None          # labvm.GuestPytestRun once booted

    @classmethod
    def of(cls, config: pytest.Config) -> GuestSession:
        if _RUN_KEY not in config.stash:
            config.stash[_RUN_KEY] = cls(config)
        return config.stash[_RUN_KEY]

    def results(self, nodeids: list[str]) -> Any:
        if self.run is None:
            out = self.labvm.fresh_out_dir(self.cfg)
            self._say(f"booting the SR-IOV lab guest for {len(nodeids)} test(s); results in {out}")
            self.run = self.labvm.run_guest_pytest(self.cfg, nodeids, out, on_line=self._progress)
            g = self.run.guest
            self._say(f"guest done: {self.run.summary or 'no summary'} (boot {g.boot_s} s, "
                      f"total {g.elapsed_s:.1f} s, exit {g.exit_code})")
        return self.run

    def _progress(self, line: str) -> None:
        # the guest's verbose result lines and boot milestones; not its tracebacks
        if line.startswith("LAB") or ("::" in line and any(w in line for w in ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"))):
            self._say(line)

    def _say(self, text: str) -> None:
        capman = self.config.pluginmanager.getplugin("capturemanager")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is None:
            return
        if capman is None:
            reporter.write_line(f"lab| {text}")
            return
        with capman.global_and_fixture_disabled():
            reporter.write_line(f"lab| {text}")


class GuestResultItem(pytest.Item):
    """Stands in on the host for one guest test and reports the guest's verdict."""

    def __init__(self, *, origin_location: tuple[str, int | None, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.origin_location = origin_location

    def runtest(self) -> None:
        session = GuestSession.of(self.config)
        missing = session.cfg.missing()
        require(not missing, "the SR-IOV lab: " + "; ".join(missing))
        selected = [i.nodeid for i in self.session.items if isinstance(i, GuestResultItem)]
        run = session.results(selected)
        if run.problem:
            raise GuestFailure(f"{run.problem}\n\n{self._pytest_log_tail(run)}{run.guest.tail()}")
        outcome = run.outcome(self.nodeid)
        if outcome is None:
            raise GuestFailure(f"the lab guest reported no result for {self.nodeid} "
                               f"(guest: {run.summary or 'no summary'}; exit {run.guest.exit_code})\n\n"
                               f"{self._pytest_log_tail(run)}")
        if outcome.status == "skipped":
            if IN_CI:  # in CI a lab test never silently skips, in the guest or here
                raise GuestFailure(f"skipped in the lab guest under CI: {outcome.message}")
            pytest.skip(f"in the lab guest: {outcome.message}")
        if outcome.status == "failed":
            raise GuestFailure(f"in the lab guest: {outcome.details or outcome.message}")

    @staticmethod
    def _pytest_log_tail(run: Any) -> str:
        return load_labvm().tail_of(run.guest.out_dir / "pytest.log", 40)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GuestFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        path, lineno, domain = self.origin_location
        return REPO / path, lineno, domain


def proxy_guest_tests(items: list[pytest.Item]) -> None:
    """Replace each collected lab test function by its host-side stand-in (same node id)."""
    for index, item in enumerate(items):
        if not isinstance(item, pytest.Function) or LAB_DIR not in Path(str(item.path)).parents:
            continue
        proxy = GuestResultItem.from_parent(item.parent, name=item.name, origin_location=item.location)
        proxy.add_marker(pytest.mark.lab)
        for mark in item.iter_markers():
            if mark.name not in GUEST_ONLY_MARKS and mark.name != "lab":
                proxy.add_marker(mark)
        items[index] = proxy


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _RUN_KEY not in config.stash or config.stash[_RUN_KEY].run is None:
        return
    run = config.stash[_RUN_KEY].run
    terminalreporter.write_sep("-", "SR-IOV lab guest")
    terminalreporter.write_line(
        f"guest pytest: {run.summary or 'no summary'}; exit {run.guest.exit_code}; boot {run.guest.boot_s} s; "
        f"guest run {run.guest.elapsed_s:.1f} s; results in {run.guest.out_dir}")
