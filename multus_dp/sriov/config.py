"""The SR-IOV network config, as sriov-cni reads it (plus `mtu`).

Keys: deviceID, vlan (0-4094), vlanQoS (0-7), vlanProto (802.1q/802.1ad), mac, spoofchk,
trust (on/off), link_state (auto/enable/disable), min_tx_rate, max_tx_rate (Mbps), ipam;
plus mtu and bindVfio (ours). `runtimeConfig` may carry mac, ips, deviceID and
CNIDeviceInfoFile, and wins over the keys of the same name. Invalid values are code-7 errors
naming the network and the key.

`SriovNetConf` is the document (pydantic, validated at the boundary); `SriovConfig` is what
the delegate works with (a frozen dataclass, the runtimeConfig already applied).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from multus_dp.base.formats import cidr_problem, device_id_problem, mac_problem
from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code
from multus_dp.netops.vftables import DEFAULT_VLAN_PROTO, LINK_STATES, VLAN_PROTOS

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
            settings["vlan_proto"] = self.vlan_proto or DEFAULT_VLAN_PROTO
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


# ---- value rules (each problem is the rest of a sentence that starts with the key) ----------

def _int_in(low: int, high: int) -> BeforeValidator:
    def check(value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise ValueError(f"must be an integer in {low}-{high}, got {value!r}")
        return value
    return BeforeValidator(check)


def _on_off(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ON_OFF:
        return ON_OFF[value.lower()]
    raise ValueError(f"must be \"on\" or \"off\", got {value!r}")


def _vlan_proto(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in VLAN_PROTOS:
        raise ValueError(f"must be 802.1q or 802.1ad, got {value!r}")
    return VLAN_PROTOS[value.lower()]


def _link_state(value: object) -> object:
    if value is not None and value not in LINK_STATES:
        raise ValueError(f"must be one of {', '.join(LINK_STATES)}, got {value!r}")
    return value


def _mac(value: object) -> object:
    if value is None:
        return None
    problem = mac_problem(value)
    if problem:
        raise ValueError(problem)
    return str(value).lower()


def _device_id(value: object) -> object:
    problem = None if value is None else device_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _strict_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Mac = Annotated[str | None, BeforeValidator(_mac)]
DeviceId = Annotated[str | None, BeforeValidator(_device_id)]
OnOff = Annotated[bool | None, BeforeValidator(_on_off)]
Rate = Annotated[int | None, _int_in(0, 1 << 31)]


class RuntimeConfig(BaseModel):
    """The capability args the runtime passes (`runtimeConfig`)."""

    model_config = ConfigDict(extra="allow")

    mac: Mac = None
    ips: list[str] | None = None
    deviceID: DeviceId = None
    CNIDeviceInfoFile: str | None = None

    @field_validator("ips", mode="before")
    @classmethod
    def _ips(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("must be a list")
        for ip in value:
            problem = cidr_problem(ip)
            if problem:
                raise ValueError(problem)
        return value


class SriovNetConf(BaseModel):
    """One sriov network's plugin config (sriov-cni's keys, as sriov-cni spells them)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    deviceID: DeviceId = None
    pciBusID: DeviceId = None         # sriov-cni's older name of deviceID
    resourceName: str | None = None
    vlan: Annotated[int | None, _int_in(0, 4094)] = None
    vlanQoS: Annotated[int | None, _int_in(0, 7)] = None
    vlanProto: Annotated[int | None, BeforeValidator(_vlan_proto)] = None
    mac: Mac = None
    spoofchk: OnOff = None
    trust: OnOff = None
    link_state: Annotated[str | None, BeforeValidator(_link_state)] = None
    max_tx_rate: Rate = None          # before min_tx_rate: min's check reads it
    min_tx_rate: Rate = None
    mtu: Annotated[int | None, _int_in(68, 65535)] = None
    ipam: dict[str, Any] | None = None
    bindVfio: Annotated[bool, BeforeValidator(_strict_bool)] = False
    runtimeConfig: RuntimeConfig | None = None

    @field_validator("vlanQoS", "vlanProto")
    @classmethod
    def _needs_vlan(cls, value: int | None, info: ValidationInfo) -> int | None:
        # a bad "vlan" is reported on its own; only a valid zero/absent one makes this wrong
        if value and "vlan" in info.data and not info.data["vlan"]:
            raise ValueError("needs a non-zero \"vlan\"")
        return value

    @field_validator("min_tx_rate")
    @classmethod
    def _min_not_above_max(cls, value: int | None, info: ValidationInfo) -> int | None:
        top = info.data.get("max_tx_rate")
        if value and top and value > top:
            raise ValueError(f"({value}) must not exceed max_tx_rate ({top})")
        return value

    @field_validator("ipam", mode="before")
    @classmethod
    def _ipam(cls, value: object) -> object:
        if value is not None and (not isinstance(value, dict) or (value and not isinstance(value.get("type"), str))):
            raise ValueError("must be an object with a \"type\"")
        return value

    @field_validator("runtimeConfig", mode="before")
    @classmethod
    def _runtime(cls, value: object) -> object:
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be an object")
        return value or None


def parse_sriov_config(conf: dict[str, Any]) -> SriovConfig:
    network = str(conf.get("name") or "(unnamed)")
    try:
        doc = SriovNetConf.model_validate(conf)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"sriov network {network}: {describe(exc, quote_keys=True)}") from exc
    runtime = doc.runtimeConfig or RuntimeConfig()
    return SriovConfig(
        name=network, device_id=runtime.deviceID or doc.deviceID or doc.pciBusID, vlan=doc.vlan,
        vlan_qos=doc.vlanQoS, vlan_proto=doc.vlanProto, mac=runtime.mac or doc.mac, spoofchk=doc.spoofchk,
        trust=doc.trust, link_state=doc.link_state, min_tx_rate=doc.min_tx_rate, max_tx_rate=doc.max_tx_rate,
        mtu=doc.mtu, ipam=doc.ipam or None, ips=list(runtime.ips or []),
        device_info_file=runtime.CNIDeviceInfoFile or None, resource_name=doc.resourceName or None,
        bind_vfio=doc.bindVfio, raw=conf,
    )
