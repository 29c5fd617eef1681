"""multus-dp-vfw under test without hardware: two network namespaces stand for a client pod
(10.100.0.0/24, the vFW's wan side) and a server pod (10.200.0.0/24, lan side); each is joined to
the host by a veth pair whose host end DPDK opens with its af_packet PMD (no hugepages, no PCI).
The pods route everything through the vFW (default route via its address on their side)."""
from __future__ import annotations

import array
import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import NetLab, ip
from tests.support.prereq import require

REPO = Path(__file__).resolve().parents[2]
VFW_BINARY = REPO / "dpdk" / "vfw" / "build" / "multus-dp-vfw"
FLOW_SCRIPT = Path(__file__).resolve().parent / "flow.py"
PYTHON = "/usr/bin/python3"
DPDK_RUN_DIR = Path("/var/run/dpdk")

WAN_ADDRESS, LAN_ADDRESS = "10.100.0.1/24", "10.200.0.1/24"
CLIENT_IP, SERVER_IP = "10.100.0.10", "10.200.0.10"

START_TIMEOUT = 30.0   # EAL init + port start; ~0.3 s on the host, generous for a loaded CI box
STOP_TIMEOUT = 15.0
STATS_TIMEOUT = 10.0


def require_vfw() -> Path:
    require(os.access(VFW_BINARY, os.X_OK), f"{VFW_BINARY.relative_to(REPO)} (run scripts/setup-dpdk.sh)")
    require(bool(glob.glob("/usr/lib/*/dpdk/pmds-*/librte_net_af_packet.so*")),
            "DPDK's af_packet PMD (apt-get install dpdk)")
    return VFW_BINARY


def disable_tx_checksum(ifname: str) -> None:
    """ETHTOOL_STXCSUM off: a veth leaves TCP/UDP checksums to the receiver (CHECKSUM_PARTIAL),
    af_packet hands DPDK the packet as is, and the far pod's kernel would drop it as corrupt. Real
    NICs and VFs compute the checksum in hardware; only the veth stand-in needs this."""
    ethtool_stxcsum, siocethtool = 0x17, 0x8946
    command = array.array("B", struct.pack("II", ethtool_stxcsum, 0))
    request = struct.pack("16sP", ifname.encode(), command.buffer_info()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, siocethtool, request)


@dataclass
class Pod:
    netns: str
    ifname: str
    address: str

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *cmd: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", self.netns, *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ping(self, dst: str, count: int = 1, ttl: int | None = None,
             wait: float = 2) -> subprocess.CompletedProcess[str]:
        args = ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(wait)]
        if ttl is not None:
            args += ["-t", str(ttl)]
        return self.run(*args, dst)

    @property
    def mac(self) -> str:
        return str(json.loads(ip("-n", self.netns, "-j", "link", "show", self.ifname))[0]["address"])

    def neighbour_mac(self, address: str) -> str | None:
        for entry in json.loads(ip("-n", self.netns, "-j", "neigh", "show", address) or "[]"):
            if entry.get("lladdr"):
                return str(entry["lladdr"])
        return None


class FlowServer:
    """A UDP/TCP echo server in a pod (tests/support/flow.py); `received()` stops it and says what
    reached it."""

    def __init__(self, pod: Pod, kind: str, port: int, seconds: float = 10) -> None:
        self.proc = pod.popen(PYTHON, str(FLOW_SCRIPT), f"{kind}-server", str(port), str(seconds))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        errors = self.proc.stderr.read() if line != "READY" and self.proc.stderr else ""
        assert line == "READY", f"flow server did not start: {line} {errors}"

    def received(self) -> list[str]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [line for line in out.splitlines() if line]


def flow(pod: Pod, kind: str, host: str, port: int, text: str, seconds: float = 3) -> subprocess.CompletedProcess[str]:
    """One request from `pod` to host:port; returncode 0 and the echo on stdout when it got through."""
    return pod.run(PYTHON, str(FLOW_SCRIPT), f"{kind}-client", host, str(port), text, str(seconds),
                   timeout=seconds + 20)


