"""A real non-root user on the node against the daemon's socket, and a read-only state dir.

The user is created for the test (useradd) and runs an impostor server (setpriv): where it
can bind or swap the socket, the shim must refuse to talk to it (code 113) instead of taking
its `DEL` exit 0, and the daemon must refuse to start on a directory it could write.
"""
from __future__ import annotations

import json
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus_dp.chain.entry import handle
from tests.support.daemonproc import DaemonProcess, require_shim, run_shim
from tests.support.prereq import require_binary, require_root

USER = "mdp-hostile-test"

IMPOSTOR = r'''
import os, socket, sys
path = sys.argv[1]
if len(sys.argv) > 2:
    os.rename(path, sys.argv[2])   # the real daemon's socket, moved aside
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(8)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    conn.settimeout(5)
    try:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nCNI-Exit-Code: 0\r\nContent-Length: 0\r\n\r\n")
        with open(path + ".served", "a") as fh:
            fh.write("x")
    except OSError:
        pass
    conn.close()
'''


@pytest.fixture(scope="module")
def local_user() -> Iterator[pwd.struct_passwd]:
    require_root()
    require_binary("useradd")
    require_binary("setpriv")
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        created = True
    try:
        yield pwd.getpwnam(USER)
    finally:
        if created:
            subprocess.run(["userdel", USER], check=False)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A world-writable sticky directory outside the root-only pytest temp tree."""
    path = Path(tempfile.mkdtemp(prefix="mdp-open-"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def start_impostor(user: pwd.struct_passwd, directory: Path, *argv: str) -> subprocess.Popen[str]:
    script = directory / "impostor.py"
    script.write_text(IMPOSTOR)
    script.chmod(0o644)
    proc = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                             "/usr/bin/python3", "-I", str(script), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(10)


def test_shim_refuses_a_socket_bound_by_another_user(local_user: pwd.struct_passwd, open_dir: Path) -> None:
    shim = require_shim()
    path = open_dir / "daemon.sock"
    impostor = start_impostor(local_user, open_dir, str(path))
    try:
        assert path.stat().st_uid == local_user.pw_uid
        proc = run_shim(shim, "DEL", {"cniVersion": "1.0.0"}, container="c1",
                        extra_env={"MULTUS_DP_SOCKET": str(path)})
        err = json.loads(proc.stdout)
        assert proc.returncode == 1 and err["code"] == 113, proc.stdout
        assert f"uid {local_user.pw_uid}" in err["msg"] and str(path) in err["msg"]
        assert not Path(str(path) + ".served").exists(), "nothing was sent to the impostor"
        # the operator declares that uid as the daemon's: then the shim talks to it
        proc = run_shim(shim, "DEL", {"cniVersion": "1.0.0"}, container="c1",
                        extra_env={"MULTUS_DP_SOCKET": str(path), "MULTUS_DP_SOCKET_UID": str(local_user.pw_uid)})
        assert (proc.returncode, proc.stdout) == (0, "")
    finally:
        stop(impostor)


def test_socket_swapped_under_a_running_daemon_is_refused(local_user: pwd.struct_passwd, open_dir: Path,
                                                          tmp_path: Path) -> None:
    """The directory turns world-writable after the daemon started (an operator's chmod): the
    user moves the real socket aside and binds its own in its place."""
    shim = require_shim()
    run = open_dir / "run"
    with DaemonProcess(tmp_path, socketPath=str(run / "daemon.sock")) as daemon:
        run.chmod(0o777)
        impostor = start_impostor(local_user, open_dir, daemon.socket, str(run / "moved.sock"))
        try:
            proc = run_shim(shim, "DEL", {"cniVersion": "1.0.0"}, container="c1", ifname="eth0",
                            extra_env={"MULTUS_DP_SOCKET": daemon.socket})
            err = json.loads(proc.stdout)
            assert proc.returncode == 1 and err["code"] == 113, proc.stdout
        finally:
            stop(impostor)


def test_daemon_refuses_to_start_on_a_directory_the_user_could_write(local_user: pwd.struct_passwd,
                                                                     open_dir: Path, tmp_path: Path) -> None:
    owned = open_dir / "theirs"
    owned.mkdir(mode=0o755)
    os.chown(owned, local_user.pw_uid, local_user.pw_gid)   # 0755, but the user's: they can swap anything
    for socket_path, problem in ((open_dir / "daemon.sock", "is writable by group and others"),
                                 (owned / "daemon.sock", f"is owned by uid {local_user.pw_uid}")):
        daemon = DaemonProcess(tmp_path, socketPath=str(socket_path))
        with pytest.raises(RuntimeError, match="daemon exited") as info:
            daemon.start(timeout=30)
        assert problem in str(info.value) and "refusing to serve" in str(info.value)
        assert not socket_path.exists()


@pytest.fixture
def read_only_state(tmp_path: Path) -> Iterator[Path]:
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)], check=True)
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_read_only_state_dir_is_a_state_error(fake_plugins, tmp_path: Path, read_only_state: Path) -> None:
    plugin = fake_plugins.make("pa")
    conf = json.dumps({"cniVersion": "1.0.0", "name": "m", "stateDir": str(read_only_state), "binDir": "",
                       "delegates": [{"cniVersion": "1.0.0", "name": "a", "type": "pa"}]}).encode()

    def env(cid: str) -> dict[str, str]:
        return {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": "/x", "CNI_IFNAME": "eth0",
                "CNI_PATH": str(fake_plugins.dir), "CNI_ARGS": f"K8S_POD_NAMESPACE=ns;K8S_POD_NAME={cid}"}

    assert handle(env("before"), conf).exit_code == 0
    (read_only_state / "locks" / "exists.lock").touch()   # left by a process killed before its ADD
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_state)], check=True)
    for cid in ("exists", "after"):   # a lock file that exists, one that must be created
        reply = handle(env(cid), conf)
        err = json.loads(reply.stdout)
        assert reply.exit_code == 1 and err["code"] == 109 and cid in err["msg"], err
    assert plugin.commands() == ["ADD"]
