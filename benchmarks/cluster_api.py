"""A small Kubernetes API server for scenario 6 (a cluster on one machine), on aiohttp in its
own event-loop thread.

kmock (scenarios 5 and the tests) ignores `fieldSelector`, replays every object on each watch
and does not count bytes: fine for one node, misleading for many. This one behaves like an API
server where it matters for the API load of N daemons:
  - LIST and WATCH apply `fieldSelector` (`spec.nodeName`, `metadata.name`, `metadata.namespace`);
  - every change gets a cluster-wide resourceVersion; a WATCH from a resourceVersion sends only
    later events (410 Gone when that version left the history), never a replay; `timeoutSeconds`
    ends a watch like the real server does;
  - discovery (`/apis/<group>/<version>`) lists only the installed resources, so the legacy
    `Network` CRD can be absent (404 for its discovery and LIST) or installed;
  - pods/status takes JSON merge patches with the `metadata.uid` precondition; DELETE of a pod
    sets `deletionTimestamp` (MODIFIED) and `finalize()` removes it (DELETED), like kubelet's
    graceful deletion;
  - every request is logged with the bearer token (one per node), verb, resource, status code
    and the bytes served (for a watch: everything streamed on it).

The server's own cost (one Python thread) is not what the scenario measures: it counts the
daemons' requests and bytes.
"""
from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
Key = tuple[str, str, str]          # (resource, namespace, name)
HISTORY = 50_000                    # watch events kept for resumption (then 410 Gone)

CORE = {"pods", "events"}
GROUPS = {"network-attachment-definitions": ("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition"),
          "networks": ("kubernetes.com", "v1", "Network")}
LEGACY = "networks"


@dataclass
class Logged:
    """One request as the API server saw it."""
    token: str
    method: str
    verb: str        # get, list, watch, patch, create
    resource: str    # pods, pods/status, events, network-attachment-definitions, networks, discovery
    code: int
    bytes: int
    at: float        # time.monotonic() when it arrived


@dataclass
class _Route:
    resource: str
    namespace: str | None
    name: str | None
    sub: str | None


