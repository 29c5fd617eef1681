"""A private containerd 1.6 with its CRI plugin, started by a test and stopped by PID.

Everything lives under one temp dir (root, state, sockets, opt); only two things are the
kernel's or containerd's fixed places: the pod netns under /var/run/netns/cni-<uuid> (removed
at StopPodSandbox) and the shims' sockets under /run/containerd/s/<hash of our address>.

Settings found necessary on this host (see ../shared/research/cni-and-runtimes.md §2):
`snapshotter = "native"` (no overlay on the temp fs needed), runc v2 with cgroupfs, and
`restrict_oom_score_adj = true` (without it runc fails "can't get final child's PID from pipe").
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc as cri_grpc

from .prereq import CONTAINERD, CTR

CRI_NAMESPACE = "k8s.io"
START_TIMEOUT = float(os.environ.get("MULTUS_DP_E2E_START_TIMEOUT", "60"))
CRI_TIMEOUT = float(os.environ.get("MULTUS_DP_E2E_CRI_TIMEOUT", "120"))

# containerd 1.6 puts shim sockets here whatever its state dir (named by a hash of our address)
SHIM_SOCKET_ROOT = Path("/run/containerd")

# Snapshotters that cannot work here (and would only log errors at start).
_DISABLED = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
             "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]


def config_toml(root: Path, *, cni_bin_dir: Path, cni_conf_dir: Path, sandbox_image: str) -> str:
    q = json.dumps  # a JSON string is a valid TOML basic string
    return f"""version = 2
root = {q(str(root / "root"))}
state = {q(str(root / "state"))}
disabled_plugins = {q(_DISABLED)}

[grpc]
  address = {q(str(root / "containerd.sock"))}

[plugins."io.containerd.internal.v1.opt"]
  path = {q(str(root / "opt"))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {q(sandbox_image)}
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {q(str(root / "runc"))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {q(str(cni_bin_dir))}
    conf_dir = {q(str(cni_conf_dir))}
    max_conf_num = 1
"""


@dataclass
class Sandbox:
    """What PodSandboxStatus says about a pod, flattened for assertions."""
    id: str
    state: int
    ip: str
    additional_ips: list[str]
    netns: str
    pid: int

    @property
    def ready(self) -> bool:
        return self.state == cri.SANDBOX_READY


class CRI:
    """The CRI RuntimeService/ImageService over containerd's socket (what kubelet speaks)."""

    def __init__(self, socket: Path, timeout: float = CRI_TIMEOUT) -> None:
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.runtime = cri_grpc.RuntimeServiceStub(self.channel)
        self.images = cri_grpc.ImageServiceStub(self.channel)
        self.timeout = timeout
        self._pod_configs: dict[str, cri.PodSandboxConfig] = {}

    def close(self) -> None:
        self.channel.close()

    def version(self) -> str:
        return self.runtime.Version(cri.VersionRequest(), timeout=5).runtime_version

    def network_ready(self) -> bool:
        status = self.runtime.Status(cri.StatusRequest(), timeout=5).status
        return any(c.type == "NetworkReady" and c.status for c in status.conditions)

    def image_present(self, ref: str) -> bool:
        reply = self.images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image=ref)), timeout=10)
        return bool(reply.image.id)

    def run_pod(self, name: str, namespace: str, uid: str, annotations: dict[str, str], log_dir: Path) -> str:
        config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
            hostname=name, log_directory=str(log_dir), annotations=annotations,
            linux=cri.LinuxPodSandboxConfig(security_context=cri.LinuxSandboxSecurityContext(
                namespace_options=cri.NamespaceOption(network=cri.POD, pid=cri.POD, ipc=cri.POD))))
        reply = self.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=self.timeout)
        self._pod_configs[reply.pod_sandbox_id] = config
        return reply.pod_sandbox_id

    def start_container(self, pod_id: str, name: str, image: str, command: list[str]) -> str:
        """A workload container in the pod (it shares the pod's network namespace)."""
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name, attempt=0), image=cri.ImageSpec(image=image),
            command=command, log_path=f"{name}.log",
            linux=cri.LinuxContainerConfig(security_context=cri.LinuxContainerSecurityContext(
                namespace_options=cri.NamespaceOption(network=cri.POD, pid=cri.CONTAINER, ipc=cri.POD))))
        created = self.runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=self._pod_configs[pod_id]), timeout=self.timeout)
        self.runtime.StartContainer(cri.StartContainerRequest(container_id=created.container_id),
                                    timeout=self.timeout)
        return created.container_id

    def exec(self, container_id: str, argv: list[str], timeout: int = 30) -> tuple[int, str]:
        """`kubectl exec`: run argv in the container, (exit code, stdout + stderr)."""
        reply = self.runtime.ExecSync(cri.ExecSyncRequest(container_id=container_id, cmd=argv, timeout=timeout),
                                      timeout=timeout + 30)
        return reply.exit_code, (reply.stdout + reply.stderr).decode(errors="replace")

    def pod_status(self, pod_id: str) -> Sandbox:
        reply = self.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=True),
                                              timeout=30)
        info: dict[str, Any] = json.loads(reply.info.get("info", "{}"))
        netns = ""
        for ns in (info.get("runtimeSpec") or {}).get("linux", {}).get("namespaces", []):
            if ns.get("type") == "network":
                netns = ns.get("path", "")
        network = reply.status.network
        return Sandbox(id=pod_id, state=reply.status.state, ip=network.ip,
                       additional_ips=[a.ip for a in network.additional_ips], netns=netns,
                       pid=int(info.get("pid") or 0))

    def stop_pod(self, pod_id: str) -> None:
        self.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=self.timeout)

    def remove_pod(self, pod_id: str) -> None:
        self.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=self.timeout)
        self._pod_configs.pop(pod_id, None)

    def pod_name(self, pod_id: str) -> str:
        reply = self.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=30)
        return reply.status.metadata.name

    def pod_ids(self) -> list[str]:
        return [p.id for p in self.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=30).items]


