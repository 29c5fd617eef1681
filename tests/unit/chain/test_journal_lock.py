"""The per-container lock: removed with the container's journal, still exclusive while
lockers race the removal; a read-only state dir does not stop it."""
from __future__ import annotations

from pathlib import Path

from multus_dp.chain.journal import Journal, JournalStore
from multus_dp.networks.attachment import PodRef


def test_lock_file_goes_with_the_journal(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    with store.container_lock("c1"):
        store.save(Journal(container_id="c1", netns="", ifname="eth0", pod=PodRef("ns", "p", ""), cni_version="1.0.0"))
    assert (store.lock_dir / "c1.lock").exists(), "kept while the container has a journal"
    with store.container_lock("c1"):
        store.remove("c1")
    assert list(store.lock_dir.iterdir()) == []
