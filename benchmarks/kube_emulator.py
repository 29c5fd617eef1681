"""kmock's Kubernetes emulator (a real aiohttp HTTP server on 127.0.0.1) on its own event-loop
thread, for scenario 5; `EmulatorProcess`: the same in a process of its own, for the
thin-kubeconfig runner (an API server is not in the harness's process: its Python work must
not hold the harness's GIL while the harness times plugin calls). An adapter on the bench
side: the test suite has its own copy in tests/unit/k8s/emulator.py, which an installed
package cannot import.

Only multus-dp's requests count: they carry the User-Agent `multus_dp.k8s.credentials.USER_AGENT`.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .procs import wait_or_kill

T = TypeVar("T")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    watch: bool

    @property
    def category(self) -> str:
        """"GET pods", "PATCH pods/status", "POST events", ... (names and namespaces left out)."""
        parts = [p for p in self.path.split("/") if p]
        if "namespaces" in parts:
            i = parts.index("namespaces")
            parts = parts[i + 2:]
        resource = parts[0] if parts else self.path
        sub = f"/{parts[2]}" if len(parts) > 2 else ""
        return f"{self.method} {resource}{sub}"


class Emulator:
    def __init__(self) -> None:
        import kmock

        self._kmock = kmock
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.server: Any = None
        self.k: Any = self._run(self._enter())

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()
        return self._run(run())

    async def _enter(self) -> Any:
        kmock = self._kmock
        k = kmock.KubernetesEmulator()
        await k.__aenter__()
        k.resources["v1/pods"] = kmock.ResourceInfo(namespaced=True, kind="Pod", subresources={"status"})
        k.resources["v1/events"] = kmock.ResourceInfo(namespaced=True, kind="Event")
        k.resources["k8s.cni.cncf.io/v1/network-attachment-definitions"] = kmock.ResourceInfo(
            namespaced=True, kind="NetworkAttachmentDefinition")
        k.resources["kubernetes.com/v1/networks"] = kmock.ResourceInfo(namespaced=True, kind="Network")
        self.server = kmock.Server(k)
        await self.server.__aenter__()
        return k

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def seed(self, group: str, version: str, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (self._kmock.resource(group, version, plural), meta.get("namespace"), meta["name"])
        self._call(lambda: self.k.objects.__setitem__(key, obj))

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        key = (self._kmock.resource(group, version, plural), namespace, name)

        def read() -> dict[str, Any] | None:
            if key not in self.k.objects or self.k.objects[key].deleted:
                return None
            return json.loads(json.dumps(dict(self.k.objects[key].raw)))
        return self._call(read)

    def remove(self, group: str, version: str, plural: str, namespace: str, name: str) -> None:
        """Forget the object entirely (kmock keeps deleted objects and scans them on every GET)."""
        key = (self._kmock.resource(group, version, plural), namespace, name)

        def drop() -> None:
            if key in self.k.objects:
                del self.k.objects[key]
        self._call(drop)

    def forget_requests(self) -> None:
        """Drop the request log. kmock matches each new request against the ones it served
        before, so a long run slows it down linearly (a GET 1 ms fresh, ~10 ms after a few
        hundred requests): a load of the tool, not of what is measured. Only for runs that do
        not count requests (scenario 5 does)."""
        def clear() -> None:
            self.k._requests.clear()
            for payload in self.k._payloads:
                payload._requests.clear()
        self._call(clear)

    def requests(self, user_agent: str) -> list[Seen]:
        def read() -> list[Seen]:
            return [Seen(r.method.value, r.url.path, dict(r.params).get("watch") == "true")
                    for r in list(self.k) if r.headers.get("User-Agent", "") == user_agent]
        return self._call(read)

    def close(self) -> None:
        if self.server is not None:
            self._run(self.server.__aexit__(None, None, None))
            self.server = None
        self._run(self.k.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class EmulatorProcess:
    """An `Emulator` in a child process (`python -m benchmarks.kube_emulator`), driven by one
    JSON line per call on its stdin (a method name and its arguments), one JSON line back."""

    def __init__(self, python: str = sys.executable) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([python, "-m", "benchmarks.kube_emulator"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.url = str(self._ask("url"))

    def _ask(self, method: str, *args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([method, *args]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise ImportError(f"the emulator process exited ({self.proc.wait()}); is kmock installed?")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"emulator {method}: {reply['error']}")
        return reply["value"]

    def seed(self, group: str, version: str, plural: str, obj: dict[str, Any]) -> None:
        self._ask("seed", group, version, plural, obj)

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._ask("get", group, version, plural, namespace, name)
        return value

    def remove(self, group: str, version: str, plural: str, namespace: str, name: str) -> None:
        self._ask("remove", group, version, plural, namespace, name)

    def forget_requests(self) -> None:
        self._ask("forget_requests")

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()   # EOF: the child closes its emulator and exits
            wait_or_kill(self.proc, 10)


def _serve() -> None:
    """The child side of EmulatorProcess."""
    emulator = Emulator()
    calls: dict[str, Callable[..., Any]] = {
        "url": lambda: emulator.url, "seed": emulator.seed, "get": emulator.get, "remove": emulator.remove,
        "forget_requests": emulator.forget_requests}
    try:
        for line in sys.stdin:
            method, *args = json.loads(line)
            try:
                reply = {"value": calls[method](*args)}
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        emulator.close()


def write_kubeconfig(path: Path, url: str) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "emu", "cluster": {"server": url}}],
        "users": [{"name": "multus-dp", "user": {"token": "bench"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "emu", "user": "multus-dp"}}]}))
    return path


if __name__ == "__main__":
    _serve()
