"""podman 4.3 with its CNI backend, configured only through the environment (never /etc).

`CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF` point at files in a temp dir: CNI backend with
our bin and conf dirs, cgroupfs, file events, vfs storage and every run/tmp path under the
temp dir. Containers run on runc (crun fails on this cgroup-v1 hybrid host) with explicit
ulimits (podman's defaults cannot be set without CAP_SYS_RESOURCE here) and a busybox
`--rootfs`, so no image is needed.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .prereq import PODMAN

RUN_TIMEOUT = float(os.environ.get("MULTUS_DP_E2E_PODMAN_TIMEOUT", "180"))
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def _toml_list(items: list[str]) -> str:
    return json.dumps(items)  # a JSON array of strings is a valid TOML array


class Podman:
    def __init__(self, root: Path, *, cni_bin_dir: Path, cni_conf_dir: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.extra_env = dict(extra_env or {})
        self.containers_conf = root / "containers.conf"
        self.storage_conf = root / "storage.conf"
        q = json.dumps
        root.mkdir(parents=True, exist_ok=True)
        self.containers_conf.write_text(f"""[containers]
netns = "bridge"

[network]
network_backend = "cni"
cni_plugin_dirs = {_toml_list([str(cni_bin_dir)])}
network_config_dir = {q(str(cni_conf_dir))}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = {q(str(root / "events.log"))}
runtime = "runc"
tmp_dir = {q(str(root / "tmp"))}
volume_path = {q(str(root / "volumes"))}
""")
        self.storage_conf.write_text(f"""[storage]
driver = "vfs"
graphroot = {q(str(root / "graph"))}
runroot = {q(str(root / "run"))}
""")

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.root), "TMPDIR": str(self.root / "tmp"),
                "CONTAINERS_CONF": str(self.containers_conf), "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
                **self.extra_env}

    def __call__(self, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        (self.root / "tmp").mkdir(exist_ok=True)
        return subprocess.run([PODMAN, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)

    def run(self, *options: str, rootfs: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
        """`podman run --rm` of `command` in `rootfs` (options go before --rootfs, which takes
        the next positional)."""
        return self("run", "--rm", "--runtime", "runc", *ULIMITS, *options, "--rootfs", str(rootfs), *command)

    def run_detached(self, *options: str, rootfs: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
        """`podman run -d`: the container keeps running (remove it with `rm --force`)."""
        return self("run", "-d", "--runtime", "runc", *ULIMITS, *options, "--rootfs", str(rootfs), *command)

    def networks(self) -> list[str]:
        proc = self("network", "ls", "--format", "{{.Name}}")
        if proc.returncode != 0:
            raise RuntimeError(f"podman network ls: {proc.stderr.strip()}")
        return proc.stdout.split()

    def containers(self) -> list[str]:
        proc = self("ps", "-a", "--format", "{{.Names}}")
        return proc.stdout.split() if proc.returncode == 0 else []
