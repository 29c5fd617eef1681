"""Credentials: kubeconfig / in-cluster discovery and re-reading them when files change."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from multus_dp.cni.errors import CNIError
from multus_dp.k8s import build_sources
from multus_dp.k8s.credentials import Credentials, locate
from multus_dp.k8s.kinds import PODS
from multus_dp.k8s.settings import KubeSettings
from multus_dp.networks.conf import MultusConf, parse_multus_conf

from .emulator import pod, write_kubeconfig


def bearer(emu, mark: int) -> list[str]:
    return [r.headers.get("Authorization", "") for r in emu.since(mark)]


def test_kubeconfig_token_change_is_picked_up(emu, tmp_path, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    path = tmp_path / "kubeconfig"
    sources = make_sources(watch=False)
    mark = emu.mark()
    assert sources.pod_source.get_pod("ns1", "web") is not None
    write_kubeconfig(path, emu.url, token="token-2")  # e.g. the installer regenerated it
    assert sources.pod_source.get_pod("ns1", "web") is not None
    assert bearer(emu, mark) == ["Bearer token-1", "Bearer token-2"]
    assert sources.metrics.get("credential_reloads") == 1


def test_token_file_named_by_the_kubeconfig_is_reread(emu, tmp_path) -> None:
    emu.seed(PODS, pod("web"))
    token = tmp_path / "token"
    token.write_text("rotated-1")
    kubeconfig = write_kubeconfig(tmp_path / "kc", emu.url, token_file=str(token))
    sources = build_sources(MultusConf.model_validate({"kubeconfig": str(kubeconfig), "nodeName": "n"}),
                            watch=False, env={})
    mark = emu.mark()
    sources.pod_source.get_pod("ns1", "web")
    token.write_text("rotated-2-longer")  # kubelet rotates projected tokens in place
    sources.pod_source.get_pod("ns1", "web")
    assert bearer(emu, mark) == ["Bearer rotated-1", "Bearer rotated-2-longer"]


def test_a_token_file_ending_with_a_newline_works(emu, tmp_path) -> None:
    """`echo token > file`: the newline must not reach the Authorization header."""
    emu.seed(PODS, pod("web"))
    token = tmp_path / "token"
    token.write_text("handwritten\n")
    kubeconfig = write_kubeconfig(tmp_path / "kc", emu.url, token_file=str(token))
    sources = build_sources(MultusConf.model_validate({"kubeconfig": str(kubeconfig), "nodeName": "n"}),
                            watch=False, env={})
    mark = emu.mark()
    assert sources.pod_source.get_pod("ns1", "web") is not None
    assert bearer(emu, mark) == ["Bearer handwritten"]


def test_a_401_rereads_the_credentials_and_retries_once(emu, make_sources) -> None:
    emu.seed(PODS, pod("web"))
    sources = make_sources(watch=False)
    emu.react(lambda k: k["get", k.resource("", "v1", "pods")][:1] << 401)
    mark = emu.mark()
    assert sources.pod_source.get_pod("ns1", "web") is not None
    assert len(emu.since(mark)) == 2
    assert sources.metrics.get("credential_reloads") == 1


def test_in_cluster_token_rotation(tmp_path) -> None:
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token-1")
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    settings = KubeSettings(kubeTokenFile=str(token), kubeCAFile=str(ca))
    source = locate(settings, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"})
    assert source is not None and source.kind == "in-cluster" and source.host == "https://[fd00::1]:6443"
    creds = Credentials(source, settings)
    value = lambda: creds.client().configuration.auth_settings()["BearerToken"]["value"]  # noqa: E731
    assert value().endswith("sa-token-1")
    os.replace(_write(tmp_path / "new", "sa-token-2"), token)  # atomic swap, as kubelet does
    assert value().endswith("sa-token-2")
    assert creds.reloads == 1


def _write(path, text):
    path.write_text(text)
    return path


def test_no_kubeconfig_and_not_in_cluster_means_standalone(tmp_path) -> None:
    conf = MultusConf.model_validate({"kubeTokenFile": str(tmp_path / "missing")})
    assert build_sources(conf, env={}) is None
    assert build_sources(conf, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}) is None


def test_a_configured_kubeconfig_that_does_not_exist_is_a_config_error(tmp_path) -> None:
    with pytest.raises(CNIError) as err:
        build_sources(MultusConf.model_validate({"kubeconfig": str(tmp_path / "nope")}), env={})
    assert err.value.code == 7 and str(tmp_path / "nope") in err.value.msg


@pytest.mark.parametrize("key,value", [("kubeGetRetries", -1), ("kubeConnectTimeout", 0),
                                       ("kubeRequestTimeout", "soon")])
def test_invalid_kube_settings_name_the_key(kubeconfig, key, value) -> None:
    with pytest.raises(CNIError) as err:
        parse_multus_conf(json.dumps({"kubeconfig": str(kubeconfig), key: value}).encode())
    assert err.value.code == 7 and key in err.value.msg
    # a config object without validation of its own (e.g. the daemon's) is checked on the way in
    with pytest.raises(CNIError) as err:
        build_sources(SimpleNamespace(kubeconfig=str(kubeconfig), **{key: value}), env={})
    assert err.value.code == 7 and key in err.value.msg


def test_node_name_from_config_env_or_hostname() -> None:
    assert KubeSettings(nodeName="n1").node_name({"NODE_NAME": "n2"}) == "n1"
    assert KubeSettings().node_name({"NODE_NAME": "n2"}) == "n2"
    assert KubeSettings().node_name({"MULTUS_DP_NODE_NAME": "n3", "NODE_NAME": "n2"}) == "n3"
    assert KubeSettings().node_name({}) == os.uname().nodename.lower()


def test_thin_sources_are_plain_gets_and_inline_publishing(emu, kubeconfig, tmp_path) -> None:
    from multus_dp.networks.attachment import PodRef

    emu.seed(PODS, pod("web"))
    sources = build_sources(MultusConf.model_validate({"kubeconfig": str(kubeconfig), "nodeName": "node1"}),
                            watch=False, env={})
    assert sources is not None and not sources.informers
    mark = emu.mark()
    assert sources.pod_source.get_pod("ns1", "web", "uid-web").uid == "uid-web"
    sources.publisher.publish(PodRef("ns1", "web", "uid-web"), "c1", [{"name": "n", "interface": "eth0"}])
    assert [r.method for r in emu.since(mark, watches=True)] == ["GET", "PATCH", "POST"]  # done before returning
    assert build_sources(MultusConf.model_validate({"kubeTokenFile": str(tmp_path / "none")}), watch=False,
                         env={}) is None
