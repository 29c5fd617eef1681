"""Selection: from a CNI request and the multus-dp config to the ordered attachment plan.

Order: the cluster network (master, on CNI_IFNAME), then either the remaining `delegates` or,
with `clusterNetwork`, the `defaultNetworks`, then the pod's `k8s.v1.cni.cncf.io/networks`
selections. An unnamed attachment is `net<its position>` as in Multus. The seed's
legacy flow (`networks` annotation + `Network` objects) replaces all of that: its first
entry is the master on CNI_IFNAME and the others are net0, net1, ...
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from multus_dp.cni.config import parse_network_config
from multus_dp.cni.errors import CNIError, Code
from multus_dp.cni.request import CNIRequest
from multus_dp.k8s.sources import NetworkSource, PodSource, SourceUnavailable

from . import annotations as ann
from .attachment import CAPABILITY_NOT_DECLARED, UNSUPPORTED_ANNOTATION_KEY, Attachment, Notice
from .conf import MultusConf
from .objects import (NetworkDefinition, conf_files, find_conf_by_name, legacy_network_definition,
                      load_conf_file, nad_definition)

POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"
OUR_CONF_PREFIX = "00-multus-dp"
# selection element field -> (annotation key, capability a plugin must declare = runtimeConfig key)
REQUEST_CAPABILITIES = {"ips": ("ips", "ips"), "mac": ("mac", "mac"),
                        "port_mappings": ("portMappings", "portMappings"),
                        "bandwidth": ("bandwidth", "bandwidth"),
                        "infiniband_guid": ("infiniband-guid", "infinibandGUID")}
# requests Multus also passes as CNI_ARGS, declared or not
LEGACY_ARGS = {"ips": "IP", "mac": "MAC"}

DeviceIdLookup = Callable[[str, str, str, str], list[str]]  # (pod uid, resource, namespace, name) -> device IDs


class Selector:
    def __init__(self, pod_source: PodSource | None = None, network_source: NetworkSource | None = None,
                 device_ids: DeviceIdLookup | None = None) -> None:
        self.pod_source = pod_source
        self.network_source = network_source
        self.device_ids = device_ids

    # ---- lookups ---------------------------------------------------------------------
    def _nad(self, namespace: str, name: str, conf: MultusConf, pod: str) -> NetworkDefinition:
        ref = f"{namespace}/{name}"
        obj = self._get(lambda src: src.get_nad(namespace, name), ref)
        if obj is None:
            raise CNIError(Code.NETWORK_NOT_FOUND, f"pod {pod}: NetworkAttachmentDefinition {ref} not found")
        try:
            return nad_definition(obj, ref, [conf.confDir])
        except CNIError as exc:
            raise exc.prefixed(f"pod {pod}") from exc

    def _legacy(self, namespace: str, name: str, pod: str) -> NetworkDefinition:
        for ns in dict.fromkeys((namespace, "default")):
            obj = self._get(lambda src: src.get_network(ns, name), f"{ns}/{name}")
            if obj is not None:
                try:
                    return legacy_network_definition(obj, f"{ns}/{name}")
                except CNIError as exc:
                    raise exc.prefixed(f"pod {pod}") from exc
        raise CNIError(Code.NETWORK_NOT_FOUND, f"pod {pod}: Network {name!r} not found in namespace "
                       f"{namespace!r} or 'default'")

    def _get(self, fetch: Callable[[NetworkSource], dict[str, Any] | None], ref: str) -> dict[str, Any] | None:
        if self.network_source is None:
            return None
        try:
            return fetch(self.network_source)
        except SourceUnavailable as exc:
            raise CNIError(Code.TRY_AGAIN_LATER, f"cannot look up network {ref}: {exc}") from exc

    def _annotations(self, req: CNIRequest, conf: MultusConf, pod: str) -> dict[str, str]:
        from_runtime = conf.runtimeConfig.get(POD_ANNOTATIONS_CAPABILITY)
        if isinstance(from_runtime, dict):
            return {str(k): str(v) for k, v in from_runtime.items()}
        if self.pod_source is None or not req.pod_name:
            return {}
        try:
            info = self.pod_source.get_pod(req.pod_namespace or "default", req.pod_name, req.pod_uid)
        except SourceUnavailable as exc:
            raise CNIError(Code.TRY_AGAIN_LATER, f"pod {pod}: cannot read the pod: {exc}") from exc
        if info is None:
            raise CNIError(Code.POD_NOT_FOUND, f"pod {pod} not found")
        if req.pod_uid and info.uid and info.uid != req.pod_uid:
            raise CNIError(Code.POD_NOT_FOUND, f"pod {pod}: expected UID {req.pod_uid} but the API has "
                           f"{info.uid} (the pod was re-created)")
        return dict(info.annotations)

    # ---- the plan --------------------------------------------------------------------
    def __call__(self, req: CNIRequest, conf: MultusConf) -> list[Attachment]:
        pod_ns = req.pod_namespace or "default"
        pod = req.pod_label()
        annotations = self._annotations(req, conf, pod)
        kubelet_args = {k: v for k, v in conf.runtimeConfig.items() if k != POD_ANNOTATIONS_CAPABILITY}
        if ann.LEGACY_NETWORKS_ANNOTATION in annotations:
            if ann.NETWORKS_ANNOTATION in annotations:
                raise CNIError(Code.BAD_ANNOTATION, f"pod {pod}: has both the legacy `networks` and the "
                               f"`{ann.NETWORKS_ANNOTATION}` annotation; use one")
            return self._legacy_plan(req, annotations[ann.LEGACY_NETWORKS_ANNOTATION], pod_ns, pod, kubelet_args)

        plan: list[Attachment] = []
        extras: list[NetworkDefinition] = []
        override = annotations.get(ann.DEFAULT_NETWORK_ANNOTATION)
        legacy_naming = False
        delegates = self._delegates(conf) if conf.delegates and not conf.clusterNetwork else None
        if override:
            # replaces the cluster network only (Multus k8sclient.TryLoadPodDelegates: Delegates[0])
            ns, name = ann.parse_default_network(override, conf.multusNamespace, pod)
            cluster = self._nad(ns, name, conf, pod)
        elif conf.clusterNetwork:
            cluster = self._cluster_network(conf, pod)
        elif delegates is not None:
            cluster = delegates[0]
        else:
            raise CNIError(Code.INVALID_CONFIG, "multus-dp configuration has no clusterNetwork and no delegates")
        plan.append(Attachment(network=cluster.ref, ifname=req.ifname, config=cluster.config, is_default=True,
                               capability_args=dict(kubelet_args)))
        if conf.clusterNetwork:
            # clusterNetwork overrides `delegates`; defaultNetworks apply only together with
            # clusterNetwork and not to systemNamespaces (Multus k8sclient.GetDefaultNetworks)
            if pod_ns not in conf.systemNamespaces:
                for ref in conf.defaultNetworks:
                    ns, _, name = ref.rpartition("/")
                    extras.append(self._nad(ns or conf.multusNamespace, name, conf, pod))
        elif delegates is not None:
            _, extras, legacy_naming = delegates
        selections = ann.parse_networks_annotation(annotations.get(ann.NETWORKS_ANNOTATION, ""), pod_ns, pod,
                                                   strict=conf.strictAnnotations)
        selected = [(sel, *self._selected(sel, conf, pod_ns, pod)) for sel in selections]

        taken = {req.ifname} | {sel.interface for sel in selections if sel.interface}
        first = 0 if legacy_naming else 1  # the seed's delegates form numbers from net0
        for definition in extras:
            plan.append(Attachment(network=definition.ref, ifname=_auto_name(len(plan) - 1 + first, taken),
                                   config=definition.config, extra=_resource_extra(definition)))
        device_index: dict[str, int] = {}
        for sel, definition, notices in selected:
            ifname = sel.interface or _auto_name(len(plan) - 1 + first, taken)
            att = self._selection_attachment(req, conf, sel, definition, ifname, device_index, pod)
            att.notices = notices
            plan.append(att)
        _number_resources(plan)
        _device_info_files(plan, conf, req)
        return plan

    def _legacy_plan(self, req: CNIRequest, value: str, pod_ns: str, pod: str,
                     kubelet_args: dict[str, Any]) -> list[Attachment]:
        names = ann.parse_legacy_networks(value, pod)
        plan = []
        for index, name in enumerate(names):
            definition = self._legacy(pod_ns, name, pod)
            ifname = req.ifname if index == 0 else f"net{index - 1}"
            plan.append(Attachment(network=definition.ref, ifname=ifname, config=definition.config,
                                   is_default=index == 0, capability_args=dict(kubelet_args) if index == 0 else {}))
        return plan

    def cluster_config(self, conf: MultusConf) -> dict[str, Any] | None:
        """The cluster network's config without a pod (for STATUS and GC)."""
        if conf.clusterNetwork:
            return self._cluster_network(conf, "(none)").config
        if conf.delegates:
            return self._delegates(conf)[0].config
        return None

    def _cluster_network(self, conf: MultusConf, pod: str) -> NetworkDefinition:
        """Multus' order: a file path, a directory (first conf by name), a NAD in multusNamespace,
        a CNI conf with that `name` in confDir / cniConfigDir."""
        target = conf.clusterNetwork or ""
        if os.path.isfile(target):
            config = load_conf_file(target)
            return NetworkDefinition(str(config.get("name", target)), config)
        if os.path.isdir(target):
            files = [f for f in conf_files(target) if not os.path.basename(f).startswith(OUR_CONF_PREFIX)]
            if not files:
                raise CNIError(Code.NETWORK_NOT_FOUND, f"clusterNetwork directory {target} has no CNI config")
            config = load_conf_file(files[0])
            return NetworkDefinition(str(config.get("name")), config)
        if "/" not in target and self.network_source is not None:
            obj = self._get(lambda src: src.get_nad(conf.multusNamespace, target), target)
            if obj is not None:
                return nad_definition(obj, f"{conf.multusNamespace}/{target}", [conf.confDir])
        named = find_conf_by_name(target, [conf.confDir, conf.cniConfigDir])
        if named is None:
            raise CNIError(Code.NETWORK_NOT_FOUND, f"pod {pod}: clusterNetwork {target!r} is neither a file, a "
                           f"directory, a NetworkAttachmentDefinition in {conf.multusNamespace} nor a CNI "
                           f"config name in {conf.confDir} or {conf.cniConfigDir}")
        return NetworkDefinition(target, named)

    @staticmethod
    def _delegates(conf: MultusConf) -> tuple[NetworkDefinition, list[NetworkDefinition], bool]:
        """`delegates[0]` is the master; in the seed's form a delegate marked `masterplugin: true` is,
        and the others are then named net0, net1, ..."""
        definitions = []
        for index, delegate in enumerate(conf.delegates):
            try:
                net = parse_network_config(delegate, default_name=f"{conf.name}-delegate-{index}")
            except CNIError as exc:
                raise exc.prefixed(f"delegates[{index}]") from exc
            definitions.append((bool(delegate.get("masterplugin")), NetworkDefinition(net.name, net.raw)))
        masters = [i for i, (flag, _) in enumerate(definitions) if flag]
        if len(masters) > 1:
            raise CNIError(Code.INVALID_CONFIG, "more than one delegate has \"masterplugin\": true")
        master = masters[0] if masters else 0
        rest = [d for i, (_, d) in enumerate(definitions) if i != master]
        return definitions[master][1], rest, bool(masters)

    def _selected(self, sel: ann.NetworkSelection, conf: MultusConf, pod_ns: str,
                  pod: str) -> tuple[NetworkDefinition, list[Notice]]:
        if conf.namespaceIsolation and sel.namespace != pod_ns and sel.namespace not in conf.global_namespaces():
            raise CNIError(Code.BAD_ANNOTATION, f"pod {pod}: network {sel.ref()} is in another namespace and "
                           f"namespaceIsolation allows only {pod_ns!r} and {conf.global_namespaces()}")
        definition = self._nad(sel.namespace, sel.name, conf, pod)
        where = f"network {sel.ref()} (element {sel.index + 1})"
        notices = [Notice(UNSUPPORTED_ANNOTATION_KEY,
                          f"{where}: key {key!r} of annotation {ann.NETWORKS_ANNOTATION} is not supported and was "
                          "ignored (as Multus does; strictAnnotations refuses it)")
                   for key in sel.ignored_keys]
        caps = definition.capabilities()
        for field_name, (key, capability) in REQUEST_CAPABILITIES.items():
            if not getattr(sel, field_name) or capability in caps:
                continue
            if conf.strictAnnotations:
                raise CNIError(Code.BAD_ANNOTATION,
                               f"pod {pod}: {where} requests {key!r} but no plugin of that network declares the "
                               f"{capability!r} capability (strictAnnotations is on)")
            also = f"; passed as CNI_ARGS {LEGACY_ARGS[key]}= only" if key in LEGACY_ARGS else "; dropped"
            notices.append(Notice(CAPABILITY_NOT_DECLARED,
                                  f"{where} requests {key!r} but no plugin of that network declares the "
                                  f"{capability!r} capability{also} (as Multus does; strictAnnotations refuses it)"))
        return definition, notices

    def _selection_attachment(self, req: CNIRequest, conf: MultusConf, sel: ann.NetworkSelection,
                              definition: NetworkDefinition, ifname: str, device_index: dict[str, int],
                              pod: str) -> Attachment:
        args: dict[str, Any] = {}
        if sel.ips:
            args["ips"] = list(sel.ips)
        if sel.mac:
            args["mac"] = sel.mac
        if sel.port_mappings:
            args["portMappings"] = [dict(p) for p in sel.port_mappings]
        if sel.bandwidth:
            args["bandwidth"] = dict(sel.bandwidth)
        if sel.infiniband_guid:
            args["infinibandGUID"] = sel.infiniband_guid
        # Multus also hands `mac`/`ips` to every plugin as CNI_ARGS (MAC first, IPs joined by
        # ","), declared or not: static IPAM and tuning read them there (pkg/multus delegateAdd)
        cni_args: list[tuple[str, str]] = []
        if sel.mac:
            cni_args.append(("MAC", sel.mac))
        if sel.ips:
            cni_args.append(("IP", ",".join(sel.ips)))
        device_id, from_resource = self._device_id(req, sel, definition, device_index, pod)
        config = definition.config
        if sel.cni_args or from_resource:
            # a device the kubelet assigned goes into the plugin config too (as Multus'
            # resourceName path does); an annotation deviceID only as runtimeConfig.deviceID
            config = _with_plugin_fields(config, sel.cni_args, device_id if from_resource else None)
        if device_id:
            args["deviceID"] = device_id
        if device_id or "CNIDeviceInfoFile" in definition.capabilities():
            # the device-info spec's per-attachment file; read back into network-status after ADD
            args["CNIDeviceInfoFile"] = os.path.join(
                conf.deviceInfoDir, "cni", f"{sel.namespace}-{sel.name}-{req.container_id}_{ifname}")
        return Attachment(network=definition.ref, ifname=ifname, config=config, capability_args=args,
                          device_id=device_id, default_route=list(sel.default_route),
                          extra=_resource_extra(definition), cni_args=cni_args)

    def _device_id(self, req: CNIRequest, sel: ann.NetworkSelection, definition: NetworkDefinition,
                   device_index: dict[str, int], pod: str) -> tuple[str | None, bool]:
        """The kubelet's assignment for the NAD's resourceName wins (as in Multus); else the
        element's own deviceID; else none (the SR-IOV delegate allocates from its pool).
        The flag says whether the ID came from the kubelet's assignment."""
        resource = definition.resource_name
        if resource and self.device_ids is not None and (req.pod_uid or req.pod_name):
            ids = sorted(self.device_ids(req.pod_uid, resource, req.pod_namespace, req.pod_name))
            if ids:
                index = device_index.get(resource, 0)
                if index >= len(ids):
                    raise CNIError(Code.DEVICE_UNAVAILABLE,
                                   f"pod {pod}: network {sel.ref()} needs a device of resource {resource!r} but "
                                   f"the kubelet assigned only {len(ids)} ({', '.join(ids)})")
                device_index[resource] = index + 1
                return ids[index], True
        return sel.device_id, False


