#!/usr/bin/env bash
# Builds the multus-dp runtime image offline — no base image is pulled: a Debian 12 root
# filesystem from Debian's packages (mmdebstrap), Python and the runtime's Debian dependencies,
# the project's wheel (shim and netops built) with its Python dependencies in a venv at
# /opt/multus-dp, imported into podman and, when one answers, containerd's k8s.io namespace,
# under the name the manifests use (deploy/kustomization.yaml).
#
#   scripts/build-image.sh [--tag localhost/multus-dp:0.1.0] [--no-containerd] [--force]
#
# The same layout as deploy/Containerfile (for people with a registry): `multus-dp`,
# `multus-dp-eal`, curl (probes), kmod (modprobe vfio-pci), libudev1 (pyudev) on PATH.
# Cached: the image is labelled with a hash of its inputs (package sources, this script, the
# Debian mirror's suite); a second run with the same inputs only checks. Needs root.
# env: MULTUS_DP_IMAGE_MIRROR (default: this machine's Debian mirror),
#      CONTAINERD_ADDRESS (default /run/containerd/containerd.sock).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "build-image: $*" >&2; }

TAG=$(awk '/newName:/{n=$2} /newTag:/{t=$2} END{print n ":" t}' deploy/kustomization.yaml)
IMPORT_CONTAINERD=1
FORCE=0
while (($#)); do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --no-containerd) IMPORT_CONTAINERD=0; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
done
for tool in mmdebstrap podman; do
  command -v "$tool" >/dev/null || { say "$tool missing (./setup.sh installs it)"; exit 1; }
done
[[ -x .venv/bin/pip ]] || { say ".venv missing: run ./setup.sh first"; exit 1; }

mirror=${MULTUS_DP_IMAGE_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates,curl,kmod,iproute2,libudev1,procps
key=$( {
  echo "$mirror $PACKAGES"
  cat "$0" pyproject.toml setup.py
  find multus_dp native dpdk benchmarks -type f \( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.proto' \) \
    -not -path '*/__pycache__/*' -not -name '_netops_cffi.c' | sort | xargs sha256sum
} | sha256sum | cut -c1-16)

if ((!FORCE)) && [[ $(podman image inspect --format '{{index .Labels "io.multus-dp.inputs"}}' "$TAG" 2>/dev/null) == "$key" ]]; then
  say "cached: $TAG (inputs $key)"
else
  work=$(mktemp -d /var/tmp/multus-dp-image.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  say "wheels: the project (native parts built from a clean copy) and its dependencies"
  mkdir -p "$work/src" "$work/wheels"
  # a clean copy: a developer's built binaries must not end up in the image
  tar -c --exclude=__pycache__ --exclude='multus_dp/bin' --exclude='multus_dp/_netops_cffi*' --exclude='benchmarks/results' \
      pyproject.toml setup.py README.md multus_dp native dpdk benchmarks | tar -x -C "$work/src"
  quiet() { grep -v '^WARNING: Location' || true; }   # this machine's pip config names absent mirrors
  .venv/bin/pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps -w "$work/wheels" "$work/src" 2>&1 | quiet
  .venv/bin/pip wheel -q --disable-pip-version-check -w "$work/wheels" "$work"/wheels/multus_dp-*.whl 2>&1 | quiet
  ls "$work"/wheels/multus_dp-*.whl >/dev/null
  say "root filesystem: Debian bookworm from $mirror ($PACKAGES)"
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --customize-hook='mkdir -p "$1/tmp/wheels"' \
    --customize-hook="copy-in $work/wheels/. /tmp/wheels" \
    --customize-hook='chroot "$1" python3 -m venv /opt/multus-dp' \
    --customize-hook='chroot "$1" /opt/multus-dp/bin/pip install -q --no-index --find-links /tmp/wheels multus-dp' \
    --customize-hook='for b in multus-dp multus-dp-eal; do ln -s /opt/multus-dp/bin/$b "$1/usr/local/bin/$b"; done' \
    --customize-hook='chroot "$1" multus-dp --version' \
    --customize-hook='chroot "$1" /opt/multus-dp/bin/python -c "import multus_dp._netops_cffi"' \
    --customize-hook='chroot "$1" multus-dp-eal --help >/dev/null' \
    --customize-hook='rm -rf "$1/tmp/wheels" "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm "$work/rootfs.tar" "$mirror"
  say "importing $TAG into podman"
  podman import -q \
    --change 'ENV PATH=/opt/multus-dp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["multus-dp", "--help"]' \
    --change "LABEL io.multus-dp.inputs=$key" \
    --change 'LABEL org.opencontainers.image.title=multus-dp' \
    "$work/rootfs.tar" "$TAG" >/dev/null
fi

if ((IMPORT_CONTAINERD)); then
  address=${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
  if [[ -S $address ]] && command -v ctr >/dev/null; then
    say "importing $TAG into containerd ($address, namespace k8s.io)"
    podman save -q --format docker-archive "$TAG" | ctr --address "$address" -n k8s.io images import --no-unpack - >/dev/null
  else
    say "no containerd at $address: podman only (kubelet nodes: ctr -n k8s.io images import)"
  fi
fi
podman image inspect --format '{{.Id}}' "$TAG" >/dev/null
say "ready: $TAG"
