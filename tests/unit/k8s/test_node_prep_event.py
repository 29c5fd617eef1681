"""A failed node-prep is a Warning Event on the node (where `kubectl describe node` shows it),
posted once per recorded failure; a success triggers a hardware rescan instead."""
from __future__ import annotations

import time

from multus_dp.daemon.nodeprep_monitor import EVENT_REASON, NodePrepMonitor
from multus_dp.hardware.nodeprep_state import FAILED, OK, NodePrepState, write

from .emulator import EVENTS


def test_a_failed_node_prep_is_an_event_on_the_node_and_success_a_rescan(emu, make_sources, tmp_path) -> None:
    sources = make_sources(watch=False)
    rescans: list[float] = []
    monitor = NodePrepMonitor(str(tmp_path), 0.05, lambda: rescans.append(time.time()), sources)
    write(str(tmp_path), NodePrepState(FAILED, "node.yaml", "hugepages: 0 free 1Gi pages", 1.0, 2.0))
    monitor.check()
    monitor.check()          # the same record: no second event
    events = emu.objects(EVENTS, "default")
    assert [(e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"], e["type"]) for e in events] == [
        ("Node", sources.node_name, EVENT_REASON, "Warning")]
    assert "hugepages: 0 free 1Gi pages" in events[0]["message"] and rescans == []
    write(str(tmp_path), NodePrepState(OK, "node.yaml", None, 3.0, 4.0))
    monitor.check()
    assert len(rescans) == 1 and monitor.sriov_problem() is None
