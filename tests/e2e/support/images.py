"""Offline container images for the e2e tier: a busybox-static rootfs and a docker-archive of it.

No registry is reachable from CI, so the pod's pause image is built here: one layer holding
busybox and its applet links, a config whose command sleeps. `ctr images import` reads the
docker-archive format (manifest.json + config + layer tar) unchanged.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = os.environ.get("MULTUS_DP_E2E_BUSYBOX", "/bin/busybox")
SLEEP_FOREVER = ["/bin/sleep", "1000000"]
# Go's names for the machine, which is what an image config's `architecture` must say
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def busybox_rootfs(dest: Path, busybox: str = BUSYBOX) -> Path:
    """A minimal root filesystem: busybox-static in /bin with a link per applet (`ip`, `sh`, ...)."""
    bindir = dest / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, bindir / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = bindir / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    for directory in ("etc", "proc", "sys", "dev", "tmp", "run", "root"):
        (dest / directory).mkdir(exist_ok=True)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    return dest


def _layer_tar(rootfs: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def docker_archive(rootfs: Path, out: Path, ref: str, cmd: list[str] | None = None) -> Path:
    """Write `out` as a `docker save`-style archive of `rootfs` tagged `ref`."""
    layer = _layer_tar(rootfs)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": _GO_ARCH.get(platform.machine(), platform.machine()), "os": "linux",
        "config": {"Cmd": cmd or SLEEP_FOREVER, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [f"{layer_digest}/layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        for name, data in ((config_name, config_bytes), (f"{layer_digest}/layer.tar", layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out
