"""Thick mode end to end: `multus-dp install` puts the real shim and a generated conflist
into temp CNI dirs, `multus-dp daemon` runs as a subprocess, and the conflist is executed
the way libcni does (each plugin of the list exec'd from the bin dir with name, cniVersion
and capability-filtered runtimeConfig injected) against Debian's bridge/ptp/host-local in
real netns."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemonproc import DaemonProcess, require_shim, run_shim
from tests.support.prereq import require_binary, require_cni_plugins, require_root


def libcni_exec(bin_dir: Path, conflist: dict[str, Any], command: str, *, container: str, netns: str,
                cni_path: str, args: str, capability_args: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """What libcni does with a conflist of one plugin (ours): inject name/cniVersion and the
    runtimeConfig for the capabilities the plugin declares, exec `<bin_dir>/<type>`."""
    assert len(conflist["plugins"]) == 1
    plugin = dict(conflist["plugins"][0])
    plugin.update(name=conflist["name"], cniVersion=conflist["cniVersion"])
    caps = plugin.get("capabilities") or {}
    runtime = {k: v for k, v in capability_args.items() if caps.get(k)}
    if runtime:
        plugin["runtimeConfig"] = runtime
    return run_shim(str(bin_dir / plugin["type"]), command, plugin, container=container, netns=netns,
                    cni_path=f"{bin_dir}:{cni_path}", args=args)


@pytest.fixture
def node(tmp_path: Path, netlab) -> dict[str, Any]:
    """A node's CNI layout in temp dirs: a bridge primary conflist, a standalone networks dir
    with a ptp NAD, the installed shim and our generated conflist."""
    cni_dir = require_cni_plugins("bridge", "ptp", "host-local")
    require_shim()
    bridge = netlab.name("br")
    netlab.track_link(bridge)
    ipam = {"type": "host-local", "dataDir": str(tmp_path / "ipam")}
    conf_dir, bin_dir, networks = tmp_path / "net.d", tmp_path / "bin", tmp_path / "networks.d"
    conf_dir.mkdir()
    networks.mkdir()
    (conf_dir / "10-cluster.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "cluster", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True,
             "ipam": {**ipam, "subnet": "10.252.1.0/24"}}]}))
    (networks / "ptp.json").write_text(json.dumps({
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "ptp-net", "namespace": "it"},
        "spec": {"config": json.dumps({"cniVersion": "0.4.0", "type": "ptp",
                                       "ipam": {**ipam, "subnet": "10.252.2.0/24"}})}}))
    daemon = DaemonProcess(tmp_path / "daemon")
    install = subprocess.run(
        [sys.executable, "-m", "multus_dp", "install", "--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir),
         "--socket", daemon.socket, "--set", f"stateDir={tmp_path / 'state'}", "--set", f"networksDir={networks}",
         "--set", 'capabilities={"io.kubernetes.cri.pod-annotations": true}', "--json"],
        capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    return {"cni_dir": cni_dir, "bin_dir": bin_dir, "conf_dir": conf_dir, "daemon": daemon,
            "state": tmp_path / "state", "ipam": tmp_path / "ipam", "bridge": bridge,
            "conflist": json.loads((conf_dir / "00-multus-dp.conflist").read_text())}


def pod_call(node: dict[str, Any], command: str, netns: str, container: str = "thick1",
             pod: str = "p1") -> subprocess.CompletedProcess[str]:
    annotations = {"k8s.v1.cni.cncf.io/networks": "ptp-net"}
    return libcni_exec(node["bin_dir"], node["conflist"], command, container=container, netns=netns,
                       cni_path=node["cni_dir"], args=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=it;K8S_POD_NAME={pod}",
                       capability_args={"io.kubernetes.cri.pod-annotations": annotations})


def assert_nothing_left(node: dict[str, Any], netlab, ns: str) -> None:
    assert set(netlab.links_in(ns)) == {"lo"}
    assert not [p for p in node["ipam"].rglob("10.252.*")], "IP leases left"
    assert not list((node["state"] / "attachments").glob("*.json")), "journal left"
    assert "10.252.2." not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout


def test_installed_shim_add_check_del_real_plugins(node: dict[str, Any], netlab) -> None:
    ns = netlab.add_netns()
    with node["daemon"]:
        add = pod_call(node, "ADD", netlab.path(ns))
        assert add.returncode == 0, add.stdout + node["daemon"].log_text()
        result = json.loads(add.stdout)
        assert result["cniVersion"] == "1.0.0" and result["ips"][0]["address"].startswith("10.252.1.")
        assert netlab.addrs_in(ns, "eth0")[0].startswith("10.252.1.")
        assert netlab.addrs_in(ns, "net1")[0].startswith("10.252.2.")
        check = pod_call(node, "CHECK", netlab.path(ns))
        assert (check.returncode, check.stdout) == (0, "")
        status = subprocess.run([sys.executable, "-m", "multus_dp", "status", "--socket", node["daemon"].socket,
                                 "--json"], capture_output=True, text=True)
        pods = json.loads(status.stdout)["daemon"]["attachments"]
        assert [(a["pod"], [n["interface"] for n in a["networks"]]) for a in pods] == [("it/p1", ["eth0", "net1"])]
        for _ in range(2):
            delete = pod_call(node, "DEL", netlab.path(ns))
            assert (delete.returncode, delete.stdout) == (0, "")
        log = [json.loads(line) for line in node["daemon"].log_text().splitlines()]
        assert any(r.get("command") == "ADD" and r.get("pod") == "it/p1" and r.get("container") == "thick1"
                   for r in log), log
    assert_nothing_left(node, netlab, ns)


def test_daemon_restart_then_del_cleans_everything(node: dict[str, Any], netlab) -> None:
    ns = netlab.add_netns()
    daemon = node["daemon"]
    daemon.start()
    try:
        assert pod_call(node, "ADD", netlab.path(ns)).returncode == 0
    finally:
        daemon.kill()  # no chance to save anything on the way out
    # daemon gone: DEL must not pretend success
    down = pod_call(node, "DEL", netlab.path(ns))
    err = json.loads(down.stdout)
    assert down.returncode == 1 and err["code"] == 11 and daemon.socket in err["msg"]
    assert {"eth0", "net1"} <= set(netlab.links_in(ns)), "nothing was torn down behind our back"
    with DaemonProcess(daemon.root):  # a new process: knows the pod only from disk
        delete = pod_call(node, "DEL", netlab.path(ns))
        assert (delete.returncode, delete.stdout) == (0, ""), delete.stdout
    assert_nothing_left(node, netlab, ns)


def test_socket_is_not_usable_by_a_non_root_user(tmp_path: Path) -> None:
    require_root()  # only root can switch to `nobody`
    shim = require_shim()
    require_binary("setpriv")
    # a world-traversable directory and a world-executable copy of the shim, so only the
    # socket's own mode stands between `nobody` and the daemon
    open_dir = Path(tempfile.mkdtemp(prefix="mdp-sock-"))
    try:
        os.chmod(open_dir, 0o755)
        shim_copy = open_dir / "multus-dp"
        shim_copy.write_bytes(Path(shim).read_bytes())
        shim_copy.chmod(0o755)
        with DaemonProcess(tmp_path, socketPath=str(open_dir / "run" / "daemon.sock")) as daemon:
            os.chmod(open_dir / "run", 0o755)
            conf = {"cniVersion": "1.0.0", "socketPath": daemon.socket}
            as_root = run_shim(str(shim_copy), "VERSION", conf)
            assert as_root.returncode == 0, as_root.stdout
            as_nobody = run_shim(str(shim_copy), "VERSION", conf, user=65534)
            err = json.loads(as_nobody.stdout)
            assert as_nobody.returncode == 1 and err["code"] == 11 and "Permission denied" in err["msg"]
            curl = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "curl", "-sS",
                                   "--unix-socket", daemon.socket, "http://x/status"], capture_output=True, text=True)
            assert curl.returncode != 0 and "attachments" not in curl.stdout
    finally:
        subprocess.run(["rm", "-rf", str(open_dir)])
