"""Pools in sriov-network-device-plugin's config format, so users reuse their files.

`{"resourceList": [{"resourceName", "resourcePrefix", "deviceType": "netDevice",
"selectors": {...} | [{...}, ...]}]}`. Semantics follow the device plugin:
- a selector object matches when every selector it sets matches (vendors, devices, drivers,
  pciAddresses, pfNames, rootDevices, linkTypes); a list of objects matches when any does;
- `pfNames`/`rootDevices` entries are a PF name/BDF, optionally `#` VF-index ranges
  (`ens1f0#0-3,6`); like the plugin, the part before `#` is compared case-insensitively and
  also tried as a regular expression (unanchored);
- a VF joins the first pool that matches; pool names are `<resourcePrefix>/<resourceName>`
  (prefix default `intel.com`, as the plugin's `--resource-prefix`);
- keys are matched case-insensitively (the plugin is Go: `IsRdma`, `NeedVhostNet` work).
Only VFs are pooled: multus-dp hands out VFs. Selectors that need tools or data we do not
have (ddpProfiles, pKeys, vdpaType, acpiIndexes, isRdma) make their pool match nothing, with
a warning, rather than match too much. `accelerator`/`auxNetDevice` entries are ignored.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from multus_dp.base import defaults
from multus_dp.base.validation import describe
from multus_dp.cni.errors import CNIError, Code
from multus_dp.hardware.sysfs import VF, NodeModel

DEFAULT_RESOURCE_PREFIX = "intel.com"
DEFAULT_POOLS_FILE = defaults.SRIOV_POOLS_CONFIG
UNSUPPORTED_SELECTORS = ("ddpProfiles", "pKeys", "vdpaType", "acpiIndexes")
_RANGE_RE = re.compile(r"^\d+(-\d+)?$")


def _canonical_keys(data: Any, model: type[BaseModel]) -> Any:
    """Map keys to the model's spelling case-insensitively, as Go's JSON decoder does."""
    if not isinstance(data, dict):
        return data
    names = {}
    for name, info in model.model_fields.items():
        names[(info.alias or name).lower()] = info.alias or name
    return {names.get(str(k).lower(), k): v for k, v in data.items()}


def parse_indexes(spec: str) -> set[int]:
    """`0-3,6` -> {0, 1, 2, 3, 6}; raises ValueError on anything else."""
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not _RANGE_RE.match(part):
            raise ValueError(f"bad VF index range {part!r} in {spec!r} (want e.g. 0-3,6)")
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise ValueError(f"bad VF index range {part!r}: end before start")
        out.update(range(first, last + 1))
    return out


class PfRef:
    """One `pfNames`/`rootDevices` entry: a name (or BDF) and optional VF index set."""

    def __init__(self, text: str) -> None:
        self.text = text
        name, sep, ranges = text.partition("#")
        self.name = name
        self.indexes = parse_indexes(ranges) if sep else None
        try:
            self.regex: re.Pattern[str] | None = re.compile(name)
        except re.error:
            self.regex = None

    def matches(self, value: str, index: int) -> bool:
        if not (value.lower() == self.name.lower() or (self.regex is not None and self.regex.search(value))):
            return False
        return self.indexes is None or index in self.indexes


class NetDeviceSelectors(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    vendors: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    drivers: list[str] = Field(default_factory=list)
    pciAddresses: list[str] = Field(default_factory=list)
    acpiIndexes: list[str] = Field(default_factory=list)
    pfNames: list[str] = Field(default_factory=list)
    rootDevices: list[str] = Field(default_factory=list)
    linkTypes: list[str] = Field(default_factory=list)
    ddpProfiles: list[str] = Field(default_factory=list)
    pKeys: list[str] = Field(default_factory=list)
    vdpaType: str = ""
    isRdma: bool = False
    needVhostNet: bool = False
    _pf_refs: list[PfRef] = PrivateAttr(default_factory=list)
    _root_refs: list[PfRef] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        self._pf_refs = [PfRef(p) for p in self.pfNames]
        self._root_refs = [PfRef(r) for r in self.rootDevices]

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return _canonical_keys(data, cls)

    @field_validator("pfNames", "rootDevices")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for entry in value:
            PfRef(entry)   # raises ValueError with the offending range
        return value

    def unsupported(self) -> list[str]:
        found = [k for k in UNSUPPORTED_SELECTORS if getattr(self, k)]
        return found + (["isRdma"] if self.isRdma else [])

    def matches(self, vf: VF, pf_name: str | None, *, driver: str | None) -> bool:
        if self.unsupported():
            return False
        if self.vendors and vf.vendor not in self.vendors:
            return False
        if self.devices and vf.device not in self.devices:
            return False
        if self.drivers and driver not in self.drivers:
            return False
        if self.pciAddresses and vf.bdf not in self.pciAddresses:
            return False
        if self.pfNames and not (pf_name and any(p.matches(pf_name, vf.index) for p in self._pf_refs)):
            return False
        if self.rootDevices and not any(r.matches(vf.pf_bdf, vf.index) for r in self._root_refs):
            return False
        return not self.linkTypes or vf.link_type in self.linkTypes


class ResourceConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    resourceName: str = Field(pattern=r"^[a-zA-Z0-9_-]+$")
    resourcePrefix: str | None = None
    deviceType: Literal["netDevice", "accelerator", "auxNetDevice"] = "netDevice"
    excludeTopology: bool = False
    selectors: list[NetDeviceSelectors] = Field(default_factory=lambda: [NetDeviceSelectors()])
    additionalInfo: dict[str, dict[str, str]] = Field(default_factory=dict)
    # multus-dp's device plugin: how GetPreferredAllocation orders a pool's VFs across PFs
    # ("" address order, "packed" fill one PF first, "spread" round-robin over PFs; kubelet/devices.py)
    allocatePolicy: Literal["", "packed", "spread"] = ""

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return _canonical_keys(data, cls)

    @field_validator("selectors", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # the plugin takes one selector object or (newer) a list of them
        return [value] if isinstance(value, dict) else ([{}] if value is None else value)

    def selector_list(self) -> list[NetDeviceSelectors]:
        return self.selectors

    def name(self, default_prefix: str = DEFAULT_RESOURCE_PREFIX) -> str:
        return f"{self.resourcePrefix or default_prefix}/{self.resourceName}"

    @property
    def need_vhost_net(self) -> bool:
        return any(s.needVhostNet for s in self.selector_list())


class PoolsConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    resourceList: list[ResourceConfig] = Field(default_factory=list)
    default_prefix: str = Field(default=DEFAULT_RESOURCE_PREFIX, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return _canonical_keys(data, cls)

    def net_pools(self) -> list[ResourceConfig]:
        return [r for r in self.resourceList if r.deviceType == "netDevice"]

    def names(self) -> list[str]:
        return [r.name(self.default_prefix) for r in self.net_pools()]

    def warnings(self) -> list[str]:
        out = []
        for r in self.net_pools():
            for s in r.selector_list():
                if s.unsupported():
                    out.append(f"pool {r.name(self.default_prefix)}: selectors {', '.join(s.unsupported())} are not "
                               "supported by multus-dp; that selector matches no VF")
        return out

    def pool_of(self, model: NodeModel, vf: VF, *, as_driver: str | None = None) -> str | None:
        """The first pool `vf` matches (with `as_driver`: as if it were bound to that driver)."""
        pf = model.pfs.get(vf.pf_bdf)
        pf_name = pf.netdev if pf else None
        driver = as_driver if as_driver is not None else vf.driver
        for r in self.net_pools():
            if any(s.matches(vf, pf_name, driver=driver) for s in r.selector_list()):
                return r.name(self.default_prefix)
        return None

    def assign(self, model: NodeModel) -> dict[str, list[str]]:
        """Pool name -> its VFs' BDFs (every pool listed, in config order; BDFs sorted)."""
        out: dict[str, list[str]] = {name: [] for name in self.names()}
        for vf in sorted(model.vfs.values(), key=lambda v: v.bdf):
            pool = self.pool_of(model, vf)
            if pool is not None:
                out[pool].append(vf.bdf)
        return out


def parse(data: Any, *, source: str = "pool config", default_prefix: str = DEFAULT_RESOURCE_PREFIX) -> PoolsConfig:
    try:
        config = PoolsConfig.model_validate(data)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"{source}: {describe(exc)}") from exc
    config.default_prefix = default_prefix
    return config


def load(path: str = DEFAULT_POOLS_FILE, *, default_prefix: str = DEFAULT_RESOURCE_PREFIX) -> PoolsConfig:
    """Read a device-plugin config file (JSON, or YAML)."""
    try:
        with open(os.fspath(path), "rb") as f:
            text = f.read()
    except OSError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"pool config {path} cannot be read: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CNIError(Code.INVALID_CONFIG, f"pool config {path} is neither JSON nor YAML: {exc}") from exc
    return parse(data, source=f"pool config {path}", default_prefix=default_prefix)


def assign(model: NodeModel, config: PoolsConfig) -> dict[str, list[str]]:
    return config.assign(model)
