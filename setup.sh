#!/usr/bin/env bash
# Sets up everything multus-dp and its tests need on a fresh Debian 12 machine (as root):
# Debian packages, a venv in .venv with the package (its native parts built) and test deps.
# Idempotent; a second run only checks.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  containernetworking-plugins iproute2 iputils-ping procps kmod curl ca-certificates
  busybox-static libudev1 udev gcc libc6-dev python3-venv python3-dev
)

# shellcheck source=scripts/lib/apt.sh
. scripts/lib/apt.sh
apt_install_missing setup "${APT_PACKAGES[@]}"

# The real interpreter, not a pyenv shim (which costs 100+ ms per start).
PY=/usr/bin/python3
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -U pip setuptools wheel 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import multus_dp' || { echo "setup: package install failed" >&2; exit 1; }

for extra in scripts/setup-*.sh; do
  [[ -e "$extra" ]] && bash "$extra"
done
echo "setup: done (.venv/bin/multus-dp)"
