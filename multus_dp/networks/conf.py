"""The multus-dp plugin configuration (what the runtime hands us on stdin).

Multus' keys keep their names and meaning; keys of our own are marked below. Unknown
keys are kept (extra="allow") so a Multus config drops in unchanged.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from multus_dp.base import defaults
from multus_dp.base.validation import describe
from multus_dp.cni.config import load_json
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.versions import LATEST, parse
from multus_dp.k8s.settings import KubeApiKeys


class MultusConf(KubeApiKeys):  # Kubernetes API keys: k8s/settings.py
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    cniVersion: str = LATEST
    name: str = "multus-dp"
    type: str = "multus-dp"
    # Multus keys
    kubeconfig: str | None = None
    clusterNetwork: str | None = None
    defaultNetworks: list[str] = Field(default_factory=list)
    delegates: list[dict[str, Any]] = Field(default_factory=list)
    multusNamespace: str = "kube-system"
    namespaceIsolation: bool = False
    globalNamespaces: list[str] | str = Field(default_factory=lambda: ["default"])
    systemNamespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    readinessindicatorfile: str | None = None
    confDir: str = defaults.MULTUS_CONF_DIR
    cniConfigDir: str = defaults.CNI_CONF_DIR
    cniDir: str = defaults.MULTUS_CNI_DIR
    binDir: str = defaults.CNI_BIN_DIR
    logLevel: str = defaults.LOG_LEVEL
    logFile: str | None = None
    logToStderr: bool = defaults.LOG_TO_STDERR
    capabilities: dict[str, bool] = Field(default_factory=dict)
    runtimeConfig: dict[str, Any] = Field(default_factory=dict)
    args: dict[str, Any] | None = None
    prevResult: dict[str, Any] | None = None
    # multus-dp keys
    stateDir: str = defaults.STATE_DIR
    networksDir: str = defaults.NETWORKS_DIR
    parallel: bool = True
    # secondaries of one pod ADDed at once (with parallel), and attachments per pod (cluster
    # network included): a pod asking for 1000 networks must not cost 1000 threads
    maxParallelDelegates: int = Field(default=defaults.MAX_PARALLEL_DELEGATES, ge=1)
    maxAttachments: int = Field(default=defaults.MAX_ATTACHMENTS, ge=1)
    delegateTimeout: float = Field(default=defaults.DELEGATE_TIMEOUT, gt=0)
    fullResult: bool = False
    # refuse (code 107) what Multus ignores: unknown keys in the networks annotation, requests
    # (ips, mac, portMappings, bandwidth, infiniband-guid) no plugin of the network declares
    strictAnnotations: bool = False
    socketPath: str = defaults.SOCKET_PATH
    # read by the shim (native/shim.c), not here: seconds it waits for the daemon's reply
    daemonTimeout: float = Field(default=defaults.DAEMON_TIMEOUT, gt=0)
    nodeName: str | None = None
    deviceInfoDir: str = defaults.DEVICE_INFO_DIR
    # the built-in SR-IOV delegate
    sriovExternal: bool = False
    sysfsRoot: str = defaults.SYSFS_ROOT
    kubeletCheckpoint: str = defaults.KUBELET_CHECKPOINT
    sriovPoolsConfig: str = defaults.SRIOV_POOLS_CONFIG
    macReadbackTries: int = Field(default=defaults.MAC_READBACK_TRIES, ge=1)
    macReadbackInterval: float = Field(default=defaults.MAC_READBACK_INTERVAL, ge=0)
    # waits on real hardware: udev done with a VF netdev given back by vfio-pci; the kernel
    # handing a dead pod's VF netdev back to the host (seconds)
    udevSettleTimeout: float = Field(default=defaults.UDEV_SETTLE_TIMEOUT, ge=0)
    udevDir: str = defaults.UDEV_DIR
    vfNetdevReturnTimeout: float = Field(default=defaults.VF_NETDEV_RETURN_TIMEOUT, ge=0)
    sriovSimulatedPf: str | None = None   # a simulated PF's state file (demo/benchmarks), see sriov/simulated.py

    @field_validator("cniVersion")
    @classmethod
    def _version(cls, v: str) -> str:
        parse(v)
        return v

    @field_validator("globalNamespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, v: Any) -> Any:
        # Multus writes globalNamespaces as a comma-separated string
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    def global_namespaces(self) -> list[str]:
        return list(self.globalNamespaces) if isinstance(self.globalNamespaces, list) else []


def parse_multus_conf(stdin: bytes) -> MultusConf:
    raw = load_json(stdin)
    try:
        return MultusConf.model_validate(raw)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"invalid multus-dp configuration: {describe(exc)}") from exc
