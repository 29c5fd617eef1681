"""Readiness: the daemon serves ADD only once every check passes (caches synced, hardware
discovered, readiness indicator file present) and stops being ready on SIGTERM."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable

ReadyCheck = Callable[[], str | None]


class Readiness:
    def __init__(self, indicator_file: str | None = None) -> None:
        self.indicator_file = indicator_file
        self.checks: list[ReadyCheck] = []
        self._started = threading.Event()
        self._stopping = threading.Event()

    def mark_started(self) -> None:
        self._started.set()

    def mark_stopping(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def serving_reason(self) -> str | None:
        """Why ADD cannot be served now (None = it can). Used by the runner for each ADD."""
        if self.indicator_file and not os.path.exists(self.indicator_file):
            return f"readiness indicator file {self.indicator_file} does not exist yet"
        for check in self.checks:
            try:
                reason = check()
            except Exception as exc:  # a broken check must not take /readyz down
                reason = f"readiness check failed: {exc}"
            if reason:
                return reason
        return None

    def reason(self) -> str | None:
        """Why /readyz is false (None = ready)."""
        if self._stopping.is_set():
            return "shutting down"
        if not self._started.is_set():
            return "starting"
        return self.serving_reason()
