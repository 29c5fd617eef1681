"""Traffic between lab pods: ping, a UDP sink/sender and a TCP echo server/client, each a small
python3 program run in a pod's netns (`ip netns exec`). `-I -S`: no site imports (TCG is slow)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.lab.support.sriovnode import LabPod

PYTHON = [sys.executable, "-I", "-S", "-c"]

# one line per datagram received, after "ready"
UDP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print(peer[0], len(data), flush=True)
"""
UDP_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"multus-dp-lab %d" % i, (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.1)
"""
TCP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4)
print("ready", flush=True)
while True:
    conn, peer = s.accept()
    with conn:
        data = conn.recv(4096)
        conn.sendall(data)
"""
TCP_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
s.sendall(sys.argv[4].encode())
sys.stdout.write(s.recv(4096).decode())
"""


def in_pod(pod: LabPod, program: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", pod.netns_name, *PYTHON, program, *args]


def ping(pod: LabPod, address: str, count: int, deadline_s: int) -> bool:
    done = subprocess.run(["ip", "netns", "exec", pod.netns_name, "ping", "-n", "-c", str(count),
                           "-w", str(deadline_s), address], capture_output=True, text=True)
    return done.returncode == 0


def neighbour_mac(pod: LabPod, address: str) -> str | None:
    """The link-layer address the pod learned for ADDRESS (who answered its ARP)."""
    words = subprocess.run(["ip", "-n", pod.netns_name, "neigh", "show", address],
                           capture_output=True, text=True).stdout.split()
    return words[words.index("lladdr") + 1].lower() if "lladdr" in words else None


class Server:
    """A background program in a pod that prints "ready" once listening, then a line per event."""

    def __init__(self, pod: LabPod, program: str, port: int, log: Path, start_timeout_s: float = 30.0) -> None:
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(in_pod(pod, program, str(port)), stdout=self._fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout_s
        while self.lines()[:1] != ["ready"]:
            assert self.proc.poll() is None, f"{log.name}: server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"{log.name}: server not listening after {start_timeout_s} s"
            time.sleep(0.1)

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def events(self) -> list[str]:
        return self.lines()[1:]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._fh.close()


def udp_sink(pod: LabPod, port: int, log: Path) -> Server:
    return Server(pod, UDP_SINK, port, log)


def tcp_echo(pod: LabPod, port: int, log: Path) -> Server:
    return Server(pod, TCP_ECHO, port, log)


def udp_send(pod: LabPod, address: str, port: int, count: int) -> None:
    subprocess.run(in_pod(pod, UDP_SEND, address, str(port), str(count)), check=True, timeout=60)


def tcp_roundtrip(pod: LabPod, address: str, port: int, payload: str, timeout_s: float) -> str:
    """What the echo server sent back ("" if the connection failed or timed out)."""
    done = subprocess.run(in_pod(pod, TCP_CLIENT, address, str(port), str(timeout_s), payload),
                          capture_output=True, text=True, timeout=timeout_s + 60)
    return done.stdout if done.returncode == 0 else ""


def wait_until(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    """True as soon as PREDICATE holds, False after TIMEOUT_S (for things that must NOT happen too)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True
