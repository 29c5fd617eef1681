"""The host side of the lab tier reports the guest's honest outcome, never a silent skip.

A stand-in qemu (fake_qemu.py, like the fake delegate scripts) plays the guest: it writes the
JUnit XML / status a real guest would, dies, or hangs. The host-side pytest and
scripts/lab/run-lab-tests run for real in a subprocess.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FAKE_QEMU = Path(__file__).with_name("fake_qemu.py")
FAST = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:kmock"]


@dataclass
class Case:
    name: str
    status: str      # passed | failed | skipped
    text: str


@dataclass
class LabRun:
    cases: list[Case]
    exit_code: int
    output: str
    boots: list[int]


def lab_env(tmp_path: Path, guest: str, *, outcomes: str = "", timeout: str = "60",
            ci: bool = False, with_kernel: bool = True) -> dict[str, str]:
    cache = tmp_path / "cache"
    (cache / "current").mkdir(parents=True, exist_ok=True)
    if with_kernel:
        for name in ("vmlinux", "initrd.gz"):
            (cache / "current" / name).write_bytes(b"not really a kernel")
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("MULTUS_DP_LAB")}
    env |= {"MULTUS_DP_LAB_QEMU": str(FAKE_QEMU), "MULTUS_DP_LAB_CACHE": str(cache),
            "MULTUS_DP_LAB_OUT": str(tmp_path / "out"), "MULTUS_DP_LAB_TIMEOUT": timeout,
            "FAKE_GUEST": guest, "FAKE_OUTCOMES": outcomes, "FAKE_BOOTS": str(tmp_path / "boots")}
    if ci:
        env["CI"] = "true"
    return env


def boots(tmp_path: Path) -> list[int]:
    path = tmp_path / "boots"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def host_pytest(tmp_path: Path, guest: str, **kw: object) -> LabRun:
    xml = tmp_path / "host.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", *FAST, "-q", f"--junitxml={xml}", "tests/lab"],
                          cwd=REPO, env=lab_env(tmp_path, guest, **kw),  # type: ignore[arg-type]
                          capture_output=True, text=True, timeout=180)
    cases = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        status, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, text = "failed", f"{child.get('message', '')}\n{child.text or ''}"
            elif child.tag == "skipped":
                status, text = "skipped", child.get("message", "")
        cases.append(Case(case.get("name", ""), status, text))
    return LabRun(cases, proc.returncode, proc.stdout + proc.stderr, boots(tmp_path))


def test_each_host_item_reports_its_guest_outcome_from_one_boot(tmp_path: Path) -> None:
    run = host_pytest(tmp_path, "results", outcomes="passed,failed,skipped,absent")
    assert len(run.cases) >= 4
    first = run.cases[:4]
    assert [c.status for c in first] == ["passed", "failed", "skipped", "failed"]
    assert "boom from guest" in first[1].text
    assert "no igb here" in first[2].text
    assert "reported no result" in first[3].text
    assert len(run.boots) == 1
    assert run.exit_code == 1


def test_a_guest_skip_fails_in_ci(tmp_path: Path) -> None:
    run = host_pytest(tmp_path, "results", outcomes="passed,skipped", ci=True)
    assert [c.status for c in run.cases[:2]] == ["passed", "failed"]
    assert "skipped in the lab guest under CI" in run.cases[1].text and "no igb here" in run.cases[1].text


@pytest.mark.parametrize(("guest", "timeout", "why"), [
    ("die", "60", "died without reporting"),
    ("hang", "2", "timed out after 2 s"),
    ("nojunit", "60", "no readable JUnit XML"),
])
def test_a_guest_that_gives_no_results_fails_every_lab_item(tmp_path: Path, guest: str, timeout: str, why: str) -> None:
    run = host_pytest(tmp_path, guest, timeout=timeout)
    assert run.cases and all(c.status == "failed" and why in c.text for c in run.cases), run.output
    assert len(run.boots) == 1
    with pytest.raises(ProcessLookupError):   # a hung guest was killed, not left behind
        os.kill(run.boots[0], 0)


def test_a_guest_that_dies_while_booting_is_booted_once_more_then_fails_every_item(tmp_path: Path) -> None:
    run = host_pytest(tmp_path, "die-booting")
    assert run.cases and all(c.status == "failed" and "died without reporting" in c.text for c in run.cases)
    assert len(run.boots) == 2
    assert "booting again" in run.output


@pytest.mark.parametrize(("ci", "status"), [(True, "failed"), (False, "skipped")])
def test_missing_kernel_fails_in_ci_and_skips_elsewhere(tmp_path: Path, ci: bool, status: str) -> None:
    run = host_pytest(tmp_path, "results", ci=ci, with_kernel=False)
    assert run.cases and all(c.status == status and "vmlinux" in c.text for c in run.cases), run.output
    assert run.boots == []


@pytest.mark.parametrize(("guest", "outcomes", "code"), [
    ("results", "passed", 0), ("results", "failed", 3), ("die", "", 125), ("hang", "", 124),
])
def test_run_lab_tests_exits_with_the_guests_status(tmp_path: Path, guest: str, outcomes: str, code: int) -> None:
    proc = subprocess.run([str(REPO / "scripts/lab/run-lab-tests"), "tests/lab"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=lab_env(tmp_path, guest, outcomes=outcomes, timeout="2"))
    assert proc.returncode == code, proc.stdout + proc.stderr


def test_run_lab_tests_without_setup_says_what_is_missing(tmp_path: Path) -> None:
    proc = subprocess.run([str(REPO / "scripts/lab/run-lab-tests")], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=lab_env(tmp_path, "results", with_kernel=False))
    assert proc.returncode == 2 and "vmlinux" in proc.stderr and "scripts/setup-lab.sh" in proc.stderr
    assert boots(tmp_path) == []
