"""`multus-dp k8s-check`: credentials, what the caches would hold, and every RBAC rule."""
from __future__ import annotations

import argparse
import json

from multus_dp.k8s import cli_check
from multus_dp.k8s.kinds import NADS, PODS

from .emulator import pod


def run(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli_check.configure(parser)
    code = cli_check.run(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


def test_denied_rule_is_named_and_fails(emu, kubeconfig, capsys) -> None:
    emu.seed(PODS, pod("a", node="node1"))
    emu.seed(PODS, pod("b", node="node2"))
    emu.seed(NADS, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                    "metadata": {"name": "n", "namespace": "ns1"}, "spec": {"config": "{}"}})
    emu.react(lambda k: k["list", k.resource("kubernetes.com", "v1", "networks")] << 404)
    emu.k.authorize = lambda attrs: attrs.get("subresource") != "status"
    code, out = run(capsys, "--kubeconfig", str(kubeconfig), "--node", "node1", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    by_check = {c["check"]: c for c in report["checks"]}
    assert by_check["can patch pods/status"]["ok"] is False
    assert by_check["can create events"]["ok"] is True
    assert by_check["list pods/v1"]["detail"] == "1 object(s) on node node1"
    assert by_check["list network-attachment-definitions.k8s.cni.cncf.io/v1"]["detail"] == "1 object(s)"
    assert by_check["list networks.kubernetes.com/v1"] == {
        "check": "list networks.kubernetes.com/v1", "ok": None, "detail": "CRD not installed"}
    assert sum(1 for c in report["checks"] if c["check"].startswith("can ")) == len(cli_check.RULES)


def test_all_allowed_prints_a_table(emu, kubeconfig, capsys) -> None:
    code, out = run(capsys, "--kubeconfig", str(kubeconfig), "--node", "node1")
    assert code == 0
    assert "can patch pods/status" in out and "FAIL" not in out
    assert out.splitlines()[0].split()[:2] == ["credentials", "ok"]


def test_unreachable_api_fails(tmp_path, capsys) -> None:
    from .emulator import write_kubeconfig

    kc = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9", token="t")
    code, out = run(capsys, "--conf", str(_conf(tmp_path, kc)), "--json")
    report = json.loads(out)
    assert code == 1 and report["checks"][-1]["check"] == "API server" and report["checks"][-1]["ok"] is False


def _conf(tmp_path, kubeconfig):
    path = tmp_path / "conf.json"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "m", "type": "multus-dp", "nodeName": "n1",
                                "kubeconfig": str(kubeconfig), "kubeConnectTimeout": 0.5,
                                "kubeRequestTimeout": 0.5}))
    return path


def test_a_refused_connection_is_called_that(tmp_path, capsys) -> None:
    import socket

    with socket.socket() as probe:   # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    code, out = run(capsys, "--kubeconfig", str(kubeconfig), "--node", "node1")
    assert code == 1
    assert f"API server unreachable: connection refused (127.0.0.1:{port})" in out
    assert "timed out" not in out
