"""The daemon's eye on node-prep (hardware/nodeprep_state.py): SR-IOV readiness, a hardware
rescan once node-prep finished (its new VFs must be in the inventory at once, not after the next
periodic rescan), and a Warning Event on the node when it failed."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from multus_dp import logs
from multus_dp.hardware.nodeprep_state import FAILED, OK, NodePrepState, NodePrepWatch

if TYPE_CHECKING:
    from multus_dp.k8s.kube import KubeSources

log = logs.get("daemon.nodeprep")
EVENT_REASON = "SriovNotReady"


class NodePrepMonitor:
    def __init__(self, state_dir: str, interval: float, rescan: Callable[[], object],
                 kube: KubeSources | None = None) -> None:
        self.watch = NodePrepWatch(state_dir)
        self.interval = interval
        self.rescan = rescan
        self.kube = kube
        self._seen: NodePrepState | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-prep-monitor", daemon=True)

    def start(self) -> None:
        self.check()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 1)

    def sriov_problem(self) -> str | None:
        """Why SR-IOV is not ready on this node (None: ready, or node-prep not used here)."""
        return self.watch.sriov_problem()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the monitor must outlive a bad moment (an API hiccup, a rescan error)
                log.exception("node-prep monitor check failed")

    def check(self) -> None:
        state = self.watch.current()
        if state == self._seen:
            return
        self._seen = state
        if state is None:
            return
        if state.state == OK:
            log.info("node-prep finished: rescanning the hardware for its VFs", extra={"config": state.config})
            self.rescan()
        elif state.state == FAILED:
            problem = state.sriov_problem() or ""
            log.error("SR-IOV not ready on this node: %s", problem, extra={"config": state.config})
            self._event(f"SR-IOV pools are not ready: {problem}")

    def _event(self, message: str) -> None:
        if self.kube is None:
            return
        from multus_dp.k8s.api import ApiError
        from multus_dp.k8s.events import node_event

        event = node_event(self.kube.node_name, EVENT_REASON, message, "Warning", datetime.now(timezone.utc))
        try:
            self.kube.api.create_event("default", event)
        except ApiError as err:
            log.warning("could not post the node event: %s", err)
