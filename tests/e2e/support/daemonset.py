"""deploy/multus-dp/daemonset.yaml run for real with podman, as the kubelet would run it.

The manifest is read, not copied: each init container runs to completion in order, then the
containers start; every container gets the pod's host network/PID, privileges, env (fieldRefs
resolved as the kubelet resolves them, `$(VAR)` expanded in command and args), volumes
(hostPath, configMap, emptyDir) and the service-account mount the kubelet adds. Host paths that
would be unsafe to use on a test machine are pointed at private dirs (`redirect`); the others
(/sys, /run/netns, /run/multus-dp, /dev/vfio, /lib/modules, / as /hostroot) are the real ones.
"""
from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class DaemonSetPod:
    def __init__(self, daemonset: dict[str, Any], image: str, root: Path, *, node_name: str, pod_ip: str,
                 redirect: dict[str, Path], configmaps: dict[str, dict[str, str]], service_account: Path,
                 kube_env: dict[str, str]) -> None:
        self.doc = daemonset
        self.spec: dict[str, Any] = self.doc["spec"]["template"]["spec"]
        self.image = image
        self.root = root
        self.node_name = node_name
        self.pod_ip = pod_ip
        self.redirect = redirect
        self.service_account = service_account
        self.kube_env = kube_env
        self.prefix = f"mdp-ds-{uuid.uuid4().hex[:8]}"
        self.started: list[str] = []
        self.configmap_dirs = {name: self._write_configmap(name, data) for name, data in configmaps.items()}

    # ---- the pod spec ----------------------------------------------------------------------
    def container(self, name: str) -> dict[str, Any]:
        for c in [*self.spec.get("initContainers", []), *self.spec["containers"]]:
            if c["name"] == name:
                return dict(c)
        raise KeyError(name)

    @property
    def init_names(self) -> list[str]:
        return [c["name"] for c in self.spec.get("initContainers", [])]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.spec["containers"]]

    def host_path(self, volume_name: str) -> Path:
        """Where a volume lives on this host (after redirection)."""
        volume = next(v for v in self.spec["volumes"] if v["name"] == volume_name)
        if "hostPath" in volume:
            path = volume["hostPath"]["path"]
            return self.redirect.get(path, Path(path))
        if "configMap" in volume:
            return self.configmap_dirs[volume["configMap"]["name"]]
        if "emptyDir" in volume:
            return self.root / "emptydir" / volume_name
        raise ValueError(f"volume {volume_name}: unsupported source {sorted(volume)}")

    def _write_configmap(self, name: str, data: dict[str, str]) -> Path:
        directory = self.root / "configmaps" / name
        directory.mkdir(parents=True, exist_ok=True)
        for key, value in data.items():
            (directory / key).write_text(value)
        return directory

    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        env = dict(self.kube_env)   # the kubelet's KUBERNETES_SERVICE_* for every container
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = _expand(item["value"], env)
                continue
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            env[item["name"]] = {"spec.nodeName": self.node_name, "status.podIP": self.pod_ip,
                                 "metadata.namespace": self.doc["metadata"]["namespace"]}[field]
        return env

    def _mounts(self, container: dict[str, Any]) -> list[str]:
        args = ["-v", f"{self.service_account}:{SA_MOUNT}:ro"]
        for mount in container.get("volumeMounts", []):
            source = self.host_path(mount["name"])
            volume = next(v for v in self.spec["volumes"] if v["name"] == mount["name"])
            kind = (volume.get("hostPath") or {}).get("type", "")
            if kind == "DirectoryOrCreate" or "emptyDir" in volume:
                source.mkdir(parents=True, exist_ok=True)
            elif kind == "Directory" and not source.is_dir():   # the kubelet refuses such a pod
                raise FileNotFoundError(f"hostPath {source} (volume {mount['name']}, type Directory) does not exist")
            options = ["ro"] if mount.get("readOnly") else []
            if mount.get("mountPropagation") == "HostToContainer":
                options.append("rslave")
            args += ["-v", f"{source}:{mount['mountPath']}" + (":" + ",".join(options) if options else "")]
        return args

    def podman_args(self, name: str) -> list[str]:
        container = self.container(name)
        env = self._env(container)
        args = [*ULIMITS, "--runtime", "runc"]
        if self.spec.get("hostNetwork"):
            args += ["--network", "host"]
        if self.spec.get("hostPID"):
            args += ["--pid", "host"]
        if (container.get("securityContext") or {}).get("privileged"):
            args.append("--privileged")
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        args += self._mounts(container)
        command = [_expand(c, env) for c in container.get("command", [])]
        if command:
            args += ["--entrypoint", json.dumps(command)]
        args.append(container.get("image") or self.image)
        args += [_expand(a, env) for a in container.get("args", [])]
        return args

    # ---- running it ------------------------------------------------------------------------
    def run_init(self, name: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return podman("run", "--rm", "--name", f"{self.prefix}-{name}", *self.podman_args(name), timeout=timeout)

    def start(self, name: str) -> None:
        proc = podman("run", "-d", "--name", f"{self.prefix}-{name}", *self.podman_args(name))
        if proc.returncode != 0:
            raise RuntimeError(f"podman run {name}: {proc.stderr.strip()}")
        self.started.append(name)

    def exec(self, name: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", f"{self.prefix}-{name}", *argv, timeout=timeout)

    def probe(self, name: str, kind: str) -> subprocess.CompletedProcess[str]:
        """Run the container's readiness/liveness probe command as the kubelet does."""
        return self.exec(name, self.container(name)[kind]["exec"]["command"])

    def logs(self, name: str) -> str:
        proc = podman("logs", f"{self.prefix}-{name}")
        return proc.stdout + proc.stderr

    def running(self, name: str) -> bool:
        proc = podman("inspect", "--format", "{{.State.Running}}", f"{self.prefix}-{name}")
        return proc.stdout.strip() == "true"

    def stop(self) -> None:
        """What the kubelet does when the DaemonSet is deleted: SIGTERM, then the grace period."""
        grace = str(self.spec.get("terminationGracePeriodSeconds", 30))
        for name in reversed(self.started):
            podman("stop", "-t", grace, f"{self.prefix}-{name}", timeout=float(grace) + 30)
            podman("rm", "-f", f"{self.prefix}-{name}")
        self.started.clear()


def manifest_objects(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def daemonset_in(path: Path) -> dict[str, Any]:
    (found,) = [d for d in manifest_objects(path) if d["kind"] == "DaemonSet"]
    return found


def configmaps_in(*paths: Path) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: dict(d["data"]) for p in paths for d in manifest_objects(p)
            if d["kind"] == "ConfigMap"}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


def _expand(value: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion in env values, command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)
