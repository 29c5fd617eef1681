"""The e2e tier's own helpers, checked without root: the `ip addr` parser against real output,
the offline pause image read back, the runtimes' generated config files parsed as TOML."""
from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tomllib
from pathlib import Path

from tests.e2e.support.containerd import config_toml
from tests.e2e.support.images import busybox_rootfs, docker_archive
from tests.e2e.support.podman import Podman
from tests.support.prereq import require, require_binary
from tests.e2e.support.sandbox import parse_ip_addr


# In a private user+net namespace (no root needed, nobody else's links): a veth pair, two
# addresses (one with a label), then busybox's `ip addr` and iproute2's JSON of the same state.
NETNS_SCRIPT = """ip link add name e2ea type veth peer name e2eb
ip addr add 10.9.0.1/24 dev e2ea
ip addr add 10.9.0.2/24 dev e2ea label e2ea:x
ip link set e2ea up
{busybox} ip addr
echo ===
ip -j addr
"""


def test_ip_addr_parser_agrees_with_iproute2_json() -> None:
    busybox, unshare = require_binary("busybox"), require_binary("unshare")
    require_binary("ip")
    proc = subprocess.run([unshare, "-rn", "sh", "-ec", NETNS_SCRIPT.format(busybox=busybox)],
                          capture_output=True, text=True, timeout=30)
    require(proc.returncode == 0, f"a user+net namespace (unshare -rn): {proc.stderr.strip()}")
    text, _, truth_json = proc.stdout.partition("===\n")
    truth = json.loads(truth_json)
    seen = parse_ip_addr(text)
    assert seen.links == [link["ifname"] for link in truth] == ["lo", "e2eb", "e2ea"]
    expected: dict[str, list[str]] = {}
    for link in truth:
        for addr in link.get("addr_info", []):
            if addr["family"] == "inet":
                expected.setdefault(addr["label"], []).append(f"{addr['local']}/{addr['prefixlen']}")
    assert seen.ipv4 == expected == {"e2ea": ["10.9.0.1/24"], "e2ea:x": ["10.9.0.2/24"]}


def test_pause_image_archive_reads_back(tmp_path: Path) -> None:
    require_binary("busybox")
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    archive = docker_archive(rootfs, tmp_path / "pause.tar", "localhost/x:1", cmd=["/bin/sleep", "9"])
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["localhost/x:1"]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert config["config"]["Cmd"] == ["/bin/sleep", "9"] and config["os"] == "linux"
    layer_path = tmp_path / "layer.tar"
    layer_path.write_bytes(layer)
    with tarfile.open(layer_path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isreg() and members["bin/busybox"].uid == 0
    assert members["bin/ip"].issym() and members["bin/ip"].linkname == "busybox"
    assert members["bin/sleep"].issym()


def test_containerd_config_is_toml_with_our_settings(tmp_path: Path) -> None:
    root = tmp_path / 'odd "dir" name'
    conf = tomllib.loads(config_toml(root, cni_bin_dir=root / "bin", cni_conf_dir=root / "net.d",
                                     sandbox_image="localhost/p:1"))
    assert conf["root"] == str(root / "root") and conf["grpc"]["address"] == str(root / "containerd.sock")
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True and cri["sandbox_image"] == "localhost/p:1"
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["containerd"]["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["Root"] == str(root / "runc")
    assert cri["cni"] == {"bin_dir": str(root / "bin"), "conf_dir": str(root / "net.d"), "max_conf_num": 1}


def test_podman_config_is_env_scoped_toml(tmp_path: Path) -> None:
    podman = Podman(tmp_path / "p", cni_bin_dir=tmp_path / "bin", cni_conf_dir=tmp_path / "net.d",
                    extra_env={"MULTUS_DP_SOCKET": "/tmp/s.sock"})
    env = podman.env()
    containers = tomllib.loads(Path(env["CONTAINERS_CONF"]).read_text())
    storage = tomllib.loads(Path(env["CONTAINERS_STORAGE_CONF"]).read_text())
    assert containers["network"] == {"network_backend": "cni", "cni_plugin_dirs": [str(tmp_path / "bin")],
                                     "network_config_dir": str(tmp_path / "net.d")}
    assert containers["engine"]["runtime"] == "runc" and containers["engine"]["cgroup_manager"] == "cgroupfs"
    assert storage["storage"]["graphroot"].startswith(str(tmp_path)) and storage["storage"]["driver"] == "vfs"
    assert env["MULTUS_DP_SOCKET"] == "/tmp/s.sock"
