"""Counters of the Kubernetes layer, for the daemon's /metrics and for tests.

Plain integers behind a lock: the daemon renders `snapshot()` in its own format.
"""
from __future__ import annotations

import threading
from collections import Counter


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
        "events_ok",
        "events_failed",
        "credential_reloads",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.pending = lambda: 0  # set by the publisher: queued publishes (a gauge)

    def inc(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            counts = {name: self._counts[name] for name in self.NAMES}
        counts["publish_pending"] = self.pending()
        return counts
