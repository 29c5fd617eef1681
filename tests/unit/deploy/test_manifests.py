"""Every manifest in deploy/ validated offline: built-in kinds against Kubernetes' OpenAPI
schemas (kubernetes-validate, strict: unknown fields are errors), custom resources against our
CRDs' schemas as the API server applies them, and every network object, annotation and config
accepted by multus-dp's own parsers."""
from __future__ import annotations

import json
import re
import shlex
import subprocess

import kubernetes_validate
import pytest
import yaml

from multus_dp.cli import build_parser
from multus_dp.daemon.config import load_config
from multus_dp.hardware import nodeprep, pools
from multus_dp.networks.annotations import (LEGACY_NETWORKS_ANNOTATION, NETWORKS_ANNOTATION, parse_legacy_networks,
                                            parse_networks_annotation)
from multus_dp.networks.conf import MultusConf
from multus_dp.networks.objects import legacy_network_definition, nad_definition
from multus_dp.sriov.config import parse_sriov_config

from .manifests import (DEPLOY, KUSTOMIZATION_FILES, NODE_PREP_CONFIGS, crds, docs_of, json_path, kube_docs, one, pruned_fields,
                        schema_errors, structural_problems, yaml_files)

# the oldest Kubernetes the manifests target (ValidatingAdmissionPolicy v1, node-name claims) and
# the newest whose schemas kubernetes-validate ships
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
CUSTOM = {("kubernetes.com/v1", "Network"), ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")}
DOCS = kube_docs()


def test_every_yaml_document_is_a_kubernetes_object_or_a_known_config() -> None:
    for path in yaml_files():
        rel = str(path.relative_to(DEPLOY))
        if rel in KUSTOMIZATION_FILES:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if rel in NODE_PREP_CONFIGS:
                assert "apiVersion" not in doc
            else:
                assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), rel
    assert len(DOCS) >= 20
    kinds = {d.kind for d in DOCS}
    assert {"CustomResourceDefinition", "Network", "NetworkAttachmentDefinition", "Pod", "DaemonSet", "ConfigMap",
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy"} <= kinds


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("doc", [d for d in DOCS if (d.obj["apiVersion"], d.kind) not in CUSTOM], ids=lambda d: d.label())
def test_builtin_kinds_against_kubernetes_openapi(doc, version) -> None:
    kubernetes_validate.validate(doc.obj, version, strict=True)


def test_the_validator_does_reject_a_broken_manifest() -> None:
    daemonset = json.loads(json.dumps(one("DaemonSet", "multus-dp")))
    daemon = next(c for c in daemonset["spec"]["template"]["spec"]["containers"] if c["name"] == "daemon")
    daemon["readinessProbe"]["exec"]["commnd"] = ["x"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, VERSIONS[0], strict=True)


def test_crds_are_structural_v1_with_printer_columns() -> None:
    docs = docs_of("CustomResourceDefinition")
    assert {d.path for d in docs} == {"crd/crdnetwork.yaml", "crd/network-attachment-definition.yaml"}
    for doc in docs:
        spec = doc.obj["spec"]
        assert doc.obj["apiVersion"] == "apiextensions.k8s.io/v1"
        assert doc.name == f"{spec['names']['plural']}.{spec['group']}"
        versions = spec["versions"]
        assert sum(v["storage"] for v in versions) == 1
        for version in versions:
            assert structural_problems(version["schema"]["openAPIV3Schema"]) == [], doc.label()
            columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
            assert columns["Age"] == ".metadata.creationTimestamp"
    network = one("CustomResourceDefinition", "networks.kubernetes.com")["spec"]
    assert (network["group"], network["names"]["kind"], network["scope"]) == ("kubernetes.com", "Network", "Namespaced")
    assert network["names"]["shortNames"] == ["net"]
    nad = one("CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io")["spec"]
    assert nad["names"]["kind"] == "NetworkAttachmentDefinition" and nad["names"]["shortNames"] == ["nad", "net-attach-def"]


@pytest.mark.parametrize("doc", [d for d in DOCS if (d.obj["apiVersion"], d.kind) in CUSTOM], ids=lambda d: d.label())
def test_custom_resources_against_our_crd_schemas(doc) -> None:
    schema = crds()[(doc.obj["apiVersion"], doc.kind)]
    assert schema_errors(doc.obj, schema) == []
    assert pruned_fields(doc.obj, schema) == [], "the API server would silently drop these"
    if doc.kind == "Network":
        assert json_path(doc.obj, ".plugin") and json_path(doc.obj, ".args")  # the Plugin/Args columns


def test_crd_schemas_reject_what_the_api_server_would() -> None:
    network = crds()[("kubernetes.com/v1", "Network")]
    assert schema_errors({"metadata": {"name": "x"}, "args": "[]"}, network) == ["(root): 'plugin' is a required property"]
    assert schema_errors({"plugin": "ptp", "args": [{"type": "x"}]}, network)  # args must be the seed's string
    # old objects' extra top-level fields survive; a NAD's misspelt spec key would be pruned
    assert pruned_fields({"plugin": "ptp", "args": "[]", "legacy": 1}, network) == []
    nad = crds()[("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")]
    assert pruned_fields({"spec": {"conifg": "{}"}}, nad) == [".spec.conifg"]
    assert schema_errors({"spec": {"config": {"type": "ptp"}}}, nad) == ["spec.config: {'type': 'ptp'} is not of type 'string'"]


# ---- multus-dp's own parsers -------------------------------------------------------------------
def test_every_network_object_is_accepted_by_multus_dp() -> None:
    networks = docs_of("Network")
    assert {d.name for d in networks} == {"flannel-conf", "ptp-conf"}
    for doc in networks:
        definition = legacy_network_definition(doc.obj, f"default/{doc.name}")
        assert definition.plugins()[0]["type"] == doc.obj["plugin"]
    ptp = legacy_network_definition(one("Network", "ptp-conf"), "default/ptp-conf")
    assert ptp.plugins()[0]["ipam"]["subnet"] == "10.168.1.0/24"
    flannel = legacy_network_definition(one("Network", "flannel-conf"), "default/flannel-conf")
    assert flannel.plugins()[0]["delegate"] == {"isDefaultGateway": True}


def test_every_nad_is_accepted_and_sriov_ones_by_the_sriov_delegate() -> None:
    nads = docs_of("NetworkAttachmentDefinition")
    assert {d.name for d in nads} == {"sriov-kernel", "vfw-outside", "vfw-inside"}
    expected = {"sriov-kernel": (200, True, False, "intel.com/intel_sriov_netdevice"),
                "vfw-outside": (100, False, True, "intel.com/intel_sriov_dpdk"),
                "vfw-inside": (101, False, True, "intel.com/intel_sriov_dpdk")}
    for doc in nads:
        definition = nad_definition(doc.obj, f"default/{doc.name}", conf_dirs=[])
        (plugin,) = definition.plugins()
        assert plugin["type"] == "sriov"
        sriov = parse_sriov_config({**plugin, "name": definition.config["name"]})
        assert (sriov.vlan, sriov.spoofchk, sriov.trust, definition.resource_name) == expected[doc.name]
    assert parse_sriov_config({**nad_definition(one("NetworkAttachmentDefinition", "sriov-kernel"), "d/k", []).plugins()[0],
                               "name": "k"}).ipam["type"] == "host-local"


def test_every_pod_annotation_is_accepted_and_names_existing_networks() -> None:
    known = {d.name for d in docs_of("NetworkAttachmentDefinition")}
    legacy = {d.name for d in docs_of("Network")}
    pods = {d.name: d.obj for d in docs_of("Pod")}
    assert set(pods) == {"multus-multi-net-poc", "sriov-kernel-pod", "vfw"}
    for name, pod in pods.items():
        annotations = pod["metadata"].get("annotations", {})
        if LEGACY_NETWORKS_ANNOTATION in annotations:
            names = parse_legacy_networks(annotations[LEGACY_NETWORKS_ANNOTATION], f"default/{name}")
            assert set(names) <= legacy
        else:
            selections = parse_networks_annotation(annotations[NETWORKS_ANNOTATION], "default", f"default/{name}")
            assert {s.name for s in selections} <= known
    seed = parse_legacy_networks(pods["multus-multi-net-poc"]["metadata"]["annotations"]["networks"], "p")
    assert seed == ["flannel-conf", "ptp-conf"]
    vfw = parse_networks_annotation(pods["vfw"]["metadata"]["annotations"][NETWORKS_ANNOTATION], "default", "p")
    assert [(s.name, s.interface) for s in vfw] == [("vfw-outside", "outside"), ("vfw-inside", "inside")]


def test_vfw_pod_shape() -> None:
    spec = one("Pod", "vfw")["spec"]
    (vfw,) = spec["containers"]
    limits = vfw["resources"]["limits"]
    assert limits["intel.com/intel_sriov_dpdk"] == "2" and limits["hugepages-1Gi"] == "2Gi"
    assert vfw["resources"]["requests"] == limits, "Guaranteed QoS"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["hugepages"]["emptyDir"]["medium"] == "HugePages-1Gi"
    assert volumes["podinfo"]["downwardAPI"]["items"] == [
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]
    # the init container runs the in-pod helper with flags it really has
    (init,) = spec["initContainers"]
    from dpdk.multus_dp_eal import build_parser as eal_parser
    args = eal_parser().parse_args(init["command"][1:])
    assert init["command"][0] == "multus-dp-eal" and args.annotations == "/etc/podinfo/annotations"
    assert args.network == ["vfw-outside", "vfw-inside"] and args.format == "env"
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert mounts["podinfo"] + "/annotations" == args.annotations and args.output.startswith(mounts["vfw-run"])
    assert "MULTUS_DP_EAL_ARGS" in vfw["args"][0] and ". " + args.output in vfw["args"][0]


# ---- configs inside the ConfigMaps -------------------------------------------------------------
def configmap(name: str) -> dict[str, str]:
    return one("ConfigMap", name)["data"]


def test_daemon_config_is_accepted_by_the_daemon(tmp_path) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text(configmap("multus-dp-daemon")["daemon.yaml"])
    config = load_config(str(path))
    assert config.socketPath == "/run/multus-dp/daemon.sock" and config.stateDir == "/var/lib/multus-dp"
    assert config.chrootDir == "/hostroot"
    assert config.devicePlugin and config.kubeletDevicePluginsDir == "/var/lib/kubelet/device-plugins"
    assert config.podResourcesSocket == "/var/lib/kubelet/pod-resources/kubelet.sock"
    daemonset = one("DaemonSet", "multus-dp")["spec"]["template"]["spec"]
    assert config.shutdownTimeout < daemonset["terminationGracePeriodSeconds"]


def test_pools_configmap_is_the_example_and_parses() -> None:
    text = configmap("multus-dp-pools")["config.json"]
    assert json.loads(text) == json.loads((DEPLOY / "examples/sriov-pools.json").read_text())
    config = pools.parse(json.loads(text))
    assert config.names() == ["intel.com/intel_sriov_netdevice", "intel.com/intel_sriov_dpdk"]
    resources = {d.obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
                 for d in docs_of("NetworkAttachmentDefinition")}
    assert resources == set(config.names())


def test_sriov_pods_request_one_device_per_attachment_of_the_pools_multus_dp_advertises() -> None:
    """The device plugin advertises the pools; a pod asks the scheduler for as many VFs of a
    resource as it has attachments whose NAD names that resource, so the kubelet assigns them."""
    advertised = set(pools.parse(json.loads(configmap("multus-dp-pools")["config.json"])).names())
    resource_of = {d.name: d.obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
                   for d in docs_of("NetworkAttachmentDefinition")}
    checked = 0
    for doc in docs_of("Pod"):
        annotations = doc.obj["metadata"].get("annotations", {})
        if NETWORKS_ANNOTATION not in annotations:
            continue
        wanted: dict[str, int] = {}
        for sel in parse_networks_annotation(annotations[NETWORKS_ANNOTATION], "default", doc.name):
            if sel.name in resource_of:
                wanted[resource_of[sel.name]] = wanted.get(resource_of[sel.name], 0) + 1
        limits: dict[str, int] = {}
        for container in doc.obj["spec"]["containers"]:
            for key, value in container.get("resources", {}).get("limits", {}).items():
                if "/" in key:
                    limits[key] = limits.get(key, 0) + int(value)
        assert limits == wanted, doc.name
        assert set(wanted) <= advertised, doc.name
        checked += bool(wanted)
    assert checked == 2   # the kernel-mode pod and the vFW


def test_node_prep_configs_are_the_examples_and_parse(tmp_path) -> None:
    cases = [(configmap("multus-dp-node-prep"), "examples/node-prep.yaml"),
             (configmap("multus-dp-uninstall"), "uninstall/node-prep-uninstall.yaml")]
    for data, example in cases:
        assert set(data) == {"default.yaml", "sriov-worker-1.yaml"}
        assert yaml.safe_load(data["sriov-worker-1.yaml"]) == yaml.safe_load((DEPLOY / example).read_text())
        assert yaml.safe_load(data["default.yaml"]) == {"pfs": []}
        for key, text in data.items():
            path = tmp_path / key
            path.write_text(text)
            nodeprep.load_config(str(path))
    install = nodeprep.load_config(str(DEPLOY / "examples/node-prep.yaml"))
    assert install.poolsFile == "/etc/pcidp/config.json" and install.pfs[0].dpdk.pools == ["intel.com/intel_sriov_dpdk"]
    uninstall = nodeprep.load_config(str(DEPLOY / "uninstall/node-prep-uninstall.yaml"))
    assert [(pf.name, pf.numVfs) for pf in uninstall.pfs] == [(pf.name, 0) for pf in install.pfs]


# ---- the DaemonSet: commands, mounts, probes ---------------------------------------------------
def pod_spec(name: str) -> dict:
    return one("DaemonSet", name)["spec"]["template"]["spec"]


def containers(spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


def test_daemonset_commands_parse_with_the_real_cli() -> None:
    for ds in ("multus-dp", "multus-dp-cleanup"):
        spec = pod_spec(ds)
        for name, container in containers(spec).items():
            command = container["command"] + container.get("args", [])
            if command[:2] == ["/bin/sh", "-c"]:
                script = command[2]
                assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0, name
                joined = script.replace("\\\n", " ")
                lines = [line for line in joined.splitlines() if re.match(r"\s*(exec )?multus-dp ", line)]
                assert lines or name == "kubeconfig", f"{ds}/{name} runs no multus-dp command"
                for line in lines:
                    words = shlex.split(line.replace("exec ", "", 1).replace('"${config}"', "/x.yaml"))
                    build_parser().parse_args(words[1:])
            elif command[0] == "multus-dp":
                build_parser().parse_args([w.replace("$(POD_IP)", "10.0.0.1") for w in command[1:]])
            else:
                assert command[0] == "sleep", name


def test_daemonset_mounts_every_path_multus_dp_uses() -> None:
    spec = pod_spec("multus-dp")
    volumes = {v["name"]: v for v in spec["volumes"]}
    by_container = containers(spec)
    for name, container in by_container.items():
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"{name}: volume {mount['name']} is not declared"
    daemon = by_container["daemon"]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in daemon["volumeMounts"]}

    def host_path(path: str) -> str:
        return mounts[path]["hostPath"]["path"]

    conf = MultusConf()
    config = load_config(None)
    needed = {
        "/run/multus-dp": config.socketPath.rsplit("/", 1)[0], "/var/lib/multus-dp": conf.stateDir,
        "/opt/cni/bin": conf.binDir, "/etc/cni/net.d": conf.cniConfigDir, "/var/lib/cni": "/var/lib/cni",
        "/run/netns": "/run/netns", "/sys": conf.sysfsRoot,
        "/var/lib/kubelet/device-plugins": conf.kubeletCheckpoint.rsplit("/", 1)[0],
        config.kubeletDevicePluginsDir: config.kubeletDevicePluginsDir,
        config.podResourcesSocket.rsplit("/", 1)[0]: conf.podResourcesSocket.rsplit("/", 1)[0],
        "/var/run/k8s.cni.cncf.io/devinfo": conf.deviceInfoDir, "/dev/vfio": "/dev/vfio",
    }
    for path, host in needed.items():
        assert path in mounts and host_path(path) == host, path
    assert next(m for m in daemon["volumeMounts"] if m["mountPath"] == "/run/netns")["mountPropagation"] == "HostToContainer"
    # the device plugin creates its sockets there
    assert not next(m for m in daemon["volumeMounts"] if m["mountPath"] == config.kubeletDevicePluginsDir).get("readOnly")
    assert mounts[conf.sriovPoolsConfig.rsplit("/", 1)[0]]["configMap"]["name"] == "multus-dp-pools"
    configmaps = {d.name for d in docs_of("ConfigMap", "multus-dp/")}
    assert {v["configMap"]["name"] for v in volumes.values() if "configMap" in v} == configmaps
    assert spec["serviceAccountName"] == one("ServiceAccount", "multus-dp")["metadata"]["name"]
    assert spec["hostNetwork"] and spec["hostPID"]
    # chrootDir: the host's whole root, where the daemon config says, seeing later mounts (netns)
    chroot = yaml.safe_load(configmap("multus-dp-daemon")["daemon.yaml"])["chrootDir"]
    assert host_path(chroot) == "/" and \
        next(m for m in daemon["volumeMounts"] if m["mountPath"] == chroot)["mountPropagation"] == "HostToContainer"


def test_probes_and_metrics_port() -> None:
    daemon = containers(pod_spec("multus-dp"))["daemon"]
    socket = load_config(None).socketPath
    for probe, endpoint in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        command = daemon[probe]["exec"]["command"]
        assert command[0] == "curl" and socket in command and command[-1].endswith(endpoint)
    assert daemon["command"][daemon["command"].index("--metrics-address") + 1] == "$(POD_IP):9192"
    assert daemon["ports"] == [{"name": "metrics", "containerPort": 9192, "protocol": "TCP"}]
    assert {e["name"] for e in daemon["env"]} >= {"NODE_NAME", "POD_IP"}


def test_rbac_is_least_privilege() -> None:
    rules = one("ClusterRole", "multus-dp")["rules"]
    granted = {(group, resource, verb) for r in rules for group in r["apiGroups"] for resource in r["resources"]
               for verb in r["verbs"]}
    assert granted == {
        ("", "pods", "get"), ("", "pods", "list"), ("", "pods", "watch"), ("", "pods/status", "patch"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "get"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "list"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "watch"),
        ("kubernetes.com", "networks", "get"), ("kubernetes.com", "networks", "list"),
        ("kubernetes.com", "networks", "watch"), ("", "events", "create")}
    binding = one("ClusterRoleBinding", "multus-dp")
    assert binding["roleRef"]["name"] == "multus-dp"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "multus-dp", "namespace": "kube-system"}]
    policy = one("ValidatingAdmissionPolicy", "multus-dp-node-scope")["spec"]
    assert "system:serviceaccount:kube-system:multus-dp" in policy["matchConditions"][0]["expression"]
    assert policy["matchConstraints"]["resourceRules"][0]["resources"] == ["pods/status"]
    assert one("ValidatingAdmissionPolicyBinding", "multus-dp-node-scope")["spec"]["policyName"] == "multus-dp-node-scope"


