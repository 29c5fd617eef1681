"""The daemon's request protocol: HTTP/1.1 over a unix socket, one request per connection.

    POST /cni          headers: one per CNI_* variable, verbatim ("CNI_COMMAND: ADD");
                       body: the network configuration exactly as the runtime gave it.
                       reply: 200, header "CNI-Exit-Code: N", body = exactly what a plugin
                       prints on stdout (a result, nothing, or a CNI error object).
    GET /healthz       200 "ok" while the process serves requests.
    GET /readyz        200 "ready" or 503 with the reason (caches, hardware, indicator file).
    GET /status        JSON: readiness, in-flight requests, caches, attachments, VF pools.
    GET /metrics       Prometheus text format (also served on metricsAddress).

`curl --unix-socket /run/multus-dp/daemon.sock http://x/status` works; the native shim
(native/shim.c) speaks the same protocol. This module also holds the Python client.
"""
from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CNI_PATH = "/cni"
EXIT_CODE_HEADER = "CNI-Exit-Code"
ENV_PREFIX = "CNI_"


def env_from_headers(items: list[tuple[str, str]]) -> dict[str, str]:
    """CNI_* headers back to the environment the runtime set. http.server decodes header
    bytes as latin-1; undo that so a UTF-8 netns path arrives intact."""
    env: dict[str, str] = {}
    for name, value in items:
        if name.upper().startswith(ENV_PREFIX):
            env[name.upper()] = value.encode("latin-1", "replace").decode("utf-8", "surrogateescape")
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("multus-dp", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class CNIReply:
    exit_code: int
    stdout: str


class DaemonClient:
    """Talks to a running daemon. Raises OSError when it is not reachable."""

    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes = b"",
                 headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def cni(self, env: Mapping[str, str], stdin: bytes) -> CNIReply:
        headers = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
        _, hdrs, body = self._request("POST", CNI_PATH, stdin, headers)
        return CNIReply(int(hdrs.get(EXIT_CODE_HEADER.lower(), "1")), body.decode())

    def status(self) -> dict[str, Any]:
        _, _, body = self._request("GET", "/status")
        return json.loads(body)

    def ready(self) -> tuple[bool, str]:
        code, _, body = self._request("GET", "/readyz")
        return code == 200, body.decode().strip()

    def healthy(self) -> bool:
        code, _, _ = self._request("GET", "/healthz")
        return code == 200

    def metrics(self) -> str:
        _, _, body = self._request("GET", "/metrics")
        return body.decode()
