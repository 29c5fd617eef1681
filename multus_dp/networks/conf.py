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
from multus_dp.sriov.settings import SriovKeys


class ProcessKeys(KubeApiKeys, SriovKeys):
    """Keys the process owns, declared once: the Kubernetes keys (k8s/settings.py; `kubeconfig`
    is declared by each config, its meaning differs) and the built-in SR-IOV delegate's node
    keys (sriov/settings.py). The daemon config inherits them and the daemon's values win over
    a request's (one daemon, one hardware inventory, one set of watch caches); in thin mode the
    request's config is the process's, so they come from it. PROCESS_KEYS below lists them."""

    # which devices the kubelet assigned to a pod: its PodResources API when this socket exists,
    # else the checkpoint file `kubeletCheckpoint` (kubelet/assignments.py)
    podResourcesSocket: str = Field(
        default=defaults.POD_RESOURCES_SOCKET,
        description="the kubelet's PodResources API: which VFs the kubelet gave the pod (checkpoint when absent)")
    podResourcesTimeout: float = Field(
        default=defaults.POD_RESOURCES_TIMEOUT, gt=0,
        description="seconds one PodResources call (or one device plugin registration) may take")


class MultusConf(ProcessKeys):  # the Kubernetes and SR-IOV node keys: ProcessKeys
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # Every key's `description` is its line in docs/configuration.md (scripts/gen-config-docs.py).
    cniVersion: str = Field(default=LATEST, description="version the runtime speaks; results and errors are in it")
    name: str = Field(default="multus-dp", description="this network's name, as in any CNI config")
    type: str = Field(default="multus-dp", description="the plugin the runtime execs: `multus-dp`")
    # Multus keys
    kubeconfig: str | None = Field(
        default=None,
        description="kubeconfig file; unset: in-cluster, else the standalone sources")
    clusterNetwork: str | None = Field(
        default=None,
        description="the cluster network (`eth0`): a file, a directory, a NAD name or a conf name")
    defaultNetworks: list[str] = Field(
        default_factory=list,
        description="NADs every pod gets (not pods in `systemNamespaces`)")
    delegates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Multus' delegates list: `[0]` is the master (or the one with `masterplugin: true`)")
    namespaceIsolation: bool = Field(
        default=False,
        description="pods may use only NADs of their own namespace and `globalNamespaces`")
    globalNamespaces: list[str] | str = Field(
        default_factory=lambda: ["default"],
        description="a list or a comma-separated string")
    systemNamespaces: list[str] = Field(
        default_factory=lambda: [defaults.MULTUS_NAMESPACE],
        description="pods here skip `defaultNetworks`")
    readinessindicatorfile: str | None = Field(
        default=None,
        description="ADD answers 11 and STATUS 50 until this file exists")
    confDir: str = Field(
        default=defaults.MULTUS_CONF_DIR,
        description="where NADs with an empty `spec.config` are found by name")
    cniConfigDir: str = Field(
        default=defaults.CNI_CONF_DIR,
        description="searched (after `confDir`) for a `clusterNetwork` given by name")
    cniDir: str = Field(
        default=defaults.MULTUS_CNI_DIR,
        description="Multus' cache dir: accepted for compatibility, not used (multus-dp keeps its state in `stateDir`)")
    binDir: str = Field(default=defaults.CNI_BIN_DIR, description="searched after `CNI_PATH` for delegate plugins")
    logLevel: str = Field(
        default=defaults.LOG_LEVEL,
        description="debug, verbose, info, warning, error or panic (thin mode; `$MULTUS_DP_LOG_LEVEL` wins)")
    logFile: str | None = Field(
        default=None,
        description="JSON log lines go to this file too (thin mode; `$MULTUS_DP_LOG_FILE` wins)")
    logToStderr: bool = Field(default=defaults.LOG_TO_STDERR, description="JSON log lines go to stderr (thin mode)")
    capabilities: dict[str, bool] = Field(
        default_factory=dict,
        description=("capabilities multus-dp asks the runtime for (e.g. `portMappings`, "
                     "`io.kubernetes.cri.pod-annotations`)"))
    runtimeConfig: dict[str, Any] = Field(
        default_factory=dict,
        description="set by the runtime: the capability arguments")
    args: dict[str, Any] | None = Field(default=None, description="set by the runtime: the config's CNI `args`")
    prevResult: dict[str, Any] | None = Field(default=None, description="set by the runtime for CHECK and DEL")
    # multus-dp keys
    stateDir: str = Field(
        default=defaults.STATE_DIR,
        description="journals (`attachments/`), locks, VF records, status files (multus-dp)")
    networksDir: str = Field(
        default=defaults.NETWORKS_DIR,
        description="standalone NADs and `Network` objects (multus-dp)")
    parallel: bool = Field(default=True, description="secondary attachments in parallel; `false` in order (multus-dp)")
    # a pod asking for 1000 networks must not cost 1000 threads
    maxParallelDelegates: int = Field(
        default=defaults.MAX_PARALLEL_DELEGATES, ge=1,
        description="secondaries of one pod ADDed at once (with `parallel`; multus-dp)")
    maxAttachments: int = Field(
        default=defaults.MAX_ATTACHMENTS, ge=1,
        description="attachments per pod, the cluster network included (multus-dp)")
    delegateTimeout: float = Field(
        default=defaults.DELEGATE_TIMEOUT, gt=0,
        description="seconds one delegate call may take (multus-dp)")
    fullResult: bool = Field(default=False, description="return all attachments in the result (multus-dp)")
    strictAnnotations: bool = Field(
        default=False,
        description=("refuse (code 107) what Multus ignores: unknown keys in the networks annotation, requests (ips, "
                     "mac, portMappings, bandwidth, infiniband-guid) no plugin of the network declares (multus-dp)"))
    socketPath: str = Field(
        default=defaults.SOCKET_PATH,
        description="the daemon's socket, for the shim (`$MULTUS_DP_SOCKET` wins)")
    daemonTimeout: float = Field(
        default=defaults.DAEMON_TIMEOUT, gt=0,
        description="seconds the shim waits for the daemon's reply (`$MULTUS_DP_TIMEOUT` wins)")
    daemonStartTimeout: float = Field(
        default=defaults.DAEMON_START_TIMEOUT, gt=0,
        description=("thin mode: seconds the shim waits for the on-demand daemon it starts (or another shim starts) "
                     "to listen (`$MULTUS_DP_START_TIMEOUT` wins)"))
    daemonIdleTimeout: float | None = Field(
        default=None, gt=0,
        description=("thin mode: seconds without a request after which the on-demand daemon exits (passed when "
                     "the shim starts it; unset: the `--idle-timeout` of `multus-dp install --on-demand`)"))
    deviceInfoDir: str = Field(default=defaults.DEVICE_INFO_DIR, description="device-info spec files (multus-dp)")

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


