"""The daemon config file: JSON or YAML, flags on top, clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from multus_dp.daemon.config import ConfigError, load_config


def test_yaml_file_with_flag_overrides(tmp_path: Path) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text("socketPath: /tmp/a.sock\nmaxConcurrency: 4\nlogLevel: DEBUG\n")
    config = load_config(str(path), {"maxConcurrency": 8, "stateDir": None})
    assert (config.socketPath, config.maxConcurrency, config.logLevel) == ("/tmp/a.sock", 8, "debug")
    assert config.stateDir == "/var/lib/multus-dp" and config.metricsAddress == "127.0.0.1:9192"


def test_kubernetes_settings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text("kubeconfig: /etc/kubeconfig\nkubeRequestTimeout: 3\nmultusNamespace: net\n")
    config = load_config(str(path))
    assert config.kubeconfig == "/etc/kubeconfig" and config.kubeRequestTimeout == 3
    assert config.multusNamespace == "net" and config.model_extra == {}   # declared, so documented


def test_invalid_kubernetes_setting_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text("kubeRequestTimeout: -1\n")
    with pytest.raises(ConfigError, match="kubeRequestTimeout"):
        load_config(str(path))


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"metricsAddress": "", "readinessindicatorfile": "/run/flannel/ready"}')
    config = load_config(str(path))
    assert config.metricsAddress == "" and config.readinessindicatorfile == "/run/flannel/ready"


@pytest.mark.parametrize("content, needle", [
    ("maxConcurency: 4\n", "maxConcurency"),
    ("kubeRequestTimout: 3\n", "kubeRequestTimout"),
    ("maxConcurrency: 0\n", "maxConcurrency"),
    ("metricsAddress: localhost\n", "metricsAddress"),
    ("logLevel: chatty\n", "logLevel"),
    ("- a\n- b\n", "object of keys"),
])
def test_bad_keys_are_named(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_config(str(path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(str(tmp_path / "nope.yaml"))