def _parse(path: str) -> _Route | str | None:
    """The resource a path names, "discovery" for /apis/<group>/<version>, None otherwise."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        if len(parts) == 3:
            return "discovery"
        rest = parts[3:]
    else:
        return None
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    return _Route(rest[0], namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _selector(raw: str | None) -> Callable[[dict[str, Any]], bool]:
    if not raw:
        return lambda obj: True
    terms = []
    for term in raw.split(","):
        negate = "!=" in term
        field, _, value = term.partition("!=" if negate else "=")
        terms.append((field.strip().lstrip("="), value.strip().lstrip("="), negate))
    return lambda obj: all((_field(obj, f) == v) != neg for f, v, neg in terms)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class ClusterApi:
    def __init__(self, legacy_crd: bool = False) -> None:
        self.legacy_crd = legacy_crd
        self.objects: dict[Key, dict[str, Any]] = {}
        self.rv = 1
        # watch events, consecutive resourceVersions from base_rv on: (resource, event)
        self.history: list[tuple[str, dict[str, Any]]] = []
        self.base_rv = 2
        self.log: list[Logged] = []
        self._watchers: set[asyncio.Event] = set()   # one per open watch: set on every change
        self._closing = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cluster-api", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.port = self._run(self._start())

    # ---- loop plumbing -------------------------------------------------------------------
    def _run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()
        return self._run(run())

    async def _start(self) -> int:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        assert sockets
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        def end_watches() -> None:
            self._closing = True
            for event in self._watchers:
                event.set()
        self.call(end_watches)
        if self._runner is not None:
            self._run(self._runner.cleanup())
            self._runner = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    # ---- objects (from the benchmark's side) ---------------------------------------------
    def _emit(self, kind: str, resource: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        self.history.append((resource, {"type": kind, "object": copy.deepcopy(obj)}))
        if len(self.history) > HISTORY:   # older versions are gone: a watch from them gets 410
            drop = len(self.history) - HISTORY // 2
            del self.history[:drop]
            self.base_rv += drop

    async def _notify(self) -> None:
        for event in self._watchers:
            event.set()

    def put(self, resource: str, obj: dict[str, Any]) -> None:
        """Create or replace an object (a watch sees ADDED/MODIFIED)."""
        async def go() -> None:
            meta = obj["metadata"]
            key = (resource, meta.get("namespace") or "", meta["name"])
            stored = copy.deepcopy(obj)
            stored["metadata"].setdefault("uid", f"uid-{meta['name']}")
            self._emit("MODIFIED" if key in self.objects else "ADDED", resource, stored)
            self.objects[key] = stored
            await self._notify()
        self._run(go())

    def begin_delete(self, resource: str, namespace: str, name: str) -> None:
        """Graceful deletion: deletionTimestamp set (MODIFIED); `finalize` removes the object."""
        async def go() -> None:
            obj = self.objects.get((resource, namespace, name))
            if obj is not None:
                obj["metadata"]["deletionTimestamp"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                self._emit("MODIFIED", resource, obj)
                await self._notify()
        self._run(go())

    def finalize(self, resource: str, namespace: str, name: str) -> None:
        async def go() -> None:
            obj = self.objects.pop((resource, namespace, name), None)
            if obj is not None:
                self._emit("DELETED", resource, obj)
                await self._notify()
        self._run(go())

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.call(lambda: copy.deepcopy(self.objects.get((resource, namespace, name))))

    def install_legacy_crd(self, installed: bool) -> None:
        self.call(lambda: setattr(self, "legacy_crd", installed))

    def requests(self) -> list[Logged]:
        return self.call(lambda: list(self.log))

    # ---- HTTP ----------------------------------------------------------------------------
    def _served(self, resource: str) -> bool:
        return resource != LEGACY or self.legacy_crd

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        entry = Logged(token, request.method, "?", "?", 0, 0, time.monotonic())
        self.log.append(entry)
        try:
            response = await self._dispatch(request, entry)
        except web.HTTPException:
            raise
        if isinstance(response, web.Response):
            entry.code = response.status
            entry.bytes = len(response.body or b"") if isinstance(response.body, bytes) else 0
        return response

    def _status(self, entry: Logged, code: int, reason: str, message: str) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message,
                "code": code}
        return web.json_response(body, status=code)

    async def _dispatch(self, request: web.Request, entry: Logged) -> web.StreamResponse:
        route = _parse(request.path)
        if route == "discovery":
            entry.verb, entry.resource = "get", "discovery"
            group, version = request.path.strip("/").split("/")[1:3]
            served = [(plural, kind) for plural, (g, v, kind) in GROUPS.items()
                      if g == group and v == version and self._served(plural)]
            if not served:
                return self._status(entry, 404, "NotFound", "the server could not find the requested resource")
            return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                                      "resources": [{"name": p, "kind": k, "namespaced": True, "singularName": "",
                                                     "verbs": ["get", "list", "watch"]} for p, k in served]})
        if not isinstance(route, _Route) or (route.resource not in CORE and route.resource not in GROUPS):
            entry.verb, entry.resource = request.method.lower(), request.path
            return self._status(entry, 404, "NotFound", f"no such path {request.path}")
        entry.resource = route.resource + (f"/{route.sub}" if route.sub else "")
        if not self._served(route.resource):
            entry.verb = "watch" if request.query.get("watch") in ("true", "1") else "list"
            return self._status(entry, 404, "NotFound", "the server could not find the requested resource")
        method = request.method
        if method == "GET" and route.name is None:
            if request.query.get("watch") in ("true", "1"):
                entry.verb = "watch"
                return await self._watch(request, route, entry)
            entry.verb = "list"
            return self._list(request, route)
        if method == "GET":
            entry.verb = "get"
            obj = self.objects.get((route.resource, route.namespace or "", route.name or ""))
            if obj is None:
                return self._status(entry, 404, "NotFound", f'{route.resource} "{route.name}" not found')
            return web.json_response(obj)
        if method == "PATCH" and route.name is not None:
            entry.verb = "patch"
            return await self._patch(request, route, entry)
        if method == "POST":
            entry.verb = "create"
            body = await request.json()
            body.setdefault("metadata", {}).setdefault("namespace", route.namespace)
            key = (route.resource, route.namespace or "", body["metadata"].get("name", ""))
            if route.resource != "events":   # events are counted, not kept (nobody watches them here)
                self.objects[key] = body
            self._emit("ADDED", route.resource, body)
            return web.json_response(body, status=201)
        entry.verb = method.lower()
        return self._status(entry, 405, "MethodNotAllowed", f"{method} not supported here")

    def _list(self, request: web.Request, route: _Route) -> web.Response:
        accept = _selector(request.query.get("fieldSelector"))
        items = [obj for (res, ns, _), obj in self.objects.items()
                 if res == route.resource and (route.namespace is None or ns == route.namespace) and accept(obj)]
        return web.json_response({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.rv)},
                                  "items": items})

    async def _patch(self, request: web.Request, route: _Route, entry: Logged) -> web.Response:
        key = (route.resource, route.namespace or "", route.name or "")
        obj = self.objects.get(key)
        if obj is None:
            return self._status(entry, 404, "NotFound", f'{route.resource} "{route.name}" not found')
        patch = await request.json()
        wanted = (patch.get("metadata") or {}).get("uid")
        if wanted and wanted != obj["metadata"].get("uid"):
            return self._status(entry, 409, "Conflict", "Precondition failed: UID mismatch")
        _merge(obj, patch)
        self._emit("MODIFIED", route.resource, obj)
        await self._notify()
        return web.json_response(obj)

    async def _watch(self, request: web.Request, route: _Route, entry: Logged) -> web.StreamResponse:
        accept = _selector(request.query.get("fieldSelector"))
        since = int(request.query.get("resourceVersion") or self.rv)
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        entry.code = 200
        await response.prepare(request)
        if since < self.base_rv - 1:
            gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                "message": f"too old resource version: {since} ({self.base_rv})"}}
            data = json.dumps(gone).encode() + b"\n"
            entry.bytes += len(data)
            await response.write(data)
            return response
        wake = asyncio.Event()
        self._watchers.add(wake)
        try:
            while not self._closing:
                wake.clear()
                while since < self.rv:   # the events after `since`, in order, without replay
                    index = since + 1 - self.base_rv
                    since += 1
                    if index < 0:
                        continue
                    resource, event = self.history[index]
                    obj = event["object"]
                    ns = obj.get("metadata", {}).get("namespace") or ""
                    if resource == route.resource and (route.namespace is None or ns == route.namespace) \
                            and accept(obj):
                        data = json.dumps(event).encode() + b"\n"
                        entry.bytes += len(data)
                        await response.write(data)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(wake.wait(), left)
                except asyncio.TimeoutError:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        finally:
            self._watchers.discard(wake)
        return response
