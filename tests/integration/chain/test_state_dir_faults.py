"""A state dir that fills up or turns read-only in the middle of an ADD (a real small tmpfs),
with real bridge and ptp plugins into a real netns: the rollback still removes everything
(no pod links, veths, bridge ports or host-local leases left), the ADD reports code 109,
and a DEL once the state dir is back finishes (removes the journal)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.chain.entry import Reply, handle
from tests.support.fakeplugin import PYTHON
from tests.support.netns import ip
from tests.support.prereq import require_binary, require_cni_plugins

# A delegate that breaks the state dir when it runs, then succeeds: the fault lands exactly
# between two steps of the ADD (the journal update after this step is the write that fails).
BREAKER = r'''#!{python} -IS
import json, os, subprocess, sys
state, how = {state!r}, {how!r}
cmd = os.environ.get("CNI_COMMAND", "")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}})); sys.exit(0)
conf = json.loads(sys.stdin.read() or "{{}}")
if cmd == "ADD":
    if how == "full":
        with open(os.path.join(state, "filler.bin"), "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
            except OSError:
                pass
    else:
        subprocess.run(["mount", "-o", "remount,ro", state], check=True)
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.0.0"),
                       "interfaces": [{{"name": os.environ["CNI_IFNAME"]}}]}}))
'''


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


class Pod:
    def __init__(self, netlab, tmp: Path, cni_dir: str, how: str) -> None:
        self.lab = netlab
        self.state = tmp / "state"
        self.ipam = tmp / "ipam"
        self.plugins = tmp / "plugins"
        self.plugins.mkdir()
        breaker = self.plugins / "breaker"
        breaker.write_text(BREAKER.format(python=PYTHON, state=str(self.state), how=how))
        breaker.chmod(breaker.stat().st_mode | stat.S_IXUSR)
        self.cni_path = f"{cni_dir}:{self.plugins}"
        self.bridge = netlab.name("br")
        netlab.track_link(self.bridge)
        self.netns = netlab.add_netns()
        ipam = {"type": "host-local", "dataDir": str(self.ipam)}
        self.conf = {
            "cniVersion": "1.0.0", "name": "multus-dp", "type": "multus-dp", "stateDir": str(self.state),
            "networksDir": str(tmp / "none"), "binDir": "", "parallel": False,
            "delegates": [
                {"cniVersion": "1.0.0", "name": "cluster", "plugins": [
                    {"type": "bridge", "bridge": self.bridge, "ipam": {**ipam, "subnet": "10.251.1.0/24"}}]},
                {"cniVersion": "1.0.0", "name": "p2p", "type": "ptp", "ipam": {**ipam, "subnet": "10.251.2.0/24"}},
                {"cniVersion": "1.0.0", "name": "breaker", "type": "breaker"},
            ]}

    def call(self, command: str) -> Reply:
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "faulty1", "CNI_NETNS": self.lab.path(self.netns),
               "CNI_IFNAME": "eth0", "CNI_PATH": self.cni_path,
               "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=faulty"}
        return handle(env, json.dumps(self.conf).encode())

    def leases(self) -> list[str]:
        return sorted(p.name for p in self.ipam.rglob("10.251.*")) if self.ipam.exists() else []

    def bridge_ports(self) -> list[str]:
        out = ip("-j", "link", "show", "master", self.bridge, check=False)
        return [link["ifname"] for link in json.loads(out)] if out.strip() else []

    def journal(self) -> Path:
        return self.state / "attachments" / "faulty1.json"


@pytest.fixture
def pod_for(netlab, tmp_path: Path) -> Iterator:
    require_binary("mount")
    cni_dir = require_cni_plugins("bridge", "ptp", "host-local")
    made: list[Pod] = []

    def make(how: str) -> Pod:
        pod = Pod(netlab, tmp_path, cni_dir, how)
        mount_tmpfs(pod.state, "1m")
        made.append(pod)
        return pod

    yield make
    for pod in made:
        umount(pod.state)


def host_veths() -> set[str]:
    out = ip("-j", "link", "show", "type", "veth")
    return {link["ifname"] for link in json.loads(out)} if out.strip() else set()


def assert_nothing_left(pod: Pod, veths_before: set[str]) -> None:
    assert pod.lab.links_in(pod.netns) == ["lo"], "pod links left behind"
    assert pod.bridge_ports() == [], "bridge ports left behind"
    assert host_veths() - veths_before == set(), "host veths left behind"
    assert pod.leases() == [], "host-local leases left behind"


def test_state_dir_full_mid_add_rolls_back_everything_then_del_finishes(pod_for) -> None:
    pod = pod_for("full")
    veths_before = host_veths()
    reply = pod.call("ADD")
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 109, err
    assert "journal" in err["msg"] and "pod ns1/faulty" in err["msg"] and "network breaker" in err["msg"]
    assert_nothing_left(pod, veths_before)
    assert not list(pod.state.rglob("*.tmp")), "journal temp files left on the full disk"

    (pod.state / "filler.bin").unlink()   # space returns
    reply = pod.call("DEL")
    assert reply.exit_code == 0, reply.stdout
    assert not pod.journal().exists()
    assert_nothing_left(pod, veths_before)


def test_state_dir_read_only_mid_add_rolls_back_and_del_finishes_once_writable(pod_for) -> None:
    pod = pod_for("ro")
    veths_before = host_veths()
    reply = pod.call("ADD")
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 109, err
    assert_nothing_left(pod, veths_before)
    assert pod.journal().exists(), "the journal's last good version is what lets a later DEL finish"

    reply = pod.call("DEL")   # still read-only: everything deleted again, the journal cannot go
    err = json.loads(reply.stdout)
    assert reply.exit_code == 1 and err["code"] == 109 and "every attachment was deleted" in err["msg"], err
    assert_nothing_left(pod, veths_before)

    subprocess.run(["mount", "-o", "remount,rw", str(pod.state)], check=True)
    reply = pod.call("DEL")
    assert reply.exit_code == 0, reply.stdout
    assert not pod.journal().exists()
    assert_nothing_left(pod, veths_before)
    assert not [p for p in pod.state.rglob("*") if p.name.endswith(".tmp")]


def test_del_on_a_full_state_dir_deletes_everything_and_the_journal(pod_for) -> None:
    """DEL of a pod that was fully added, with the state dir full: every step's journal update
    fails, the DEL still removes everything and (unlink needs no space) the journal too."""
    pod = pod_for("full")
    pod.conf["delegates"] = pod.conf["delegates"][:2]
    veths_before = host_veths()
    reply = pod.call("ADD")
    assert reply.exit_code == 0, reply.stdout
    assert pod.bridge_ports() and pod.leases()
    with open(pod.state / "filler.bin", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 65536)
                fh.flush()
        except OSError:
            pass
    reply = pod.call("DEL")
    assert reply.exit_code == 0, reply.stdout
    assert not pod.journal().exists()
    assert_nothing_left(pod, veths_before)
    os.unlink(pod.state / "filler.bin")
