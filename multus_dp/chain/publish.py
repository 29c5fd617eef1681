"""The publisher seam: where network-status goes once an ADD is done.

Without Kubernetes it is written to `<stateDir>/status/<ns>_<pod>.json` for
`multus-dp status <ns>/<pod>`; the Kubernetes publisher patches pods/status instead.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol

from multus_dp.networks.attachment import Notice, PodRef

from multus_dp.base.fileio import atomic_write


class StatusPublisher(Protocol):
    """`notices`: what the pod asked for and did not get; the Kubernetes publisher sends them as
    Warning Events (the runner has logged them already)."""

    def publish(self, pod: PodRef, container_id: str, status: list[dict[str, Any]],
                notices: Sequence[Notice] = ()) -> None: ...

    def withdraw(self, pod: PodRef, container_id: str) -> None: ...


class FileStatusPublisher:
    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir) / "status"

    def path(self, namespace: str, name: str) -> Path:
        return self.dir / f"{namespace}_{name}.json"

    def publish(self, pod: PodRef, container_id: str, status: list[dict[str, Any]],
                notices: Sequence[Notice] = ()) -> None:
        if not pod.name:
            return
        body = {"pod": vars(pod), "containerID": container_id,
                "annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status, indent=4)},
                "networkStatus": status}
        # derived data, rewritten on every ADD: no fsync
        atomic_write(self.path(pod.namespace or "default", pod.name), json.dumps(body).encode(), 0o644,
                     durable=False)

    def withdraw(self, pod: PodRef, container_id: str) -> None:
        if not pod.name:
            return
        path = self.path(pod.namespace or "default", pod.name)
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(path.read_text()).get("containerID") == container_id:
                path.unlink()

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(namespace, name).read_text())
        except FileNotFoundError:
            return None
