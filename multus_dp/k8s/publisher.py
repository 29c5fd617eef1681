"""network-status on the pod, published off the ADD's critical path.

`publish()` only queues and returns: a small pool of worker threads (`kubePublishWorkers`,
default 4, so one slow answer does not hold every other pod's status) sends one JSON merge patch to
pods/status (the `k8s.v1.cni.cncf.io/network-status` annotation and nothing else, never a
full object update) and then the events (Warnings for ignored requests, `AddedInterface`). The patch carries the pod's
UID, which the API server treats as a precondition: a pod re-created under the same name
answers 409 Conflict instead of receiving the old sandbox's status. Failures are logged,
counted (`publish_failures`) and retried with an exponential backoff until they land, the
pod is gone, or it was re-created. One pod's work is never in flight twice (per-pod order);
newer work for a pod replaces older queued work (coalescing: only the latest status is sent).
`pending()` is the backlog, `oldest_seconds()` the age of its oldest unpublished change.

Thin mode (no daemon, the process exits after the ADD) sends the patch inline, once,
under the request timeout, and never raises.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from multus_dp import logs

from .api import ApiError, KubeApi
from .events import added_interface_events, warning_events
from .informer import Backoff
from .kinds import PODS, pod_info, uid_matches
from .metrics import KubeMetrics
from .sources import PodInfo

log = logs.get("k8s.publisher")

NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
EVENT_ATTEMPTS = 3      # events are best effort: a few tries, then they are dropped
MAX_QUEUED_EVENTS = 32  # per pod: a long outage must not grow the queue without bound
CONFLICT_ATTEMPTS = 3   # 409s resolved in one go (static pods' mirror UID)


class PodLike(Protocol):
    namespace: str
    name: str
    uid: str


class NoticeLike(Protocol):
    # read-only: the notices are frozen dataclasses
    @property
    def reason(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass
class _Job:
    namespace: str
    name: str
    uid: str
    container_id: str
    status: list[dict[str, Any]] | None          # None: withdraw the annotation
    events: list[dict[str, Any]] = field(default_factory=list)
    patched: bool = False
    attempts: int = 0
    event_attempts: int = 0
    due: float = 0.0
    backoff: Backoff | None = None
    queued_at: float = 0.0      # when the oldest change this job carries was queued

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


class _Retry(Exception):
    pass


class KubeStatusPublisher:
    def __init__(self, api: KubeApi, metrics: KubeMetrics, node_name: str, backoff_max: float,
                 background: bool = True, cached_pod: Callable[[str, str], PodInfo | None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 monotonic: Callable[[], float] = time.monotonic, workers: int = 4) -> None:
        self.api = api
        self.metrics = metrics
        self.node_name = node_name
        self.backoff_max = backoff_max
        self.background = background
        self.cached_pod = cached_pod
        self.now = now
        self.monotonic = monotonic
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._busy: set[tuple[str, str]] = set()
        self._last_container: dict[tuple[str, str], str] = {}
        self._cond = threading.Condition()
        self._stop = False
        self.workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        metrics.pending = self.pending
        metrics.oldest_pending = self.oldest_seconds

    # ---- the StatusPublisher protocol (chain/publish.py) ---------------------------------
    def publish(self, pod: PodLike, container_id: str, status: list[dict[str, Any]],
                notices: Sequence[NoticeLike] = ()) -> None:
        if not pod.name:
            return
        namespace = pod.namespace or "default"
        now = self.now()
        events = warning_events(namespace, pod.name, pod.uid, [(n.reason, n.message) for n in notices],
                                self.node_name, now)
        events += added_interface_events(namespace, pod.name, pod.uid, status, self.node_name, now)
        self._submit(_Job(namespace, pod.name, pod.uid, container_id, list(status), events))

    def withdraw(self, pod: PodLike, container_id: str) -> None:
        if not pod.name:
            return
        namespace = pod.namespace or "default"
        with self._cond:
            last = self._last_container.get((namespace, pod.name))
        if last is not None and last != container_id:
            return  # a newer sandbox of this pod published since: its status stays
        if self._being_deleted(namespace, pod.name, pod.uid):
            # the annotation goes with the pod: a patch would be a wasted write per pod of a churn
            self.metrics.inc("publish_skipped")
            with self._cond:
                self._jobs.pop((namespace, pod.name), None)  # nor send what is still queued
            return
        self._submit(_Job(namespace, pod.name, pod.uid, container_id, None))

    def _being_deleted(self, namespace: str, name: str, uid: str) -> bool:
        """The watch cache holds this pod with a deletionTimestamp (thin mode has no cache)."""
        cached = self.cached_pod(namespace, name) if self.cached_pod is not None else None
        return cached is not None and bool(cached.deletion_timestamp) and uid_matches(cached, uid)

    # ---- queue ---------------------------------------------------------------------------
    def _submit(self, job: _Job) -> None:
        try:
            with self._cond:
                if job.status is not None:
                    self._last_container[job.key] = job.container_id
                else:
                    self._last_container.pop(job.key, None)
                if self.background:
                    job.queued_at = self.monotonic()
                    older = self._jobs.get(job.key)
                    if older is not None:
                        job.events = (older.events + job.events)[-MAX_QUEUED_EVENTS:]  # history: keep them
                        job.queued_at = older.queued_at
                    self._jobs[job.key] = job
                    self._cond.notify_all()
                    return
            self._run_inline(job)
        except Exception:  # publishing never fails an ADD or a DEL
            log.exception("queueing network-status failed", extra={"pod": job.label()})

    def pending(self) -> int:
        """The backlog: pods whose latest network-status is queued or in flight."""
        with self._cond:
            return len(self._jobs.keys() | self._busy)

    def oldest_seconds(self) -> float:
        """Age of the oldest change still queued (0 with an empty backlog): the status lag."""
        with self._cond:
            if not self._jobs:
                return 0.0
            return max(0.0, self.monotonic() - min(j.queued_at for j in self._jobs.values()))

    def start(self) -> None:
        if not self.background or self._threads:
            return
        self._stop = False
        self._threads = [threading.Thread(target=self._worker, name=f"status-publisher-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued (for shutdown and tests); False on timeout."""
        deadline = self.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                left = deadline - self.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def retry_now(self) -> None:
        """Make every queued job due (the API just came back)."""
        with self._cond:
            for job in self._jobs.values():
                job.due = 0.0
            self._cond.notify_all()

    # ---- worker --------------------------------------------------------------------------
    def _next_due(self) -> _Job | None:
        with self._cond:
            while not self._stop:
                now = self.monotonic()
                ready = [j for j in self._jobs.values() if j.due <= now and j.key not in self._busy]
                if ready:
                    job = min(ready, key=lambda j: j.due)
                    del self._jobs[job.key]
                    self._busy.add(job.key)
                    return job
                waits = [j.due - now for j in self._jobs.values() if j.key not in self._busy]
                self._cond.wait(min(waits) if waits else None)
            return None

    def _worker(self) -> None:
        while True:
            job = self._next_due()
            if job is None:
                return
            retry = False
            try:
                self._attempt(job)
            except _Retry:
                retry = True
            except Exception:
                log.exception("publishing network-status failed", extra={"pod": job.label()})
                retry = True
            with self._cond:
                self._busy.discard(job.key)
                if retry:
                    self._requeue(job)
                self._cond.notify_all()

    def _requeue(self, job: _Job) -> None:
        newer = self._jobs.get(job.key)
        if newer is not None:
            newer.events = (job.events + newer.events)[-MAX_QUEUED_EVENTS:]
            newer.queued_at = min(newer.queued_at, job.queued_at)
            return  # the newer state replaces this one
        job.backoff = job.backoff or Backoff(self.backoff_max)
        job.due = self.monotonic() + job.backoff.next()
        self._jobs[job.key] = job

    def _run_inline(self, job: _Job) -> None:
        try:
            self._attempt(job)
        except _Retry:
            log.warning("network-status of %s not published (thin mode does not retry)", job.label())

    # ---- one attempt ---------------------------------------------------------------------
    def _attempt(self, job: _Job) -> None:
        if not job.patched:
            self._patch(job)
        self._send_events(job)

    def _precondition_uid(self, job: _Job) -> str:
        """The UID the API knows: a static pod's mirror has its own (seen in the cache)."""
        if self.cached_pod is not None and job.uid:
            cached = self.cached_pod(job.namespace, job.name)
            if cached is not None and cached.uid != job.uid and uid_matches(cached, job.uid):
                return cached.uid
        return job.uid

    def _patch(self, job: _Job) -> None:
        uid = self._precondition_uid(job)
        value = json.dumps(job.status, indent=4) if job.status is not None else None
        for _ in range(CONFLICT_ATTEMPTS):
            job.attempts += 1
            meta: dict[str, Any] = {"annotations": {NETWORK_STATUS_ANNOTATION: value}}
            if uid:
                meta["uid"] = uid  # a precondition: 409 if the pod was re-created
            try:
                self.api.patch_pod_status(job.namespace, job.name, {"metadata": meta})
            except ApiError as err:
                if err.status == 404:
                    self._drop(job, "the pod is gone")
                    return
                if err.status == 409:
                    resolved = self._resolve_conflict(job)
                    if resolved is None:
                        return
                    uid = resolved
                    continue
                self.metrics.inc("publish_failures")
                log.warning("network-status patch of pod %s failed (attempt %d): %s; will retry", job.label(),
                            job.attempts, err, extra={"pod": job.label(), "container": job.container_id})
                raise _Retry() from err
            job.patched = True
            self.metrics.inc("publish_ok")
            return
        self.metrics.inc("publish_failures")
        raise _Retry()

    def _resolve_conflict(self, job: _Job) -> str | None:
        """After a 409: the pod's current UID if it is still our pod, else None (job dropped)."""
        try:
            obj = self.api.get(PODS, job.namespace, job.name)
        except ApiError as err:
            self.metrics.inc("publish_failures")
            raise _Retry() from err
        if obj is None:
            self._drop(job, "the pod is gone")
            return None
        current = pod_info(obj)
        if job.uid and not uid_matches(current, job.uid):
            self._drop(job, f"the pod was re-created (UID {current.uid}, ours {job.uid})")
            return None
        return current.uid

    def _drop(self, job: _Job, why: str) -> None:
        self.metrics.inc("publish_dropped")
        job.patched = True
        job.events = []
        log.info("network-status of pod %s not published: %s", job.label(), why,
                 extra={"pod": job.label(), "container": job.container_id})

    def _send_events(self, job: _Job) -> None:
        while job.events:
            try:
                self.api.create_event(job.namespace, job.events[0])
            except ApiError as err:
                if err.status == 409:  # an earlier attempt landed after all (its answer was lost)
                    job.events.pop(0)
                    continue
                self.metrics.inc("events_failed")
                job.event_attempts += 1
                if job.event_attempts >= EVENT_ATTEMPTS:
                    log.warning("dropping %d event(s) of pod %s: %s", len(job.events), job.label(),
                                err)
                    job.events = []
                    return
                raise _Retry() from err
            self.metrics.inc("events_ok")
            job.events.pop(0)