def test_one_image_everywhere_and_the_readme_builds_it() -> None:
    images = {c["image"] for d in docs_of("DaemonSet") for c in containers(d.obj["spec"]["template"]["spec"]).values()}
    images |= {c["image"] for c in one("Pod", "vfw")["spec"]["initContainers"]}
    assert images == {"localhost/multus-dp:0.1.0"}
    assert "-t localhost/multus-dp:0.1.0" in (DEPLOY / "Containerfile").read_text()
    assert "podman build -f deploy/Containerfile -t localhost/multus-dp:0.1.0 ." in (DEPLOY / "README.md").read_text()


@pytest.mark.parametrize("service_host, url", [("10.96.0.1", "https://10.96.0.1:443"),
                                               ("fd00:10:96::1", "https://[fd00:10:96::1]:443")])
def test_kubeconfig_init_step_writes_a_kubeconfig_the_client_loads(tmp_path, service_host, url) -> None:
    from kubernetes.client import Configuration
    from kubernetes.config import load_kube_config

    spec = pod_spec("multus-dp")
    script = containers(spec)["kubeconfig"]["args"][0]
    daemon_config = yaml.safe_load(configmap("multus-dp-daemon")["daemon.yaml"])
    kube_dir = tmp_path / "kube"
    kube_dir.mkdir()
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("token-1")
    (sa / "ca.crt").write_text("CA")
    # the script's paths moved into the test dir; the daemon reads the file the config names
    assert daemon_config["kubeconfig"] == "/etc/multus-dp/kube/kubeconfig"
    script = script.replace("/etc/multus-dp/kube", str(kube_dir)).replace(
        "/var/run/secrets/kubernetes.io/serviceaccount", str(sa))
    subprocess.run(["sh", "-ec", script], check=True,
                   env={"KUBERNETES_SERVICE_HOST": service_host, "KUBERNETES_SERVICE_PORT": "443", "PATH": "/usr/bin:/bin"})
    configuration = Configuration()
    load_kube_config(config_file=str(kube_dir / "kubeconfig"), client_configuration=configuration)
    assert configuration.host == url
    assert configuration.api_key["BearerToken"] == "Bearer token-1"
    assert configuration.ssl_ca_cert == str(sa / "ca.crt")
    daemon = containers(spec)["daemon"]
    assert {"name": "kubeconfig", "mountPath": "/etc/multus-dp/kube", "readOnly": True} in daemon["volumeMounts"]
