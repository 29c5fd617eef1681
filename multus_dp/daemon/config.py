"""The daemon's configuration file (JSON or YAML) as a pydantic model.

Keys are camelCase like the plugin configuration; every path and timeout is here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from multus_dp.base import defaults
from multus_dp.base.jsonin import decode
from multus_dp.base.validation import describe
from multus_dp.k8s.settings import KubeApiKeys

DEFAULT_SOCKET = defaults.SOCKET_PATH
DEFAULT_METRICS_ADDRESS = defaults.METRICS_ADDRESS


class ConfigError(Exception):
    """The daemon configuration cannot be used; the message says which key and why."""


class DaemonConfig(KubeApiKeys):
    # the kube* API keys are declared in multus_dp.k8s.settings.KubeApiKeys; other extra keys are
    # allowed only if they are Kubernetes settings (multusNamespace): a typo in any other key is
    # an error, not a silent default
    model_config = ConfigDict(extra="allow")

    socketPath: str = DEFAULT_SOCKET
    stateDir: str = defaults.STATE_DIR
    # CNI operations running at once, and how many more may wait for a slot
    maxConcurrency: int = Field(default=16, ge=1)
    maxQueue: int = Field(default=256, ge=0)
    # seconds a request may wait for its container, a slot or a running GC before code 11
    queueTimeout: float = Field(default=120.0, gt=0)
    delegateTimeout: float = Field(default=defaults.DELEGATE_TIMEOUT, gt=0)
    # Multus thick's key: delegates run with this directory as their root (the host's / mounted
    # into the daemon's container, e.g. /hostroot), so any primary plugin finds its binaries,
    # configs and state where the host has them; unset: delegates run in the daemon's own root
    chrootDir: str | None = None
    # seconds a client may take to send its request (headers + config)
    readTimeout: float = Field(default=30.0, gt=0)
    # SIGTERM: seconds in-flight work may take to finish before the daemon exits anyway
    shutdownTimeout: float = Field(default=90.0, gt=0)
    # "host:port" for Prometheus metrics; "" turns the listener off (/metrics on the socket stays)
    metricsAddress: str = DEFAULT_METRICS_ADDRESS
    logLevel: str = defaults.LOG_LEVEL
    logFile: str | None = None
    # not ready (ADD answered with 11) until this file exists
    readinessindicatorfile: str | None = None
    # the hardware model: PFs/VFs under sysfsRoot, kept current by udev events and a periodic
    # rescan; VF pools (device-plugin format) for the pool metrics, when the file exists
    sysfsRoot: str = defaults.SYSFS_ROOT
    sriovPoolsConfig: str = defaults.SRIOV_POOLS_CONFIG
    udev: bool = True
    hardwareRescanInterval: float = Field(default=300.0, gt=0)
    # Kubernetes sources (pods, NADs, status): this kubeconfig, else the in-cluster config when
    # the daemon runs in a pod, else the standalone sources of each request's config
    kubeconfig: str | None = None
    nodeName: str | None = None

    @model_validator(mode="after")
    def _only_known_extras(self) -> DaemonConfig:
        from multus_dp.k8s.settings import KubeSettings

        unknown = sorted(k for k in (self.model_extra or {}) if k not in KubeSettings.model_fields)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}")
        return self

    @field_validator("chrootDir")
    @classmethod
    def _chroot(cls, v: str | None) -> str | None:
        # whether it exists is checked when the daemon starts (the file is also read elsewhere)
        if v is not None and not v.startswith("/"):
            raise ValueError(f"{v!r} is not an absolute path (e.g. the host's / mounted at /hostroot)")
        return None if v in (None, "/") else v

    @field_validator("metricsAddress")
    @classmethod
    def _address(cls, v: str) -> str:
        if v:
            parse_address(v)
        return v

    @field_validator("logLevel")
    @classmethod
    def _level(cls, v: str) -> str:
        from multus_dp.logs import LEVELS

        if v.lower() not in LEVELS:
            raise ValueError(f"unknown log level {v!r}; one of {', '.join(LEVELS)}")
        return v.lower()


def parse_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_config(path: str | None, overrides: dict[str, Any] | None = None) -> DaemonConfig:
    """The file's keys (JSON or YAML), then `overrides` (command-line flags) on top."""
    data: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read daemon config {path}: {exc.strerror}") from exc
        try:
            loaded = decode(text) if path.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError, RecursionError) as exc:  # PyYAML nests recursively
            raise ConfigError(f"daemon config {path} is not valid JSON/YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"daemon config {path} must be an object of keys")
        data = dict(loaded or {})
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return DaemonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid daemon config{' ' + path if path else ''}: {describe(exc)}") from exc
