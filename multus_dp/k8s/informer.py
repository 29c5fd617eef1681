"""List + watch one resource into a Store, in a background thread.

The loop: LIST (replace the store) -> WATCH from the list's resourceVersion, applying
events -> when the server closes the watch (its timeout), watch again from the last
resourceVersion seen. A 410 Gone (the version is too old) relists. An optional resource
(the legacy `Network` CRD) is first looked up in API discovery: while the server does not
serve it, the store stays empty and "absent" and discovery is asked again only every
`recheck` seconds, instead of a failing LIST every backoff period. Any other failure
(API down, 5xx, bad stream) waits an exponential backoff and relists, so nothing missed
while disconnected stays in the cache. The store keeps serving the last known state
meanwhile: a cached pod can be attached and detached while the API is away.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from multus_dp import logs

from .api import ApiError, KubeApi, WatchStream
from .kinds import Kind, object_key, resource_version
from .metrics import KubeMetrics
from .store import Store

log = logs.get("k8s.informer")

FIRST_BACKOFF = 0.2


class Backoff:
    def __init__(self, cap: float, first: float = FIRST_BACKOFF) -> None:
        self.cap = cap
        self.first = min(first, cap)
        self.current = self.first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.cap, self.current * 2)
        return delay * random.uniform(0.8, 1.0)  # jitter: many nodes must not reconnect in lockstep

    def reset(self) -> None:
        self.current = self.first


class Informer:
    def __init__(self, api: KubeApi, kind: Kind, store: Store[Any], metrics: KubeMetrics,
                 backoff_max: float, field_selector: str | None = None,
                 on_recover: Callable[[], None] | None = None, optional: bool = False,
                 recheck: float = 3600.0, namespace: str | None = None) -> None:
        self.api = api
        self.namespace = namespace  # None: cluster-wide
        # optional: ask API discovery before listing, and again every `recheck` s while absent
        self.optional = optional
        self.recheck = recheck
        self.on_recover = on_recover  # called when the API answers again after a failure
        self.kind = kind
        self.store = store
        self.metrics = metrics
        self.field_selector = field_selector
        self.backoff = Backoff(backoff_max)
        self.lists = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        where = f"-{self.namespace}" if self.namespace else ""
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind.plural}{where}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        need_list, rv = True, None
        while not self._stop.is_set():
            try:
                if need_list:
                    if self.optional and not self._served():
                        self._wait(self.recheck)
                        continue
                    rv = self._list()
                    need_list = False
                rv, need_list = self._watch(rv)
                self.backoff.reset()
            except ApiError as err:
                if self._stop.is_set():
                    break
                if err.status == 404 and need_list:
                    # the CRD is not installed (legacy Networks usually are not): empty, look again later
                    self._mark_absent()
                    self._wait(self.recheck if self.optional else self.backoff.cap)
                    continue
                self.store.live = False
                self.metrics.inc("watch_restarts")
                self.last_error = str(err)
                delay = self.backoff.next()
                log.warning("%s: list/watch failed (%s); relisting in %.1fs", self.kind.describe(), err, delay,
                            extra={"resource": self.kind.describe()})
                need_list = True
                self._wait(delay)
            except Exception:  # a bug must not kill the cache thread for good
                self.store.live = False
                log.exception("%s: informer error", self.kind.describe())
                need_list = True
                self._wait(self.backoff.next())

    def _served(self) -> bool:
        """API discovery: is the resource served? When not, the store is empty and absent."""
        try:
            if self.api.resource_exists(self.kind):
                return True
        except ApiError as err:
            if err.status != 403:
                raise
            return True  # discovery forbidden to us (unusual RBAC): the LIST answers instead (404: absent)
        self._mark_absent()
        log.info("%s: not served by the API server (CRD not installed); checking again in %.0fs",
                 self.kind.describe(), self.recheck, extra={"resource": self.kind.describe()})
        return False

    def _mark_absent(self) -> None:
        self.store.replace([], absent=True)
        self.last_error = None

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _list(self) -> str | None:
        items, rv = self.api.list_objects(self.kind, self.field_selector, self.namespace)
        keyed = [(key, obj) for obj in items if (key := object_key(obj)) is not None]
        self.store.replace(keyed)
        self.lists += 1
        if self.lists > 1:
            self.metrics.inc("relists")
        if self.last_error is not None and self.on_recover is not None:
            self.on_recover()
        self.last_error = None
        log.info("%s: listed %d object(s)", self.kind.describe(), len(self.store),
                 extra={"resource": self.kind.describe()})
        return rv

    def _watch(self, rv: str | None) -> tuple[str | None, bool]:
        """Apply one watch stream; returns (last resourceVersion, relist needed)."""
        stream = self.api.watch(self.kind, rv, self.field_selector, self.namespace)
        self._stream = stream
        started, events = time.monotonic(), 0
        try:
            if self._stop.is_set():
                stream.close()
            for event in stream:
                events += 1
                kind, obj = event.get("type"), event.get("object")
                if not isinstance(obj, dict):
                    continue
                if kind == "ERROR":
                    code = obj.get("code")
                    if code == 410:
                        log.info("%s: watch expired (410 Gone); relisting", self.kind.describe())
                        return rv, True
                    raise ApiError(code if isinstance(code, int) else None, str(obj.get("message") or obj))
                rv = resource_version(obj) or rv
                if kind == "BOOKMARK":
                    continue
                key = object_key(obj)
                if key is None:
                    continue
                if kind == "DELETED":
                    self.store.delete(key)
                elif kind in ("ADDED", "MODIFIED"):
                    self.store.upsert(key, obj)
        except ApiError as err:
            if err.status == 410:
                return rv, True
            raise
        finally:
            self._stream = None
        if not events and time.monotonic() - started < 1.0:
            self._wait(self.backoff.next())  # a server that closes watches at once must not spin us
        return rv, False
