#!/usr/bin/env bash
# DPDK and the vFW: Debian's DPDK (dpdk: dpdk-testpmd and the PMDs; dpdk-dev: headers and
# pkg-config libdpdk) and multus-dp-vfw built from dpdk/vfw into dpdk/vfw/build/multus-dp-vfw
# (the path the integration tests, the QEMU lab guest and docs/vfw.md use). Idempotent: apt
# only when a package is missing, make only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup-dpdk: $*"; }

PACKAGES=(dpdk dpdk-dev pkg-config make gcc libc6-dev)
# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh
apt_install_missing setup-dpdk "${PACKAGES[@]}"
pkg-config --exists libdpdk || { say "pkg-config does not find libdpdk after installing dpdk-dev" >&2; exit 1; }

if ! out=$(make -C dpdk/vfw 2>&1); then
  echo "$out" >&2
  say "building dpdk/vfw failed" >&2
  exit 1
fi
grep -q 'warning:' <<<"$out" && echo "$out" | grep 'warning:' >&2
test -x dpdk/vfw/build/multus-dp-vfw || { say "dpdk/vfw/build/multus-dp-vfw missing after make" >&2; exit 1; }
