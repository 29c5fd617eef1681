"""dpdk/vfw builds warnings-clean (-Wall -Wextra -Werror) against the system's libdpdk, into a
directory of its own (the checkout's build/ is left alone), and the result runs."""
from __future__ import annotations

import shutil
import subprocess

from tests.support.prereq import require
from tests.support.vfw import REPO


def test_the_vfw_builds_without_warnings(tmp_path) -> None:
    require(shutil.which("make") is not None and shutil.which("cc") is not None, "make and cc (scripts/setup-dpdk.sh)")
    has_dpdk = subprocess.run(["pkg-config", "--exists", "libdpdk"], capture_output=True).returncode == 0
    require(has_dpdk, "pkg-config libdpdk (apt-get install dpdk-dev pkg-config)")
    build = tmp_path / "build"
    proc = subprocess.run(["make", "-C", str(REPO / "dpdk" / "vfw"), f"BUILD={build}", "WERROR=1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning:" not in proc.stdout + proc.stderr
    assert subprocess.run([str(build / "multus-dp-vfw"), "--help"], capture_output=True).returncode == 0
