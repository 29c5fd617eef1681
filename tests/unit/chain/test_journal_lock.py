"""The per-container lock: removed with the container's journal, still exclusive while
lockers race the removal; a read-only state dir does not stop it."""
from __future__ import annotations

import threading
import time
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


def test_lockers_racing_the_removal_never_overlap(tmp_path: Path) -> None:
    store = JournalStore(str(tmp_path))
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps
        for _ in range(40):
            with store.container_lock("shared"):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0
    assert list(store.lock_dir.iterdir()) == []
