"""The VF's whole original state, taken before anything is touched and restored at DEL.

Stored in the VF's allocation record (fsync'd) so a crash between snapshot and restore loses
nothing; a reclaimed stale record hands its snapshot on, so the state restored is always
the one found before the first pod touched the VF.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from multus_dp.netops.types import VfState


@dataclass(frozen=True)
class VfSnapshot:
    bdf: str
    pf_bdf: str
    pf_netdev: str
    index: int
    mode: str                    # "kernel" | "dpdk"
    # through the PF
    admin_mac: str
    vlan: int
    qos: int
    vlan_proto: int
    spoofchk: bool | None
    trust: bool | None
    link_state: str
    min_tx_rate: int
    max_tx_rate: int
    # the VF's own netdev (kernel mode)
    netdev: str | None
    netdev_mac: str | None
    mtu: int | None
    up: bool | None
    # its driver
    driver: str | None
    driver_override: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "VfSnapshot":
        return cls(**data)

    @classmethod
    def take(cls, *, bdf: str, pf_bdf: str, pf_netdev: str, index: int, mode: str, vf: VfState,
             netdev: str | None, netdev_mac: str | None, mtu: int | None, up: bool | None,
             driver: str | None, driver_override: str | None) -> "VfSnapshot":
        return cls(bdf=bdf, pf_bdf=pf_bdf, pf_netdev=pf_netdev, index=index, mode=mode, admin_mac=vf.mac,
                   vlan=vf.vlan, qos=vf.qos, vlan_proto=vf.vlan_proto, spoofchk=vf.spoofchk, trust=vf.trust,
                   link_state=vf.link_state, min_tx_rate=vf.min_tx_rate, max_tx_rate=vf.max_tx_rate,
                   netdev=netdev, netdev_mac=netdev_mac, mtu=mtu, up=up, driver=driver,
                   driver_override=driver_override)

    def vf_settings(self) -> dict[str, Any]:
        """Everything the PF reported, as set_vf arguments (None: the driver did not say)."""
        settings: dict[str, Any] = {"mac": self.admin_mac, "vlan": self.vlan, "qos": self.qos,
                                    "vlan_proto": self.vlan_proto, "link_state": self.link_state,
                                    "min_tx_rate": self.min_tx_rate, "max_tx_rate": self.max_tx_rate}
        if self.spoofchk is not None:
            settings["spoofchk"] = self.spoofchk
        if self.trust is not None:
            settings["trust"] = self.trust
        return settings

    def settings_to_restore(self, vf: VfState) -> dict[str, Any]:
        """set_vf arguments that put VF `vf` back to this snapshot: only the fields that differ,
        VLAN/QoS/protocol and the two rates together (the kernel sets them as one). Sending
        only what changed matters on real NICs: igb refuses any request carrying a link state
        (it has no ndo_set_vf_link_state), even "auto", so restoring every field would fail."""
        wrong = self.differences(vf)
        was = self.vf_settings()
        groups = (("vlan", "qos", "vlan_proto"), ("min_tx_rate", "max_tx_rate"))
        for group in groups:
            if any(key in wrong for key in group):
                wrong.update({key: (was[key], None) for key in group})
        return {key: was_value for key, (was_value, _) in wrong.items()}

    def differences(self, vf: VfState) -> dict[str, tuple[Any, Any]]:
        """Fields where the VF now differs from this snapshot: {field: (was, now)}."""
        now = {"mac": vf.mac, "vlan": vf.vlan, "qos": vf.qos, "vlan_proto": vf.vlan_proto,
               "link_state": vf.link_state, "min_tx_rate": vf.min_tx_rate, "max_tx_rate": vf.max_tx_rate,
               "spoofchk": vf.spoofchk, "trust": vf.trust}
        was = self.vf_settings()
        return {k: (was[k], now[k]) for k in was if was[k] != now[k]}