def _number_resources(plan: list[Attachment]) -> None:
    """The n-th attachment of a resource takes the n-th device the kubelet assigned."""
    seen: dict[str, int] = {}
    for att in plan:
        resource = att.extra.get("resourceName")
        if resource:
            att.extra["resourceIndex"] = seen.get(resource, 0)
            seen[resource] = att.extra["resourceIndex"] + 1


def _device_info_files(plan: list[Attachment], conf: MultusConf, req: CNIRequest) -> None:
    """Built-in SR-IOV attachments always get a device-info file path (DPDK mode writes it)."""
    for att in plan:
        types = {p.get("type") for p in att.config.get("plugins") or []}
        if "sriov" in types and "CNIDeviceInfoFile" not in att.capability_args:
            safe = att.network.replace("/", "-")
            att.capability_args["CNIDeviceInfoFile"] = os.path.join(
                conf.deviceInfoDir, "cni", f"{safe}-{req.container_id}_{att.ifname}")


def _auto_name(position: int, taken: set[str]) -> str:
    """Multus names an unnamed attachment by its position in the whole list, the cluster
    network being 0 (`net<position>`, pkg/multus/multus.go getIfname). Where that name is
    already taken (an explicit request, e.g. `a,b@net1`, which Multus fails on), the next free one."""
    index = position
    while f"net{index}" in taken:
        index += 1
    name = f"net{index}"
    taken.add(name)
    return name


def _resource_extra(definition: NetworkDefinition) -> dict[str, Any]:
    return {"resourceName": definition.resource_name} if definition.resource_name else {}


def _with_plugin_fields(config: dict[str, Any], cni_args: dict[str, Any], device_id: str | None) -> dict[str, Any]:
    """`cni-args` merge into every plugin's `args.cni` (the pod's values win); a deviceID is set
    as top-level `deviceID` and `pciBusID` in every plugin, as Multus does."""
    plugins = []
    for plugin in config.get("plugins") or []:
        plugin = dict(plugin)
        if cni_args:
            args = dict(plugin.get("args") or {})
            args["cni"] = {**(args.get("cni") or {}), **cni_args}
            plugin["args"] = args
        if device_id:
            plugin["deviceID"] = device_id
            plugin["pciBusID"] = device_id
        plugins.append(plugin)
    return {**config, "plugins": plugins}
