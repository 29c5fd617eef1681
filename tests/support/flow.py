#!/usr/bin/env python3
"""A UDP or TCP flow for the vFW tests, run inside a pod's netns with the system python3.
  flow.py udp-server PORT SECONDS    prints READY, then each datagram it got (echoed back)
  flow.py tcp-server PORT SECONDS    prints READY, then what each connection sent (echoed back)
  flow.py udp-client HOST PORT TEXT SECONDS | tcp-client ...   prints the echo, exit 1 if none
Standard library only; every wait bounded by SECONDS."""
from __future__ import annotations

import socket
import sys


def server(kind: str, port: int, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if kind == "tcp":
        sock.listen(4)
    sock.settimeout(seconds)
    print("READY", flush=True)
    try:
        while True:
            if kind == "udp":
                data, peer = sock.recvfrom(2048)
                sock.sendto(data, peer)
            else:
                conn, _ = sock.accept()
                conn.settimeout(seconds)
                data = conn.recv(2048)
                conn.sendall(data)
                conn.close()
            print(data.decode(), flush=True)
    except socket.timeout:
        pass


def client(kind: str, host: str, port: int, text: str, seconds: float) -> int:
    try:
        if kind == "udp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(seconds)
            sock.sendto(text.encode(), (host, port))
            data = sock.recv(2048)
        else:
            sock = socket.create_connection((host, port), timeout=seconds)
            sock.sendall(text.encode())
            data = sock.recv(2048)
    except OSError as exc:
        print(f"no answer: {exc}", file=sys.stderr)
        return 1
    print(data.decode())
    return 0


def main(argv: list[str]) -> int:
    kind, role = argv[0].split("-")
    if role == "server":
        server(kind, int(argv[1]), float(argv[2]))
        return 0
    return client(kind, argv[1], int(argv[2]), argv[3], float(argv[4]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
