"""kmock's KubernetesEmulator (a real aiohttp HTTP server) on its own event loop thread,
so synchronous code — the real `kubernetes` client inside multus-dp — talks to it over TCP.

Objects are seeded directly (`seed`) before the code under test starts, or changed over
HTTP (`create`/`patch`/`delete`, like kubectl) so that watches see the events. The request
log is filtered by User-Agent: the test's own "kubectl" requests are not multus-dp's.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kmock

from multus_dp.k8s.credentials import USER_AGENT
from multus_dp.k8s.kinds import NADS, NETWORKS, PODS, Kind

T = TypeVar("T")
EVENTS = Kind("Event", "", "v1", "events")


def api_path(kind: Kind, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    base = f"/api/{kind.version}" if not kind.group else f"/apis/{kind.group}/{kind.version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    tail = f"/{name}" if name else ""
    return f"{base}{ns}/{kind.plural}{tail}" + (f"/{sub}" if sub else "")


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    action: str | None
    body: Any
    headers: dict[str, str]

    @property
    def write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    @property
    def watch(self) -> bool:
        return self.params.get("watch") == "true"


class PreconditionEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus two API-server rules multus-dp relies on: a patch carrying
    `metadata.uid` is a precondition (another UID in the stored object answers 409), and
    SelfSubjectAccessReviews are answered by `authorize(resourceAttributes)`, not stored."""

    authorize: Callable[[dict[str, Any]], bool] = staticmethod(lambda attrs: True)
    # seconds a request is held before it is served: a slow API server (0: none)
    delay: Callable[[Any], float] = staticmethod(lambda request: 0.0)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # (method, path, start, end) of every request served, on the loop's clock: what was in flight at once
        self.spans: list[tuple[str, str, float, float]] = []

    async def _handle(self, request: Any) -> Any:
        start = asyncio.get_running_loop().time()
        try:
            return await self._handle_held(request)
        finally:
            self.spans.append((request.method.value, request.url.path, start, asyncio.get_running_loop().time()))

    async def _handle_held(self, request: Any) -> Any:
        hold = self.delay(request)
        if hold > 0:
            await asyncio.sleep(hold)
        if request.resource is not None and request.resource.plural == "selfsubjectaccessreviews":
            import aiohttp.web

            attrs = (request.data.get("spec") or {}).get("resourceAttributes") or {}
            return aiohttp.web.json_response({**request.data, "status": {"allowed": self.authorize(attrs)}},
                                             status=201)
        if request.action == kmock.action.UPDATE and isinstance(request.data, dict):
            wanted = (request.data.get("metadata") or {}).get("uid")
            key = (request.resource, request.namespace, request.name)
            if wanted and key in self.objects and not self.objects[key].deleted:
                stored = (self.objects[key].get("metadata") or {}).get("uid")
                if stored and stored != wanted:
                    raise kmock.KubernetesError(status=409, reason="Conflict", message=(
                        f"Precondition failed: UID in precondition: {wanted}, UID in object meta: {stored}"))
        return await super()._handle(request)


