"""The journal's step lines: each step is appended to the plan, a line cut short counts as not
recorded (and does not hide the lines after it), and a journal of a single document (an older
multus-dp's) still loads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus_dp.chain.journal import ADDED, DELETED, FAILED, PLANNED, Journal, JournalEntry, JournalStore
from multus_dp.cni.errors import CNIError
from multus_dp.networks.attachment import Attachment, PodRef


def plan(store: JournalStore, n: int = 3) -> Journal:
    journal = Journal(container_id="c1", netns="/run/netns/p", ifname="eth0", pod=PodRef("ns", "p", "u"),
                      cni_version="1.0.0",
                      entries=[JournalEntry(Attachment(f"net{i}", f"net{i}", {"type": "bridge"})) for i in range(n)])
    store.save(journal, durable=True)
    return journal


def test_steps_are_appended_and_loaded_in_order(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    journal = plan(store)
    size = store.path("c1").stat().st_size
    first, second, _ = journal.entries
    first.state, first.result = ADDED, {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}
    store.record(journal, first)
    second.state, second.error = FAILED, "plugin ptp ADD failed"
    store.record(journal, second)
    first.state = DELETED
    store.record(journal, first)
    assert store.path("c1").read_bytes().count(b"\n") == 3 and store.path("c1").stat().st_size > size

    loaded = store.load("c1")
    assert loaded is not None
    assert [(e.state, e.result, e.error) for e in loaded.entries] == [
        (DELETED, first.result, None), (FAILED, None, "plugin ptp ADD failed"), (PLANNED, None, None)]


def test_a_step_line_cut_short_is_skipped_and_the_next_one_still_counts(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    journal = plan(store)
    with open(store.path("c1"), "ab") as fh:   # a writer killed mid-line, then the disk's zeros
        fh.write(b'\n{"step":0,"state":"add' + b"\0" * 16)
    journal.entries[1].state = ADDED
    store.record(journal, journal.entries[1])
    with open(store.path("c1"), "ab") as fh:   # and one more cut short at the very end
        fh.write(b'\n{"step":2,"state":"added","res')
    loaded = store.load("c1")
    assert loaded is not None
    assert [e.state for e in loaded.entries] == [PLANNED, ADDED, PLANNED]


@pytest.mark.parametrize("line", [b'{"step":7,"state":"added"}', b'{"step":0,"state":"running"}',
                                  b'{"step":"0","state":"added"}', b'{"step":0,"state":"added","result":[1]}',
                                  b"[0]", b"null"])
def test_a_step_line_that_does_not_fit_the_plan_is_skipped(tmp_path: Path, line: bytes) -> None:
    store = JournalStore(str(tmp_path))
    plan(store)
    with open(store.path("c1"), "ab") as fh:
        fh.write(b"\n" + line)
    loaded = store.load("c1")
    assert loaded is not None and [e.state for e in loaded.entries] == [PLANNED] * 3


@pytest.mark.parametrize("indent", [None, 1])
def test_a_journal_of_one_document_loads(tmp_path: Path, indent: int | None) -> None:
    """As older versions wrote them: rewritten whole at every step (pretty-printed at first)."""
    store = JournalStore(str(tmp_path))
    journal = plan(store)
    journal.entries[0].state = ADDED
    store.path("c1").write_text(json.dumps(journal.to_json(), indent=indent, sort_keys=True))
    loaded = store.load("c1")
    assert loaded is not None and [e.state for e in loaded.entries] == [ADDED, PLANNED, PLANNED]
    store.path("c1").write_text(json.dumps(journal.to_json(), indent=indent)[:-1])
    with pytest.raises(CNIError, match="corrupt"):
        store.load("c1")


def test_a_step_never_creates_a_journal_without_its_plan(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    journal = plan(store)
    store.remove("c1")
    journal.entries[0].state = DELETED
    with pytest.raises(CNIError, match="cannot write journal for container c1"):
        store.record(journal, journal.entries[0])
    assert not store.path("c1").exists()
    store.record_or_note(journal, journal.entries[0])   # an undo notes it and goes on
    assert journal.write_error is not None and not store.path("c1").exists()


def test_saving_the_whole_journal_drops_the_step_lines(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    journal = plan(store)
    journal.entries[0].state = ADDED
    store.record(journal, journal.entries[0])
    store.save(journal)
    assert b"\n" not in store.path("c1").read_bytes()
    loaded = store.load("c1")
    assert loaded is not None and loaded.entries[0].state == ADDED
