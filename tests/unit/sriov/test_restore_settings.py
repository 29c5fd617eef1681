"""What the delegate sends to put a VF back: only what differs from the snapshot (real igb
refuses any request carrying a VF link state), VLAN and rates as groups; and the wait for udev
after a VF's netdev comes back."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from multus_dp.netops.types import VfState
from multus_dp.sriov.snapshot import VfSnapshot
from multus_dp.sriov.udevwait import wait_until_udev_done

ORIGINAL = VfState(index=1, mac="00:00:00:00:00:00", vlan=0, qos=0, vlan_proto=0x8100, spoofchk=True,
                   trust=False, link_state="auto", min_tx_rate=0, max_tx_rate=0)


def snap() -> VfSnapshot:
    return VfSnapshot.take(bdf="0000:01:10.2", pf_bdf="0000:01:00.0", pf_netdev="enp1s0", index=1, mode="kernel",
                           vf=ORIGINAL, netdev="enp1s0v1", netdev_mac="2a:f1:96:c3:12:78", mtu=1500, up=False,
                           driver="igbvf", driver_override=None)


def test_an_unchanged_vf_needs_nothing_sent() -> None:
    assert snap().settings_to_restore(ORIGINAL) == {}


def test_only_changed_fields_are_sent_and_never_the_link_state_when_it_did_not_change() -> None:
    now = replace(ORIGINAL, mac="02:4d:44:50:00:01", spoofchk=False, trust=True)
    assert snap().settings_to_restore(now) == {"mac": "00:00:00:00:00:00", "spoofchk": True, "trust": False}


def test_vlan_qos_and_protocol_go_together_as_do_the_two_rates() -> None:
    now = replace(ORIGINAL, vlan=100, qos=3, max_tx_rate=100)
    assert snap().settings_to_restore(now) == {"vlan": 0, "qos": 0, "vlan_proto": 0x8100,
                                               "min_tx_rate": 0, "max_tx_rate": 0}
    assert snap().settings_to_restore(replace(ORIGINAL, qos=5)) == {"vlan": 0, "qos": 0, "vlan_proto": 0x8100}


def test_a_changed_link_state_is_sent() -> None:
    assert snap().settings_to_restore(replace(ORIGINAL, link_state="disable")) == {"link_state": "auto"}


def test_without_udev_there_is_nothing_to_wait_for(tmp_path: Path) -> None:
    assert wait_until_udev_done(7, timeout_s=0, udev_dir=str(tmp_path))


def test_waits_for_the_device_entry_and_an_empty_queue(tmp_path: Path) -> None:
    (tmp_path / "control").touch()
    (tmp_path / "data").mkdir()
    (tmp_path / "queue").touch()
    assert not wait_until_udev_done(7, timeout_s=0.05, udev_dir=str(tmp_path))
    (tmp_path / "data" / "n7").touch()
    assert not wait_until_udev_done(7, timeout_s=0.05, udev_dir=str(tmp_path)), "an event is still queued"

    def udev_finishes() -> None:
        time.sleep(0.1)
        (tmp_path / "queue").unlink()

    worker = threading.Thread(target=udev_finishes)
    worker.start()
    assert wait_until_udev_done(7, timeout_s=10, udev_dir=str(tmp_path))
    worker.join()
