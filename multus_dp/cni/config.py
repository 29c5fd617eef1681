"""Network configuration: the conflist (and the single-plugin form older runtimes send).

pydantic validates at the boundary; the plugin configs themselves stay raw dicts so no
field a delegate needs is ever lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from multus_dp.base.jsonin import decode
from multus_dp.base.validation import describe

from .errors import CNIError, Code
from .versions import parse

RESERVED_KEYS = ("runtimeConfig", "args", "prevResult")


class PluginConfig(BaseModel):
    """One plugin configuration object (spec section 1)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(min_length=1)
    name: str | None = None
    cniVersion: str | None = None
    capabilities: dict[str, bool] | None = None
    runtimeConfig: dict[str, Any] | None = None
    args: dict[str, Any] | None = None
    prevResult: dict[str, Any] | None = None


class NetworkConfigList(BaseModel):
    """A network configuration list; `plugins` are validated but kept raw by the caller."""

    model_config = ConfigDict(extra="allow")

    cniVersion: str = "0.1.0"
    cniVersions: list[str] | None = None
    name: str = Field(min_length=1)
    disableCheck: bool = False
    disableGC: bool = False
    plugins: list[PluginConfig] = Field(min_length=1)

    @field_validator("cniVersion")
    @classmethod
    def _version(cls, v: str) -> str:
        parse(v)
        return v


@dataclass
class NetworkConfig:
    """A parsed conflist: header fields plus raw plugin dicts in order."""

    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    cni_versions: list[str] = field(default_factory=list)
    disable_check: bool = False
    disable_gc: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    # False: the config has no cniVersion (cni_version is then the 0.1.0 default); its plugins
    # are called at the highest version both sides speak instead of the config's own
    version_declared: bool = True

    def to_conflist(self) -> dict[str, Any]:
        return dict(self.raw)


def load_json(data: bytes | str, what: str = "network configuration") -> dict[str, Any]:
    """The one decoder of request input (thin mode and the daemon): bounded in size and depth."""
    try:
        obj = decode(data)
    except ValueError as exc:
        raise CNIError(Code.DECODE_FAILURE, f"cannot decode {what}: {exc}") from exc
    if not isinstance(obj, dict):
        raise CNIError(Code.DECODE_FAILURE, f"{what} must be a JSON object")
    return obj


def parse_network_config(data: bytes | str | dict[str, Any], *, default_name: str | None = None) -> NetworkConfig:
    """A conflist, or a single plugin config (wrapped into a one-plugin list as libcni does).

    `default_name` is injected when the config has no `name` (NADs may omit it).
    """
    raw = load_json(data) if not isinstance(data, dict) else dict(data)
    if "plugins" not in raw:
        if "type" not in raw:
            raise CNIError(Code.INVALID_CONFIG, "network configuration has neither 'plugins' nor 'type'")
        single = dict(raw)
        header: dict[str, Any] = {k: single[k] for k in ("cniVersion", "name") if k in single}
        raw = {**header, "plugins": [single]}
    if "name" not in raw and default_name:
        raw["name"] = default_name
    try:
        model = NetworkConfigList.model_validate(raw)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"invalid network configuration: {describe(exc)}") from exc
    except CNIError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"invalid network configuration: {exc.msg}") from exc
    plugins = [dict(p) for p in raw["plugins"]]
    return NetworkConfig(
        name=model.name,
        cni_version=model.cniVersion,
        plugins=plugins,
        cni_versions=list(model.cniVersions or []),
        disable_check=model.disableCheck,
        disable_gc=model.disableGC,
        raw=raw,
        version_declared="cniVersion" in raw,
    )
