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
from multus_dp.networks.conf import ProcessKeys

DEFAULT_SOCKET = defaults.SOCKET_PATH
DEFAULT_METRICS_ADDRESS = defaults.METRICS_ADDRESS


class ConfigError(Exception):
    """The daemon configuration cannot be used; the message says which key and why."""


class DaemonConfig(ProcessKeys):
    # the keys the process owns (the Kubernetes keys, the SR-IOV node keys such as sysfsRoot,
    # sriovPoolsConfig, kubeletCheckpoint) are declared once in multus_dp.networks.conf.ProcessKeys
    # and shared with the plugin config; other extra keys are allowed only if they are Kubernetes
    # settings: a typo in any other key is an error, not a silent default. Every key's
    # `description` is its line in docs/configuration.md.
    model_config = ConfigDict(extra="allow")

    socketPath: str = Field(default=DEFAULT_SOCKET, description="the unix socket (`--socket`)")
    stateDir: str = Field(
        default=defaults.STATE_DIR,
        description="whose journals `status` lists (requests use their config's `stateDir`; `--state-dir`)")
    maxConcurrency: int = Field(default=16, ge=1, description="CNI operations running at once (`--max-concurrency`)")
    maxQueue: int = Field(
        default=256, ge=0,
        description="more operations that may wait for a slot; beyond: code 11 at once")
    queueTimeout: float = Field(
        default=120.0, gt=0,
        description="seconds an operation may wait (its container, a slot, a running GC) before code 11")
    delegateTimeout: float = Field(
        default=defaults.DELEGATE_TIMEOUT, gt=0,
        description="default per delegate call (a request's own `delegateTimeout` wins)")
    # Multus thick's key: delegates run with this directory as their root (the host's / mounted
    # into the daemon's container, e.g. /hostroot), so any primary plugin finds its binaries,
    # configs and state where the host has them
    chrootDir: str | None = Field(
        default=None,
        description=("delegates run with this directory as their root (Multus thick's key; e.g. `/hostroot`, the "
                     "host's `/` mounted into the daemon's container); unset: the daemon's own root"))
    readTimeout: float = Field(default=30.0, gt=0, description="seconds a client may take to send its request")
    shutdownTimeout: float = Field(
        default=90.0, gt=0,
        description="SIGTERM: seconds in-flight work may take before the daemon exits anyway")
    idleTimeout: float | None = Field(
        default=None, gt=0,
        description=("exit after this many seconds without a request, serving what is queued first (the on-demand "
                     "daemon of thin mode; `--idle-timeout`); unset: never"))
    metricsAddress: str = Field(
        default=DEFAULT_METRICS_ADDRESS,
        description='`host:port` of the Prometheus listener; `""` turns it off (`/metrics` on the socket stays)')
    logLevel: str = Field(default=defaults.LOG_LEVEL, description="debug, verbose, info, warning, error or panic")
    logFile: str | None = Field(default=None, description="JSON log lines go to this file; unset: to stderr")
    readinessindicatorfile: str | None = Field(
        default=None,
        description="not ready (ADD answered with 11, `/readyz` 503) until the file exists")
    # the hardware model: PFs/VFs under sysfsRoot, kept current by udev events and a periodic
    # rescan; it serves the SR-IOV delegate's pool lookups and the pool metrics (re-declared
    # from SriovKeys for the daemon's own description)
    sysfsRoot: str = Field(
        default=defaults.SYSFS_ROOT,
        description=("where PFs and VFs are read from: hardware discovery at start (a failure keeps `/readyz` "
                     "false with the reason)"))
    sriovPoolsConfig: str = Field(
        default=defaults.SRIOV_POOLS_CONFIG,
        description=("device-plugin VF pools: the SR-IOV delegate's own allocator, the pool metrics and status "
                     "(when the file exists)"))
    udev: bool = Field(default=True, description="keep the hardware model current with udev events")
    hardwareRescanInterval: float = Field(default=300.0, gt=0, description="seconds between full hardware rescans")
    devicePlugin: bool = Field(
        default=True,
        description=("be the kubelet device plugin of the sriovPoolsConfig pools (false: the SR-IOV network device "
                     "plugin advertises them; nothing registers twice)"))
    kubeletDevicePluginsDir: str = Field(
        default=defaults.KUBELET_DEVICE_PLUGINS_DIR,
        description="the kubelet's device-plugins dir: our sockets (one per pool) and its kubelet.sock")
    devicePluginResyncInterval: float = Field(
        default=defaults.DEVICE_PLUGIN_RESYNC_INTERVAL, gt=0,
        description="seconds between device plugin passes (VF health, kubelet.sock, the pools file)")
    nodePrepPollInterval: float = Field(
        default=2.0, gt=0, description="seconds between looks at `<stateDir>/node-prep.json`: SR-IOV pools are not "
        "ready while node-prep runs or after it failed; a finished run triggers a hardware rescan")
    # Kubernetes sources (pods, NADs, status): this kubeconfig, else the in-cluster config when
    # the daemon runs in a pod, else the standalone sources of each request's config
    kubeconfig: str | None = Field(
        default=None,
        description=("Kubernetes watch caches and the status publisher: this kubeconfig, else in-cluster, else each "
                     "request's standalone sources"))

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
