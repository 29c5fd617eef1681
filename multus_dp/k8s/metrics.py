"""Counters of the Kubernetes layer, for the daemon's /metrics and /status and for tests.

Plain integers behind a lock: the daemon renders them in its own format (daemon/metrics.py
turns `requests()`, `snapshot()` and the gauges into Prometheus families).
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

RequestKey = tuple[str, str, str]   # (verb, resource, code)


class KubeMetrics:
    NAMES = (
        "api_reads",            # GET/LIST requests (watches not included)
        "api_writes",           # PATCH/POST requests
        "api_watches",          # watch requests opened
        "api_errors",           # failed API requests (any verb)
        "cache_hits",           # lookups answered from a watch cache
        "cache_misses",         # lookups that fell back to a GET
        "relists",              # full LISTs after the first (410 Gone, reconnects)
        "watch_restarts",       # watch streams that ended in an error
        "publish_ok",           # network-status patches that landed
        "publish_failures",     # network-status patch attempts that failed (each is retried)
        "publish_dropped",      # publishes given up: pod gone or re-created
        "publish_skipped",      # DEL withdrawals not sent: the pod is being deleted anyway
        "events_ok",
        "events_failed",
        "credential_reloads",
        "discovery_checks",     # API-discovery requests for optional resources (legacy Networks)
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: Counter[RequestKey] = Counter()
        self.pending: Callable[[], int] = lambda: 0  # set by the publisher: its backlog (a gauge)
        self.oldest_pending: Callable[[], float] = lambda: 0.0  # and the age of its oldest change
        # set by KubeSources: objects per watch cache (a gauge), e.g. {"pods": 8, "nads": 40}
        self.cache_sizes: Callable[[], dict[str, int]] = lambda: {}

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def request(self, verb: str, resource: str, code: str) -> None:
        """One API request: verb (get, list, watch, patch, create), resource ("pods",
        "pods/status", "events", ...), code (the HTTP status, or "error" without one)."""
        with self._lock:
            self._requests[(verb, resource, code)] += 1

    def requests(self) -> dict[RequestKey, int]:
        with self._lock:
            return dict(self._requests)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            counts = {name: self._counts[name] for name in self.NAMES}
        counts["publish_pending"] = self.pending()
        return counts

    def status(self) -> dict[str, Any]:
        """For the daemon's /status: the counters, the backlog, cache sizes and requests by
        `verb resource code`."""
        return {"counters": self.snapshot(), "publishBacklog": self.pending(),
                "publishOldestSeconds": round(self.oldest_pending(), 3), "caches": self.cache_sizes(),
                "requests": {f"{verb} {resource} {code}": n for (verb, resource, code), n in
                             sorted(self.requests().items())}}