class Emulator:
    def __init__(self, legacy_crd: bool = True) -> None:
        """legacy_crd=False: the legacy `Network` CRD is not installed (discovery does not list it,
        its LIST answers 404)."""
        self.legacy_crd = legacy_crd
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.port = 0
        self.server: kmock.Server | None = None
        self.k: PreconditionEmulator = self.call_async(self._enter())

    # ---- loop plumbing -------------------------------------------------------------------
    def call_async(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()
        return self.call_async(run())

    async def _enter(self) -> kmock.KubernetesEmulator:
        k = PreconditionEmulator()
        await k.__aenter__()
        kinds: list[tuple[Kind, dict[str, Any]]] = [(PODS, dict(kind="Pod", subresources={"status"})),
                                                    (NADS, dict(kind="NetworkAttachmentDefinition")),
                                                    (EVENTS, dict(kind="Event"))]
        if self.legacy_crd:
            kinds.append((NETWORKS, dict(kind="Network")))
        for kind, info in kinds:
            k.resources[f"{kind.group}/{kind.version}/{kind.plural}" if kind.group else f"v1/{kind.plural}"] = \
                kmock.ResourceInfo(namespaced=True, **info)
        k["get /version/"] << {"major": "1", "minor": "30", "gitVersion": "v1.30.0-kmock"}  # the client's spelling
        self.server = kmock.Server(k)
        await self._start(self.server)
        self.port = self.server.port
        return k

    @staticmethod
    async def _start(server: kmock.Server) -> None:
        await server.__aenter__()
        # open watch streams must not hold a shutdown for aiohttp's default 60 s
        server.server.runner._shutdown_timeout = 0.1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- the API going away and coming back ------------------------------------------------
    def stop_server(self) -> None:
        server, self.server = self.server, None
        assert server is not None
        self.call_async(server.__aexit__(None, None, None))

    def start_server(self) -> None:
        async def start() -> None:
            self.server = kmock.Server(self.k, port=self.port)
            await self._start(self.server)
        self.call_async(start())

    def close(self) -> None:
        if self.server is not None:
            self.stop_server()
        self.call_async(self.k.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    # ---- objects -------------------------------------------------------------------------
    def seed(self, kind: Kind, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (kmock.resource(kind.group, kind.version, kind.plural), meta.get("namespace"), meta["name"])
        self.call(lambda: self.k.objects.__setitem__(key, obj))

    def _http(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        async def go() -> Any:
            assert self.server is not None
            data = json.dumps(body) if body is not None else None
            async with self.server.client.request(method, path, data=data,
                                                  headers={"Content-Type": content_type}) as resp:
                text = await resp.text()
                assert resp.status < 300, f"{method} {path}: {resp.status} {text}"
                return json.loads(text) if text else None
        return self.call_async(go())

    def create(self, kind: Kind, obj: dict[str, Any]) -> None:
        self._http("POST", api_path(kind, obj["metadata"].get("namespace")), obj)

    def patch(self, kind: Kind, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._http("PATCH", api_path(kind, namespace, name), patch, "application/merge-patch+json")

    def delete(self, kind: Kind, namespace: str, name: str) -> None:
        self._http("DELETE", api_path(kind, namespace, name))

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        key = (kmock.resource(kind.group, kind.version, kind.plural), namespace, name)

        def read() -> dict[str, Any] | None:
            if key not in self.k.objects or self.k.objects[key].deleted:
                return None
            return json.loads(json.dumps(dict(self.k.objects[key].raw)))
        return self.call(read)

    def objects(self, kind: Kind, namespace: str | None = None) -> list[dict[str, Any]]:
        res = kmock.resource(kind.group, kind.version, kind.plural)

        def read() -> list[dict[str, Any]]:
            return [json.loads(json.dumps(dict(o.raw))) for (r, ns, _), o in self.k.objects.items()
                    if r == res and (namespace is None or ns == namespace) and not o.deleted]
        return self.call(read)

    # ---- reactions -----------------------------------------------------------------------
    def react(self, build: Callable[[kmock.KubernetesEmulator], Any]) -> None:
        self.call(lambda: build(self.k))

    # ---- the request log -----------------------------------------------------------------
    def requests(self, ours: bool = True) -> list[Seen]:
        def read() -> list[Seen]:
            out = []
            for r in list(self.k):
                agent = r.headers.get("User-Agent", "")
                if ours != (agent == USER_AGENT):
                    continue
                out.append(Seen(r.method.value, r.url.path, dict(r.params), r.action.value if r.action else None,
                                r.data, dict(r.headers)))
            return out
        return self.call(read)

    def mark(self) -> int:
        """A position in multus-dp's request log: `since(mark)` lists what came after it."""
        return len(self.requests())

    def since(self, mark: int, watches: bool = False) -> list[Seen]:
        """multus-dp's requests after `mark`; watch (re)connections are background work and
        left out unless asked for."""
        return [r for r in self.requests()[mark:] if watches or not r.watch]


def write_kubeconfig(path: Path, url: str, token: str | None = None, token_file: str | None = None) -> Path:
    user: dict[str, Any] = {}
    if token is not None:
        user["token"] = token
    if token_file is not None:
        user["tokenFile"] = token_file
    data = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "emu", "cluster": {"server": url}}],
            "users": [{"name": "multus-dp", "user": user}],
            "contexts": [{"name": "test", "context": {"cluster": "emu", "user": "multus-dp"}}]}
    path.write_text(json.dumps(data))
    return path


def pod(name: str, namespace: str = "ns1", uid: str | None = None, node: str = "node1",
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}",
                         "annotations": dict(annotations or {})},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}
