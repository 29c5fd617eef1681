"""The daemon with a kubeconfig: Kubernetes watch caches wired in (kmock's emulator as the
API server), readiness waits for them, selection reads the pod and NADs from them and the
network-status is patched onto the pod."""
from __future__ import annotations

import json
from pathlib import Path

from multus_dp.daemon.config import DaemonConfig
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon
from multus_dp.k8s.kinds import NADS, PODS
from tests.support.fakeplugin import FakePluginDir
from tests.unit.k8s.conftest import FAST, eventually
from tests.unit.k8s.emulator import Emulator, pod, write_kubeconfig
from tests.unit.k8s.flow import nad

STATUS = "k8s.v1.cni.cncf.io/network-status"


def test_daemon_serves_from_kubernetes_caches(tmp_path: Path, fake_plugins: FakePluginDir) -> None:
    emu = Emulator()
    cluster = fake_plugins.make("cluster", address="10.244.1.5/24")
    extra = fake_plugins.make("pa", address="192.168.50.7/24")
    emu.seed(NADS, nad("net-a", "pa"))
    emu.seed(PODS, pod("web", annotations={"k8s.v1.cni.cncf.io/networks": "net-a"}))
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", emu.url, token="token-1")
    config = DaemonConfig.model_validate({"socketPath": str(tmp_path / "run" / "d.sock"), "metricsAddress": "",
                                          "stateDir": str(tmp_path / "state"), "kubeconfig": str(kubeconfig), **FAST})
    daemon = Daemon(config)
    daemon.start()
    try:
        client = DaemonClient(config.socketPath)
        eventually(lambda: client.ready()[0], what="the daemon to be ready (caches synced)")
        assert {"pods", "nads"} <= set(client.status()["caches"])
        conf = {"cniVersion": "1.0.0", "name": "m", "stateDir": str(tmp_path / "state"),
                "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "cluster"}]}
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cweb", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
               "CNI_PATH": str(fake_plugins.dir), "CNI_ARGS": "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web"}
        reply = client.cni(env, json.dumps(conf).encode())
        assert reply.exit_code == 0, reply.stdout
        assert cluster.commands() == ["ADD"] and extra.commands() == ["ADD"]

        def status() -> list | None:
            value = ((emu.get(PODS, "ns1", "web") or {}).get("metadata") or {}).get("annotations", {}).get(STATUS)
            return json.loads(value) if value else None

        published = eventually(status, what="network-status on the pod")
        assert [s["name"] for s in published] == ["cluster", "ns1/net-a"]
        reply = client.cni({**env, "CNI_COMMAND": "DEL"}, json.dumps(conf).encode())
        assert reply.exit_code == 0, reply.stdout
    finally:
        daemon.stop()  # runs the Kubernetes stop hook: watches stopped, publishes flushed
        emu.close()


def test_missing_kubeconfig_stops_the_daemon_from_starting(tmp_path: Path) -> None:
    import pytest

    from multus_dp.daemon.config import ConfigError

    config = DaemonConfig(socketPath=str(tmp_path / "d.sock"), metricsAddress="",
                          kubeconfig=str(tmp_path / "no-kubeconfig"))
    with pytest.raises(ConfigError, match="no-kubeconfig"):
        Daemon(config)
    assert not (tmp_path / "d.sock").exists()