# Who owns which key when one daemon serves every request (written down once; a unit test
# checks that every MultusConf key is in exactly one of the two).
# Process-owned: ProcessKeys and `kubeconfig`. The daemon config sets them; a request's values
# are replaced by the daemon's (chain/context.py, ProcessContext.own_keys). `multusNamespace`
# is a Kubernetes key but selection reads it per request.
PROCESS_KEYS: tuple[str, ...] = (*(key for key in ProcessKeys.model_fields if key != "multusNamespace"),
                                 "kubeconfig")
# Request-owned: what a request's selection and run read. Each is cheap per request, or its
# long-lived part is cached per value (networksDir: its directory source when there is no
# Kubernetes; delegateTimeout: an invoker sharing the VERSION cache; stateDir: its journals,
# status files and VF allocator).
REQUEST_KEYS: tuple[str, ...] = (
    # the plugin's identity and the runtime's inputs
    "cniVersion", "name", "type", "capabilities", "runtimeConfig", "args", "prevResult",
    # selection: which networks, in which order, under which names, from where
    "clusterNetwork", "defaultNetworks", "delegates", "multusNamespace", "namespaceIsolation",
    "globalNamespaces", "systemNamespaces", "confDir", "cniConfigDir", "networksDir", "deviceInfoDir",
    "strictAnnotations",
    # running them
    "binDir", "parallel", "delegateTimeout", "fullResult", "readinessindicatorfile", "stateDir",
    "maxAttachments", "maxParallelDelegates",
    # read by the shim and thin mode only (the daemon logs by its own config); Multus' cniDir,
    # accepted and unused
    "socketPath", "daemonTimeout", "daemonStartTimeout", "daemonIdleTimeout", "logLevel", "logFile",
    "logToStderr", "cniDir",
)


def parse_multus_conf(stdin: bytes) -> MultusConf:
    raw = load_json(stdin)
    try:
        return MultusConf.model_validate(raw)
    except ValidationError as exc:
        raise CNIError(Code.INVALID_CONFIG, f"invalid multus-dp configuration: {describe(exc)}") from exc
