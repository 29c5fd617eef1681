"""`multus-dp install` on temp CNI dirs: the shim copy, the generated conflist, the watch."""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from multus_dp.cli import main
from multus_dp.cni.config import parse_network_config
from multus_dp.daemon import confgen
from multus_dp.daemon.install import ConfInstaller, Reconciled, install_shim
from multus_dp.networks.conf import MultusConf

BRIDGE = {"cniVersion": "0.4.0", "name": "cbr0", "plugins": [
    {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.88.0.0/16"}},
    {"type": "portmap", "capabilities": {"portMappings": True}}]}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    conf_dir.mkdir()
    return bin_dir, conf_dir


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def fake_shim(tmp_path: Path, content: bytes = b"#!/bin/sh\necho shim\n") -> Path:
    path = tmp_path / "built-shim"
    path.write_bytes(content)
    path.chmod(0o755)
    return path


def test_generated_conflist_is_valid_and_points_at_the_primary(dirs: tuple[Path, Path]) -> None:
    _, conf_dir = dirs
    write(conf_dir / "10-bridge.conflist", BRIDGE)
    write(conf_dir / "99-other.conf", {"cniVersion": "1.0.0", "name": "other", "type": "ptp"})
    outcome = ConfInstaller(conf_dir, plugin_keys={"socketPath": "/tmp/x.sock"}).reconcile()
    assert outcome.state == "written" and outcome.primary == conf_dir / "10-bridge.conflist"
    generated = json.loads((conf_dir / "00-multus-dp.conflist").read_text())
    net = parse_network_config(generated)  # what libcni would load
    assert net.cni_version == "0.4.0"
    plugin = net.plugins[0]
    assert plugin["type"] == "multus-dp" and plugin["clusterNetwork"] == str(conf_dir / "10-bridge.conflist")
    assert plugin["capabilities"] == {"portMappings": True} and plugin["socketPath"] == "/tmp/x.sock"
    # the plugin reads it as its own configuration (libcni injects name and cniVersion)
    MultusConf.model_validate({**plugin, "name": generated["name"], "cniVersion": generated["cniVersion"]})
    assert stat.S_IMODE((conf_dir / "00-multus-dp.conflist").stat().st_mode) == 0o644


def test_install_is_idempotent(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, conf_dir = dirs
    write(conf_dir / "10-bridge.conflist", BRIDGE)
    shim = fake_shim(tmp_path)
    installer = ConfInstaller(conf_dir)
    assert install_shim(bin_dir, shim) is True and installer.reconcile().state == "written"
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in [bin_dir / "multus-dp", installer.conf_path]}
    assert install_shim(bin_dir, shim) is False and installer.reconcile().state == "unchanged"
    after = {p.name: (p.stat().st_ino, p.read_bytes()) for p in [bin_dir / "multus-dp", installer.conf_path]}
    assert before == after
    assert sorted(p.name for p in bin_dir.iterdir()) == ["multus-dp"]
    assert sorted(p.name for p in conf_dir.iterdir()) == ["00-multus-dp.conflist", "10-bridge.conflist"]


def test_shim_update_replaces_the_file_instead_of_writing_into_it(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, _ = dirs
    install_shim(bin_dir, fake_shim(tmp_path, b"#!/bin/sh\necho old\n"))
    target = bin_dir / "multus-dp"
    old_inode = target.stat().st_ino
    with target.open("rb") as running:  # a runtime exec'ing the old shim keeps its inode
        install_shim(bin_dir, fake_shim(tmp_path, b"#!/bin/sh\necho new\n"))
        assert running.read() == b"#!/bin/sh\necho old\n"
    assert target.stat().st_ino != old_inode and target.read_bytes() == b"#!/bin/sh\necho new\n"
    assert os.access(target, os.X_OK)


def test_primary_is_first_by_name_that_is_not_ours(dirs: tuple[Path, Path]) -> None:
    _, conf_dir = dirs
    write(conf_dir / "05-mine.conf", {"cniVersion": "1.0.0", "name": "x", "type": "multus-dp"})
    write(conf_dir / "20-b.conf", {"cniVersion": "1.0.0", "name": "b", "type": "ptp"})
    write(conf_dir / "10-a.conflist", {"cniVersion": "0.3.1", "name": "a", "plugins": [{"type": "bridge"}]})
    (conf_dir / "01-notes.txt").write_text("not a config")
    ConfInstaller(conf_dir).reconcile()
    generated = json.loads((conf_dir / "00-multus-dp.conflist").read_text())
    assert generated["plugins"][0]["clusterNetwork"] == str(conf_dir / "10-a.conflist")
    assert generated["cniVersion"] == "0.3.1"


def test_invalid_primary_is_reported_by_name(dirs: tuple[Path, Path]) -> None:
    _, conf_dir = dirs
    (conf_dir / "10-broken.conf").write_text("{not json")
    with pytest.raises(confgen.ConfGenError, match="10-broken.conf"):
        ConfInstaller(conf_dir).reconcile()
    assert not (conf_dir / "00-multus-dp.conflist").exists()


def test_no_primary_means_no_conf_of_ours(dirs: tuple[Path, Path]) -> None:
    _, conf_dir = dirs
    outcome = ConfInstaller(conf_dir).reconcile()
    assert outcome.state == "waiting" and "no primary" in outcome.reason
    assert list(conf_dir.iterdir()) == []


def test_watch_regenerates_and_withdraws(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    _, conf_dir = dirs
    indicator = tmp_path / "ready"
    indicator.write_text("")
    write(conf_dir / "10-bridge.conflist", BRIDGE)
    installer = ConfInstaller(conf_dir, str(indicator))
    seen: list[Reconciled] = []
    changed = threading.Condition()

    def on_change(outcome: Reconciled) -> None:
        with changed:
            seen.append(outcome)
            changed.notify_all()

    def wait_for(state: str) -> Reconciled:
        """The next reconcile after the last one seen ends in `state`."""
        with changed:
            start = wait_for.seen  # type: ignore[attr-defined]
            done = changed.wait_for(lambda: len(seen) > start and seen[-1].state == state, timeout=20)
            assert done, [o.state for o in seen]
            wait_for.seen = len(seen)  # type: ignore[attr-defined]
            return seen[-1]

    wait_for.seen = 0  # type: ignore[attr-defined]

    stop = threading.Event()
    watcher = threading.Thread(target=installer.watch, args=(stop, 0.02, on_change))
    watcher.start()
    try:
        wait_for("written")
        assert json.loads(installer.conf_path.read_text())["cniVersion"] == "0.4.0"
        assert json.loads(installer.conf_path.read_text())["plugins"][0]["readinessindicatorfile"] == str(indicator)
        write(conf_dir / "10-bridge.conflist", {**BRIDGE, "cniVersion": "1.0.0"})  # primary changed
        wait_for("written")
        assert json.loads(installer.conf_path.read_text())["cniVersion"] == "1.0.0"
        write(conf_dir / "05-new.conf", {"cniVersion": "1.1.0", "name": "new", "type": "ptp"})  # new first
        assert wait_for("written").primary == conf_dir / "05-new.conf"
        indicator.unlink()
        wait_for("withdrawn")
        assert not installer.conf_path.exists()
        indicator.write_text("")
        wait_for("written")
        assert installer.conf_path.exists()
        installer.conf_path.unlink()  # someone removed ours: put back
        wait_for("written")
        assert installer.conf_path.exists()
    finally:
        stop.set()
        watcher.join(10)


def test_cli_install_and_cleanup(dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, conf_dir = dirs
    write(conf_dir / "10-bridge.conflist", BRIDGE)
    monkeypatch.setenv("MULTUS_DP_SHIM", str(fake_shim(tmp_path)))
    argv = ["install", "--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir), "--set", "stateDir=/srv/mdp",
            "--socket", "/srv/d.sock", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shim"]["state"] == "written" and out["conf"]["state"] == "written"
    plugin = json.loads((conf_dir / "00-multus-dp.conflist").read_text())["plugins"][0]
    assert plugin["stateDir"] == "/srv/mdp" and plugin["socketPath"] == "/srv/d.sock"
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["conf"]["state"] == "unchanged"
    assert main(["install", "--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir), "--cleanup"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (bin_dir / "multus-dp").exists()
    assert sorted(p.name for p in conf_dir.iterdir()) == ["10-bridge.conflist"]


def test_cli_install_without_a_built_shim_says_what_to_do(dirs: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, conf_dir = dirs
    monkeypatch.setenv("MULTUS_DP_SHIM", str(tmp_path / "no-such-shim"))
    assert main(["install", "--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir)]) == 1
    assert "pip install" in capsys.readouterr().err
    assert not bin_dir.exists() or not list(bin_dir.iterdir())


def test_install_watch_as_a_process(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """`multus-dp install --watch` run as on a node: waits for the indicator, follows the
    primary, withdraws our conf when the indicator goes, stops on SIGTERM."""
    import signal
    import subprocess
    import sys
    import time

    bin_dir, conf_dir = dirs
    indicator = tmp_path / "cni-ready"
    write(conf_dir / "10-bridge.conflist", BRIDGE)
    ours = conf_dir / "00-multus-dp.conflist"
    env = {**os.environ, "MULTUS_DP_SHIM": str(fake_shim(tmp_path))}
    proc = subprocess.Popen([sys.executable, "-m", "multus_dp", "install", "--bin-dir", str(bin_dir), "--conf-dir",
                             str(conf_dir), "--watch", "--poll-interval", "0.05", "--readiness-indicator-file",
                             str(indicator)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def until(check, what: str) -> None:
        deadline = time.monotonic() + 30
        while not check():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    try:
        until(lambda: (bin_dir / "multus-dp").exists(), "the shim")
        assert not ours.exists(), "no conf of ours before the indicator exists"
        indicator.write_text("")
        until(ours.exists, "our conf")
        write(conf_dir / "10-bridge.conflist", {**BRIDGE, "cniVersion": "1.0.0"})
        until(lambda: json.loads(ours.read_text())["cniVersion"] == "1.0.0", "regeneration")
        indicator.unlink()
        until(lambda: not ours.exists(), "withdrawal")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "withdrawn" in out and "written" in out
