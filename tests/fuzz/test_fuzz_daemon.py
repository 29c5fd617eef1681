"""Fuzzed daemon input: its configuration file, and CNI requests through its real socket
(after which it must still be healthy: a crashed handler would make the shim say 11)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from multus_dp.chain.entry import Reply
from multus_dp.daemon.config import ConfigError, DaemonConfig, load_config
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon
from tests.fuzz.support import RAW_DOCUMENTS, check_reply, json_values, mutate, nested, pod_files, scratch
from tests.support.fakeplugin import FakePluginDir

DAEMON_KEYS = {"socketPath": "/run/x/d.sock", "stateDir": "/var/lib/x", "maxConcurrency": 4, "maxQueue": 8,
               "queueTimeout": 5.0, "delegateTimeout": 10.0, "readTimeout": 3.0, "shutdownTimeout": 5.0,
               "metricsAddress": "127.0.0.1:9192", "logLevel": "info", "udev": False, "hardwareRescanInterval": 60.0,
               "multusNamespace": "kube-system"}
TEXT = st.one_of(RAW_DOCUMENTS.map(lambda b: b.decode("utf-8", "replace")),
                 st.integers(min_value=1, max_value=20_000).map(lambda n: "[" * n),
                 st.integers(min_value=1, max_value=2_000).map(lambda n: "a:\n" + "".join(
                     " " * i + "- \n" for i in range(1, n))),
                 st.integers(min_value=60, max_value=500).map(lambda n: '{"x": ' + nested(n) + "}"))


@given(doc=st.one_of(mutate(DAEMON_KEYS).map(lambda d: ("json", json.dumps(d))),
                     mutate(DAEMON_KEYS).map(lambda d: ("yaml", yaml.safe_dump(d))),
                     TEXT.map(lambda t: ("json", t)), TEXT.map(lambda t: ("yaml", t))))
def test_daemon_config_file(doc: tuple[str, str]) -> None:
    suffix, text = doc
    with scratch() as root:
        path = root / f"daemon.{suffix}"
        path.write_text(text, errors="surrogateescape")
        try:
            config = load_config(str(path))
        except ConfigError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(config, DaemonConfig)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    root = tmp_path_factory.mktemp("fuzz-daemon")
    fake = FakePluginDir(root)
    fake.make("pa")
    daemon = Daemon(DaemonConfig(socketPath=str(root / "run" / "d.sock"), stateDir=str(root / "state"),
                                 metricsAddress=""))
    daemon.start()
    yield daemon, fake.dir
    daemon.stop()


def conf_for(state: Path) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "mdp", "stateDir": str(state), "binDir": "",
            "networksDir": str(state / "none"), "delegates": [{"cniVersion": "1.0.0", "name": "a", "type": "pa"}]}


@given(command=st.sampled_from(["ADD", "DEL", "CHECK", "STATUS"]),
       body=st.one_of(RAW_DOCUMENTS.map(lambda b: ("raw", b)), json_values(8).map(lambda v: ("conf", v))))
def test_requests_through_the_socket(daemon: tuple[Daemon, Path], command: str, body: tuple[str, Any]) -> None:
    server, plugins = daemon
    client = DaemonClient(server.config.socketPath, timeout=60)
    with scratch() as root:
        kind, value = body
        if kind == "conf":   # a valid config with one fuzzed key
            stdin = json.dumps({**conf_for(root / "state"), "runtimeConfig": value}).encode()
        else:
            try:
                decoded = json.loads(value)
            except (ValueError, RecursionError):
                decoded = None
            stdin = value if not isinstance(decoded, dict) else json.dumps(
                {**decoded, **conf_for(root / "state")}).encode()
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c1", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
               "CNI_PATH": str(plugins), "CNI_ARGS": "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1"}
        reply = client.cni(env, stdin)
        check_reply(Reply(reply.exit_code, reply.stdout), command)
        if command == "ADD" and reply.exit_code == 0:
            assert client.cni({**env, "CNI_COMMAND": "DEL"}, stdin).exit_code == 0
        assert pod_files(root / "state") == []
    assert client.healthy()
