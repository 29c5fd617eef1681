"""What the last node-prep run left for the daemon: `<stateDir>/node-prep.json`.

node-prep runs beside the daemon, not before it (docs/hardware.md), so a wrong line in a node's
SR-IOV config or missing hugepages never keeps the daemon from serving the cluster network.
Instead node-prep records its outcome here — `running` when it starts, `ok` or `failed` (with
the error) when it ends — and the daemon keeps SR-IOV pools not ready while it is not `ok`: no
devices advertised, an ADD that needs a VF fails naming the node-prep error, `multus-dp status`
says why. No file: node-prep is not used on this node, SR-IOV is ready as discovered.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

from multus_dp.base.fileio import atomic_write
from multus_dp.base.jsonin import decode

STATE_FILE = "node-prep.json"
RUNNING, OK, FAILED = "running", "ok", "failed"


@dataclass(frozen=True)
class NodePrepState:
    state: str                          # running | ok | failed
    config: str                         # the node-prep config file it ran with
    error: str | None = None            # what failed (node-wide problems, failed PFs, a bad config)
    started: float = 0.0                # wall-clock seconds
    finished: float | None = None
    failed_pfs: list[str] = field(default_factory=list)

    def sriov_problem(self) -> str | None:
        """Why SR-IOV pools are not ready, or None when they are."""
        if self.state == OK:
            return None
        if self.state == RUNNING:
            return f"node-prep ({self.config}) is still running since {time.strftime('%H:%M:%S', time.localtime(self.started))}"
        return f"node-prep ({self.config}) failed: {self.error or 'see its log'}"


def path_in(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def write(state_dir: str, state: NodePrepState) -> None:
    atomic_write(path_in(state_dir), json.dumps(asdict(state), indent=2), mode=0o644, durable=False)


def read(state_dir: str) -> NodePrepState | None:
    """The recorded state; None when node-prep never ran here. A file that cannot be read or
    parsed counts as a failure: SR-IOV must not look ready on a half-written record."""
    try:
        with open(path_in(state_dir), "rb") as fh:
            data = decode(fh.read())
        return NodePrepState(**{k: v for k, v in data.items() if k in NodePrepState.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # not an object of our fields
        return NodePrepState(FAILED, path_in(state_dir), f"its record {path_in(state_dir)} is unreadable: {exc}")


class NodePrepWatch:
    """The daemon's view, re-read only when the file changed (one stat per question)."""

    def __init__(self, state_dir: str) -> None:
        self.path = path_in(state_dir)
        self.state_dir = state_dir
        self._stamp: tuple[int, int] | None = None
        self._state: NodePrepState | None = None

    def current(self) -> NodePrepState | None:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._state = read(self.state_dir) if stamp is not None else None
        return self._state

    def sriov_problem(self) -> str | None:
        state = self.current()
        return state.sriov_problem() if state is not None else None