class VfwTopology:
    """client pod --veth-- [wan: vFW :lan] --veth-- server pod"""

    def __init__(self, lab: NetLab) -> None:
        self.lab = lab
        self.file_prefix = f"vfw-{lab.prefix}"
        try:
            self.client = self._pod(CLIENT_IP, WAN_ADDRESS)
            self.wan_if = self._host_end
            self.server = self._pod(SERVER_IP, LAN_ADDRESS)
            self.lan_if = self._host_end
        except BaseException:
            lab.cleanup()
            raise

    def _pod(self, address: str, gateway: str) -> Pod:
        netns = self.lab.add_netns()
        host_end, pod_end = self.lab.add_veth()
        disable_tx_checksum(pod_end)
        # the host end carries no stack traffic of its own (no IPv6 router solicitations)
        Path(f"/proc/sys/net/ipv6/conf/{host_end}/disable_ipv6").write_text("1")
        ip("link", "set", pod_end, "netns", netns, "name", "net1")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "net1")
        ip("-n", netns, "link", "set", "net1", "up")
        ip("-n", netns, "route", "add", "default", "via", gateway.split("/")[0])
        self._host_end = host_end
        return Pod(netns, "net1", address)

    def eal_args(self) -> list[str]:
        return ["--no-huge", "-m", "256", "--no-pci", "-l", "0", "--file-prefix", self.file_prefix,
                "--vdev", f"net_af_packet0,iface={self.wan_if}", "--vdev", f"net_af_packet1,iface={self.lan_if}"]

    def router_args(self) -> list[str]:
        return ["--wan-port", "0", "--lan-port", "1", "--wan-address", WAN_ADDRESS, "--lan-address", LAN_ADDRESS]

    def cleanup(self) -> None:
        shutil.rmtree(DPDK_RUN_DIR / self.file_prefix, ignore_errors=True)
        self.lab.cleanup()


class VfwProcess:
    """The vFW as a child process; stats through its --stats-file, readiness through --ready-file."""

    def __init__(self, args: list[str], eal_args: list[str], workdir: Path, binary: Path = VFW_BINARY,
                 stats_file: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.ready = workdir / "ready.json"
        self.stats_path = workdir / "stats.json" if stats_file else None
        self.stdout_path, self.stderr_path = workdir / "stdout", workdir / "stderr"
        for path in (self.ready, self.stats_path):
            if path is not None and path.exists():
                path.unlink()
        extra = ["--ready-file", str(self.ready)]
        if self.stats_path is not None:
            extra += ["--stats-file", str(self.stats_path)]
        self.argv = [str(binary), *args, *extra, "--", *eal_args]
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"the vFW exited with {self.proc.returncode} before its links were up:\n"
                                     f"{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the vFW was not ready after {timeout} s:\n{self.stderr}")
            time.sleep(0.05)
        return json.loads(self.ready.read_text())

    def stats(self, timeout: float = STATS_TIMEOUT) -> dict:
        """SIGUSR1, then the file the vFW writes (atomically) in answer."""
        assert self.stats_path is not None
        if self.stats_path.exists():
            self.stats_path.unlink()
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.stats_path.exists():
            assert self.proc.poll() is None, f"the vFW died on SIGUSR1:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no stats {timeout} s after SIGUSR1"
            time.sleep(0.02)
        return json.loads(self.stats_path.read_text())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Teardown: a clean stop if it still runs, SIGKILL if that does not work."""
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def rule_counts(stats: dict) -> dict[int, int]:
    """packets per rule line"""
    return {rule["line"]: rule["packets"] for rule in stats["rules"]}


def run_vfw(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A short-lived run (usage and input errors, --print-eal-args)."""
    return subprocess.run([str(VFW_BINARY), *args], capture_output=True, text=True, timeout=timeout)


def assert_stats_contract(stats: dict, rules: int) -> None:
    """The stats JSON of the vFW contract (docs/vfw.md): the keys the lab scenario and the
    time-to-first-packet benchmark read, with their types."""
    assert set(stats["ports"]) == {"wan", "lan"}
    for port in stats["ports"].values():
        for key in ("rx", "tx", "dropped", "arp", "portId"):
            assert isinstance(port[key], int) and port[key] >= 0, key
        assert isinstance(port["pci"], str) and port["pci"]
    assert len(stats["rules"]) == rules
    for rule in stats["rules"]:
        assert isinstance(rule["line"], int) and isinstance(rule["rule"], str)
        assert rule["action"] in ("allow", "deny") and rule["rule"].startswith(rule["action"])
        assert isinstance(rule["packets"], int) and isinstance(rule["bytes"], int)
    assert stats["default"]["action"] in ("allow", "deny")
    assert isinstance(stats["default"]["packets"], int) and isinstance(stats["default"]["bytes"], int)
    assert isinstance(stats["forwarded"], int) and isinstance(stats["denied"], int)
    timeline = stats["timeline"]
    steps = [timeline[k] for k in ("start", "ealInitDone", "portsStarted", "linksUp")]
    assert all(isinstance(t, int) for t in steps) and steps == sorted(steps)
    # CLOCK_REALTIME nanoseconds: comparable with time.time_ns() of another process
    assert abs(timeline["start"] - time.time_ns()) < 3600 * 10**9
    first = timeline["firstForwarded"]
    assert first is None or (isinstance(first, int) and first >= timeline["portsStarted"])
