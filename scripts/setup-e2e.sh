#!/usr/bin/env bash
# The e2e tier (tests/e2e): real container runtimes that exec multus-dp's shim.
# containerd 1.6 (CRI, driven from Python by the `container-runtime-interface-api` client of
# the test extra), podman 4.3 with its CNI backend, runc (crun fails on this cgroup-v1 hybrid
# host), iptables for the bridge plugin, busybox-static for the rootfs and the pause image.
# Idempotent: apt-get update runs only when a package is missing. Touches nothing in /etc.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup-e2e: $*"; }

PACKAGES=(containerd runc podman conmon golang-github-containers-common catatonit iptables busybox-static)
# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh
apt_install_missing setup-e2e "${PACKAGES[@]}"

# Debian's containerd package enables and starts a system containerd where systemd runs; the
# tests start their own on temp paths, so a system one is harmless but not needed.
for bin in containerd containerd-shim-runc-v2 ctr runc podman conmon; do
  command -v "$bin" >/dev/null || { say "$bin missing after install" >&2; exit 1; }
done

if ! .venv/bin/python -c 'import cri_api.v1' 2>/dev/null; then
  say "installing the test extra (container-runtime-interface-api)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import cri_api.v1' || { say "the CRI client did not install" >&2; exit 1; }
fi