class Containerd:
    """containerd as a child process with its own config; `stop()` removes its pods first."""

    def __init__(self, root: Path, *, cni_bin_dir: Path, cni_conf_dir: Path, sandbox_image: str) -> None:
        self.root = root
        self.socket = root / "containerd.sock"
        self.config = root / "config.toml"
        self.log = root / "containerd.log"
        self.toml = config_toml(root, cni_bin_dir=cni_bin_dir, cni_conf_dir=cni_conf_dir,
                                sandbox_image=sandbox_image)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cri: CRI | None = None
        self._made_shim_root = not SHIM_SOCKET_ROOT.exists()

    def start(self, timeout: float = START_TIMEOUT) -> CRI:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self.toml)
        with self.log.open("ab") as log:  # a file: an undrained pipe would stall containerd
            self.proc = subprocess.Popen([CONTAINERD, "--config", str(self.config), "--log-level", "info"],
                                         stdout=log, stderr=log, start_new_session=True)
        cri_client = CRI(self.socket)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(grpc.RpcError):
                if self.socket.exists() and cri_client.version():
                    self.cri = cri_client
                    return cri_client
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd's CRI did not answer within {timeout}s: {self.log_tail()}")
            time.sleep(0.1)

    def ctr(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run([CTR, "--address", str(self.socket), "--namespace", CRI_NAMESPACE, *args],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", "--snapshotter", "native", str(archive))

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def shim_pids(self) -> list[int]:
        pids = []
        for pidfile in (self.root / "state").glob("io.containerd.runtime.v2.task/*/*/shim.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(pidfile.read_text().strip()))
        return pids

    def stop(self) -> None:
        """Remove every pod (so CNI DEL runs), then SIGTERM containerd and any shim left."""
        if self.cri is not None:
            for pod_id in self._pod_ids_or_none():
                with contextlib.suppress(grpc.RpcError):
                    self.cri.stop_pod(pod_id)
                    self.cri.remove_pod(pod_id)
            self.cri.close()
        shims = self.shim_pids()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        unmount_under(self.root)
        if self._made_shim_root:  # only when we made it and it is empty again
            for directory in (SHIM_SOCKET_ROOT / "s", SHIM_SOCKET_ROOT):
                with contextlib.suppress(OSError):
                    directory.rmdir()

    def _pod_ids_or_none(self) -> list[str]:
        assert self.cri is not None
        try:
            return self.cri.pod_ids()
        except grpc.RpcError:
            return []


def unmount_under(root: Path) -> None:
    """Lazily unmount whatever a crashed run left mounted below `root` (rootfs binds, shm)."""
    prefix = str(root.resolve()) + "/"
    mounts = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
