from __future__ import annotations

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.cni.request import parse_cni_args, parse_request

BASE = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc123", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni"}


@pytest.mark.parametrize("command,missing", [
    ("ADD", "CNI_CONTAINERID"), ("ADD", "CNI_NETNS"), ("ADD", "CNI_IFNAME"),
    ("CHECK", "CNI_NETNS"), ("DEL", "CNI_CONTAINERID"), ("DEL", "CNI_IFNAME"), ("GC", "CNI_PATH"),
])
def test_required_env_per_command(command: str, missing: str) -> None:
    env = {**BASE, "CNI_COMMAND": command}
    env.pop(missing)
    with pytest.raises(CNIError) as err:
        parse_request(env, b"{}")
    assert err.value.code == 4 and missing in err.value.msg


@pytest.mark.parametrize("command,env", [
    ("DEL", {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"}),  # netns optional
    ("VERSION", {"CNI_COMMAND": "VERSION"}),
    ("STATUS", {"CNI_COMMAND": "STATUS"}),
    ("GC", {"CNI_COMMAND": "GC", "CNI_PATH": "/x"}),
])
def test_optional_env(command: str, env: dict) -> None:
    assert parse_request(env, b"{}").command == command


@pytest.mark.parametrize("ifname,problem", [
    ("", "CNI_IFNAME"), ("a" * 16, "15 bytes"), (".", "'.'"), ("..", "'.'"), ("a/b", "'/'"), ("a:b", "':'"),
    ("a b", "' '"), ("a\tb", "'\\t'"), ("é" * 8, "15 bytes"),
])
def test_bad_ifname(ifname: str, problem: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_request({**BASE, "CNI_IFNAME": ifname}, b"{}")
    assert err.value.code == 4 and problem in err.value.msg


@pytest.mark.parametrize("cid", ["-abc", ".abc", "a b", "a/b", "ab$", "_x"])
def test_bad_container_id(cid: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_request({**BASE, "CNI_CONTAINERID": cid}, b"{}")
    assert err.value.code == 4 and "CNI_CONTAINERID" in err.value.msg


def test_good_request_fields() -> None:
    env = {**BASE, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p;K8S_POD_UID=u-1",
           "CNI_PATH": "/a:/b::"}
    req = parse_request(env, b"{}")
    assert req.path == ("/a", "/b") and req.pod_label() == "ns1/p" and req.pod_uid == "u-1"
    assert req.ifname == "eth0" and req.container_id == "abc123"


def test_cni_args_needs_key_value() -> None:
    assert parse_cni_args("A=1;B=;C=x=y") == {"A": "1", "B": "", "C": "x=y"}
    with pytest.raises(CNIError) as err:
        parse_cni_args("A=1;broken")
    assert err.value.code == 4 and "broken" in err.value.msg


def test_unknown_command() -> None:
    with pytest.raises(CNIError) as err:
        parse_request({"CNI_COMMAND": "FROB"}, b"")
    assert err.value.code == 4 and "FROB" in err.value.msg
