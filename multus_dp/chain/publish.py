"""The publisher seam: where network-status goes once an ADD is done.

Without Kubernetes it is written to `<stateDir>/status/<ns>_<pod>.json` for
`multus-dp status <ns>/<pod>`; the Kubernetes publisher patches pods/status instead.
"""
from __future__ import annotations

import contextlib
import json
import stat
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol

from multus_dp.base.fileio import atomic_write, remove_stale_temps
from multus_dp.base.names import label_problem, subdomain_problem
from multus_dp.networks.attachment import Notice, PodRef


class StatusPublisher(Protocol):
    """`notices`: what the pod asked for and did not get; the Kubernetes publisher sends them as
    Warning Events (the runner has logged them already)."""

    def publish(self, pod: PodRef, container_id: str, status: list[dict[str, Any]],
                notices: Sequence[Notice] = ()) -> None: ...

    def withdraw(self, pod: PodRef, container_id: str) -> None: ...


# pod names and IPs: readable by root and the daemon's group (a log shipper, `multus-dp status`
# run by an operator in that group), not by every local user
STATUS_FILE_MODE = 0o640
STATUS_DIR_MODE = 0o750


class FileStatusPublisher:
    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir) / "status"

    def path(self, namespace: str, name: str) -> Path:
        # the request layer already refused bad names; a journal from before that check must not
        # steer a write or an unlink out of this directory either
        problem = label_problem(namespace) or subdomain_problem(name)
        if problem:
            raise ValueError(f"pod {namespace}/{name}: {problem}")
        return self.dir / f"{namespace}_{name}.json"

    def _make_dir(self) -> None:
        self.dir.mkdir(parents=True, mode=STATUS_DIR_MODE, exist_ok=True)
        if stat.S_IMODE(self.dir.stat().st_mode) != STATUS_DIR_MODE:
            self.dir.chmod(STATUS_DIR_MODE)  # the umask filtered mkdir's mode, or an older version made it 0755

    def publish(self, pod: PodRef, container_id: str, status: list[dict[str, Any]],
                notices: Sequence[Notice] = ()) -> None:
        if not pod.name:
            return
        body = {"pod": vars(pod), "containerID": container_id,
                "annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status, indent=4)},
                "networkStatus": status}
        path = self.path(pod.namespace or "default", pod.name)
        self._make_dir()
        # derived data, rewritten on every ADD: no fsync
        atomic_write(path, json.dumps(body).encode(), STATUS_FILE_MODE, durable=False)

    def withdraw(self, pod: PodRef, container_id: str) -> None:
        if not pod.name:
            return
        try:
            path = self.path(pod.namespace or "default", pod.name)
        except ValueError:   # a name no status file can have
            return
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(path.read_text()).get("containerID") == container_id:
                path.unlink()
        # the pod's status temp files a killed writer left (a live write losing its temp file
        # only loses that status update: publishing never fails an ADD)
        remove_stale_temps(path)

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(namespace, name).read_text())
        except (FileNotFoundError, ValueError):  # no such file, or a name that cannot have one
            return None
