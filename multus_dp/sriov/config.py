"""The SR-IOV network config, as sriov-cni reads it (plus `mtu`).

Keys: deviceID, vlan (0-4094), vlanQoS (0-7), vlanProto (802.1q/802.1ad), mac, spoofchk,
trust (on/off), link_state (auto/enable/disable), min_tx_rate, max_tx_rate (Mbps), ipam;
plus mtu and bindVfio (ours). `runtimeConfig` may carry mac, ips, deviceID and CNIDeviceInfoFile. Invalid values are
code-7 errors naming the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multus_dp.cni.errors import CNIError, Code
from multus_dp.networks.rules import cidr_problem, device_id_problem, mac_problem

VLAN_PROTOS = {"802.1q": 0x8100, "802.1ad": 0x88A8}
LINK_STATES = ("auto", "enable", "disable")
ON_OFF = {"on": True, "off": False}


@dataclass(frozen=True)
class SriovConfig:
    name: str
    device_id: str | None
    vlan: int | None = None
    vlan_qos: int | None = None
    vlan_proto: int | None = None
    mac: str | None = None
    spoofchk: bool | None = None
    trust: bool | None = None
    link_state: str | None = None
    min_tx_rate: int | None = None
    max_tx_rate: int | None = None
    mtu: int | None = None
    ipam: dict[str, Any] | None = None
    ips: list[str] = field(default_factory=list)
    device_info_file: str | None = None
    resource_name: str | None = None
    bind_vfio: bool = False       # bind to vfio-pci at ADD, give the VF back to its driver at DEL
    raw: dict[str, Any] = field(default_factory=dict)

    def vf_settings(self) -> dict[str, Any]:
        """What is set on the VF through the PF (None: not asked for)."""
        settings: dict[str, Any] = {}
        if self.mac is not None:
            settings["mac"] = self.mac
        if self.vlan is not None:
            settings["vlan"] = self.vlan
            settings["qos"] = self.vlan_qos or 0
            settings["vlan_proto"] = self.vlan_proto or VLAN_PROTOS["802.1q"]
        if self.spoofchk is not None:
            settings["spoofchk"] = self.spoofchk
        if self.trust is not None:
            settings["trust"] = self.trust
        if self.link_state is not None:
            settings["link_state"] = self.link_state
        if self.min_tx_rate is not None or self.max_tx_rate is not None:
            settings["min_tx_rate"] = self.min_tx_rate or 0
            settings["max_tx_rate"] = self.max_tx_rate or 0
        return settings


def _bad(network: str, key: str, problem: str) -> CNIError:
    return CNIError(Code.INVALID_CONFIG, f"sriov network {network}: \"{key}\" {problem}")


def _int(conf: dict[str, Any], key: str, network: str, low: int, high: int) -> int | None:
    if key not in conf or conf[key] is None:
        return None
    value = conf[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(network, key, f"must be an integer in {low}-{high}, got {value!r}")
    return value


def _on_off(conf: dict[str, Any], key: str, network: str) -> bool | None:
    if key not in conf or conf[key] is None:
        return None
    value = conf[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ON_OFF:
        return ON_OFF[value.lower()]
    raise _bad(network, key, f"must be \"on\" or \"off\", got {value!r}")


def parse_sriov_config(conf: dict[str, Any]) -> SriovConfig:
    network = str(conf.get("name") or "(unnamed)")
    runtime = conf.get("runtimeConfig") or {}
    if not isinstance(runtime, dict):
        raise _bad(network, "runtimeConfig", "must be an object")
    vlan = _int(conf, "vlan", network, 0, 4094)
    qos = _int(conf, "vlanQoS", network, 0, 7)
    proto_raw = conf.get("vlanProto")
    proto = None
    if proto_raw is not None:
        if not isinstance(proto_raw, str) or proto_raw.lower() not in VLAN_PROTOS:
            raise _bad(network, "vlanProto", f"must be 802.1q or 802.1ad, got {proto_raw!r}")
        proto = VLAN_PROTOS[proto_raw.lower()]
    if (qos or proto) and not vlan:
        key = "vlanQoS" if qos else "vlanProto"
        raise _bad(network, key, "needs a non-zero \"vlan\"")
    mac = runtime.get("mac", conf.get("mac"))
    if mac is not None:
        problem = mac_problem(mac)
        if problem:
            raise _bad(network, "mac", problem)
        mac = mac.lower()
    link_state = conf.get("link_state")
    if link_state is not None and link_state not in LINK_STATES:
        raise _bad(network, "link_state", f"must be one of auto, enable, disable, got {link_state!r}")
    min_rate = _int(conf, "min_tx_rate", network, 0, 1 << 31)
    max_rate = _int(conf, "max_tx_rate", network, 0, 1 << 31)
    if min_rate and max_rate and min_rate > max_rate:
        raise _bad(network, "min_tx_rate", f"({min_rate}) must not exceed max_tx_rate ({max_rate})")
    mtu = _int(conf, "mtu", network, 68, 65535)
    device_id = runtime.get("deviceID") or conf.get("deviceID") or conf.get("pciBusID")
    if device_id is not None:
        problem = device_id_problem(device_id)
        if problem:
            raise _bad(network, "deviceID", problem)
    ipam = conf.get("ipam")
    if ipam is not None and (not isinstance(ipam, dict) or (ipam and not isinstance(ipam.get("type"), str))):
        raise _bad(network, "ipam", "must be an object with a \"type\"")
    bind_vfio = conf.get("bindVfio", False)
    if not isinstance(bind_vfio, bool):
        raise _bad(network, "bindVfio", f"must be true or false, got {bind_vfio!r}")
    ips = runtime.get("ips") or []
    if not isinstance(ips, list):
        raise _bad(network, "runtimeConfig.ips", "must be a list")
    for ip in ips:
        problem = cidr_problem(ip)
        if problem:
            raise _bad(network, "runtimeConfig.ips", problem)
    return SriovConfig(
        name=network, device_id=device_id, vlan=vlan, vlan_qos=qos, vlan_proto=proto, mac=mac,
        spoofchk=_on_off(conf, "spoofchk", network), trust=_on_off(conf, "trust", network),
        link_state=link_state, min_tx_rate=min_rate, max_tx_rate=max_rate, mtu=mtu,
        ipam=ipam or None, ips=list(ips), device_info_file=runtime.get("CNIDeviceInfoFile") or None,
        resource_name=conf.get("resourceName") or None, bind_vfio=bind_vfio, raw=conf,
    )
