"""Fuzzed CNI requests through the real entry (what thin mode and the daemon run): raw stdin,
mutated multus-dp configs, CNI_ARGS, container IDs and interface names."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus_dp.chain.entry import handle
from tests.support.fakeplugin import FakePluginDir
from tests.fuzz.support import NASTY, NAMES, RAW_DOCUMENTS, check_reply, json_values, mutate, pod_files, scratch

COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"]
# keys naming files or directories: always inside the example's scratch dir, never fuzzed
PATH_KEYS = ("stateDir", "networksDir", "confDir", "cniConfigDir", "cniDir", "deviceInfoDir", "sysfsRoot",
             "kubeletCheckpoint", "sriovPoolsConfig", "udevDir", "logFile", "socketPath")


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fake = FakePluginDir(tmp_path_factory.mktemp("fuzz-plugins"))
    fake.make("pa")
    fake.make("pb")
    return fake.dir


def confine(conf: dict[str, Any], root: Path) -> dict[str, Any]:
    out = dict(conf)
    for key in PATH_KEYS:
        out[key] = str(root / key)
    out["binDir"] = ""
    out.pop("kubeconfig", None)
    out.pop("sriovSimulatedPf", None)
    return out


def env(command: str, plugins: Path, **over: str) -> dict[str, str]:
    base = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/fuzz", "CNI_IFNAME": "eth0",
            "CNI_PATH": str(plugins), "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1"}
    base.update(over)
    return base


def base_conf() -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "mdp", "type": "multus-dp", "parallel": True, "fullResult": False,
            "delegates": [{"cniVersion": "1.0.0", "name": "net-a", "type": "pa"},
                          {"cniVersion": "0.4.0", "name": "net-b", "type": "pb"}],
            "maxAttachments": 4, "defaultNetworks": [], "systemNamespaces": ["kube-system"],
            "runtimeConfig": {}, "capabilities": {}, "delegateTimeout": 10}


def add_then_del(plugins: Path, state: Path, conf: dict[str, Any], **over: str) -> None:
    """ADD; when it succeeds, DEL must too. Either way nothing of the pod is left."""
    body = json.dumps(conf).encode()
    added = handle(env("ADD", plugins, **over), body)
    check_reply(added, "ADD")
    if added.exit_code == 0:
        deleted = handle(env("DEL", plugins, **over), body)
        check_reply(deleted, "DEL")
        assert deleted.exit_code == 0, f"DEL after a successful ADD failed: {deleted.stdout}"
    assert pod_files(state) == [], "the pod left files behind"


@given(command=st.sampled_from(COMMANDS), document=RAW_DOCUMENTS)
def test_raw_stdin(plugins: Path, command: str, document: bytes) -> None:
    with scratch() as root:
        try:
            decoded = json.loads(document)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):   # a config that decodes must not write to the node's real paths
            document = json.dumps(confine(decoded, root)).encode()
        check_reply(handle(env(command, plugins), document), command)
        assert pod_files(root / "stateDir") == []


@given(conf=mutate(base_conf()))
def test_mutated_config(plugins: Path, conf: dict[str, Any]) -> None:
    with scratch() as root:
        add_then_del(plugins, root / "stateDir", confine(conf, root))


ARG_KEYS = st.sampled_from(["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID", "IgnoreUnknown", "IP", "MAC",
                            "K8S_POD_INFRA_CONTAINER_ID"])
CNI_ARGS = st.one_of(
    st.lists(st.tuples(st.one_of(ARG_KEYS, NASTY), NAMES), max_size=5).map(
        lambda kvs: ";".join(f"{k}={v}" for k, v in kvs)),
    st.text(max_size=40),
)
STATUS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?_[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.json$")


@given(args=CNI_ARGS)
def test_cni_args(plugins: Path, args: str) -> None:
    with scratch() as root:
        conf = confine(base_conf(), root)
        body = json.dumps(conf).encode()
        added = handle(env("ADD", plugins, CNI_ARGS=args), body)
        check_reply(added, "ADD")
        status_dir = root / "stateDir" / "status"
        names = [p.name for p in status_dir.iterdir()] if status_dir.exists() else []
        assert all(STATUS_NAME.match(n) for n in names), names
        outside = [p for p in root.iterdir() if p.name not in PATH_KEYS]
        assert outside == [], f"files outside the state dir: {outside}"
        if added.exit_code == 0:
            assert handle(env("DEL", plugins, CNI_ARGS=args), body).exit_code == 0
        # a DEL with any identity (the runtime's retry after a failed ADD) succeeds and cleans up
        check_reply(handle(env("DEL", plugins, CNI_ARGS=args), body), "DEL")
        assert pod_files(root / "stateDir") == []


@given(container=st.one_of(NAMES, st.text(min_size=150, max_size=300, alphabet="abc0-_.")),
       ifname=st.one_of(NAMES, st.text(max_size=20)), netns=st.one_of(NAMES, st.just("/run/netns/x")))
def test_container_id_ifname_netns(plugins: Path, container: str, ifname: str, netns: str) -> None:
    if "\x00" in container + ifname + netns:
        return  # an environment cannot hold NUL
    with scratch() as root:
        add_then_del(plugins, root / "stateDir", confine(base_conf(), root), CNI_CONTAINERID=container,
                     CNI_IFNAME=ifname, CNI_NETNS=netns)


@given(values=st.dictionaries(st.sampled_from(["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME",
                                               "CNI_PATH", "CNI_ARGS"]), NAMES, max_size=6))
def test_environment(plugins: Path, values: dict[str, str]) -> None:
    values = {k: v for k, v in values.items() if "\x00" not in v}
    with scratch() as root:
        body = json.dumps(confine(base_conf(), root)).encode()
        reply = handle(values, body)
        check_reply(reply, values.get("CNI_COMMAND") or "(no command)")
        if reply.exit_code == 0 and values.get("CNI_COMMAND") == "ADD":
            check_reply(handle({**values, "CNI_COMMAND": "DEL"}, body), "DEL")
        assert pod_files(root / "stateDir") == []


@given(runtime=st.dictionaries(st.sampled_from(["portMappings", "ips", "mac", "bandwidth", "infinibandGUID",
                                                "deviceID", "io.kubernetes.cri.pod-annotations"]),
                               json_values(8), max_size=3))
def test_runtime_config(plugins: Path, runtime: dict[str, Any]) -> None:
    with scratch() as root:
        add_then_del(plugins, root / "stateDir", confine({**base_conf(), "runtimeConfig": runtime}, root))


RESULT = st.one_of(
    mutate({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
            "ips": [{"address": "10.1.2.3/24", "interface": 0}], "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}
           ).map(json.dumps),
    mutate({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.2.3/24", "routes": [{"dst": "0.0.0.0/0"}]}}).map(json.dumps),
    json_values(8).map(json.dumps), NASTY, st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n))


@given(output=RESULT, version=st.sampled_from(["0.2.0", "0.4.0", "1.0.0"]))
def test_delegate_output(tmp_path_factory: pytest.TempPathFactory, output: str, version: str) -> None:
    """What a delegate prints on ADD is input too: a bad result is its fault (never 100), and
    the ADD rolls back."""
    with scratch() as root:
        fake = FakePluginDir(root)
        fake.make("out", raw_output=output)
        conf = {**base_conf(), "cniVersion": version, "fullResult": True,
                "delegates": [{"cniVersion": version, "name": "net-a", "type": "out"}]}
        add_then_del(fake.dir, root / "stateDir", confine(conf, root))
