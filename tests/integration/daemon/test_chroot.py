"""`chrootDir`: the daemon runs delegates with the host's root as their root (Multus thick's
key). Here the "host" is a small tree of its own — busybox as /bin/sh, a plugin in its
/opt/cni/bin and a file only it has — so a delegate that finds its binary through CNI_PATH and
reads a host file outside every path the daemon has proves it runs in that root."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multus_dp.daemon.config import ConfigError, DaemonConfig, load_config
from multus_dp.daemon.protocol import DaemonClient
from multus_dp.daemon.server import Daemon
from tests.support.prereq import require_binary, require_root

PLUGIN = """#!/bin/sh
# a delegate that needs a file of the host: its address comes from /etc/host-only/address
read -r address < /etc/host-only/address
cat > /dev/null
case "$CNI_COMMAND" in
  ADD) printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s"}],"ips":[{"address":"%s","interface":0}]}' \\
         "$CNI_IFNAME" "$address" ;;
  VERSION) printf '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
esac
"""


def host_tree(root: Path) -> Path:
    busybox = require_binary("busybox")
    (root / "bin").mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "sh")
    (root / "opt" / "cni" / "bin").mkdir(parents=True)
    plugin = root / "opt" / "cni" / "bin" / "host-plugin"
    plugin.write_text(PLUGIN)
    plugin.chmod(0o755)
    (root / "etc" / "host-only").mkdir(parents=True)
    (root / "etc" / "host-only" / "address").write_text("10.99.0.7/24\n")
    return root


def test_delegates_run_in_the_chroot_and_find_host_files(tmp_path: Path) -> None:
    require_root()
    hostroot = host_tree(tmp_path / "hostroot")
    assert not Path("/etc/host-only").exists() and not Path("/opt/cni/bin/host-plugin").exists()
    daemon = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                                 metricsAddress="", chrootDir=str(hostroot)))
    daemon.start()
    try:
        client = DaemonClient(daemon.config.socketPath)
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "chroot1", "CNI_NETNS": "/proc/self/ns/net",
               "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",   # the host's path, not the daemon's
               "CNI_ARGS": "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1"}
        conf = {"cniVersion": "1.0.0", "name": "m", "stateDir": str(tmp_path / "state"),
                "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "host-plugin"}]}
        reply = client.cni(env, json.dumps(conf).encode())
        assert reply.exit_code == 0, reply.stdout
        assert json.loads(reply.stdout)["ips"][0]["address"] == "10.99.0.7/24"
        deleted = client.cni({**env, "CNI_COMMAND": "DEL"}, json.dumps(conf).encode())
        assert deleted.exit_code == 0, deleted.stdout
    finally:
        daemon.stop()


def test_without_chroot_the_same_delegate_is_not_found(tmp_path: Path) -> None:
    host_tree(tmp_path / "hostroot")
    daemon = Daemon(DaemonConfig(socketPath=str(tmp_path / "run" / "d.sock"), stateDir=str(tmp_path / "state"),
                                 metricsAddress=""))
    daemon.start()
    try:
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "chroot2", "CNI_NETNS": "/proc/self/ns/net",
               "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p2"}
        conf = {"cniVersion": "1.0.0", "name": "m", "stateDir": str(tmp_path / "state"),
                "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "host-plugin"}]}
        reply = DaemonClient(daemon.config.socketPath).cni(env, json.dumps(conf).encode())
        assert reply.exit_code == 1
        assert "failed to find plugin 'host-plugin'" in json.loads(reply.stdout)["msg"]
    finally:
        daemon.stop()


def test_a_chroot_dir_that_is_not_there_stops_the_daemon_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "daemon.yaml"
    config.write_text(f"chrootDir: {tmp_path / 'no-such-root'}\nmetricsAddress: ''\n")
    with pytest.raises(ConfigError, match=r"chrootDir .*no-such-root is not a directory"):
        Daemon(load_config(str(config)))
    with pytest.raises(ConfigError, match=r"chrootDir: 'hostroot' is not an absolute path"):
        load_config(None, {"chrootDir": "hostroot"})
