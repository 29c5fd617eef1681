#!/usr/bin/env bash
# Sets up the QEMU SR-IOV lab (tests/lab): qemu-system-x86 from bookworm-backports (QEMU >= 8.1
# emulates the igb NIC with SR-IOV), the Debian kernel as an uncompressed vmlinux, and the lab
# initramfs. Idempotent: the build lives in $MULTUS_DP_LAB_CACHE/builds/<key>, keyed by a hash
# of every input (package versions, build scripts); a second run with the same inputs only checks.
# env: MULTUS_DP_LAB_CACHE (default /var/cache/multus-dp-lab), MULTUS_DP_LAB_SKIP_SETUP=1 skips.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/lab
CACHE=${MULTUS_DP_LAB_CACHE:-/var/cache/multus-dp-lab}
export DEBIAN_FRONTEND=noninteractive
say() { echo "setup-lab: $*"; }

if [[ ${MULTUS_DP_LAB_SKIP_SETUP:-0} == 1 ]]; then say "skipped (MULTUS_DP_LAB_SKIP_SETUP=1)"; exit 0; fi

apt_updated=0
apt_update() { ((apt_updated)) || { say "apt-get update"; apt-get update -qq; apt_updated=1; }; }

# 1. bookworm-backports, derived from the machine's own Debian mirror
if ! apt-cache policy 2>/dev/null | grep 'bookworm-backports' >/dev/null; then
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk '$1=="deb" && /bookworm/{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  uri=${uri:-http://deb.debian.org/debian}
  say "adding bookworm-backports from $uri"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" > /etc/apt/sources.list.d/multus-dp-lab-backports.sources
  apt_update
fi

# 2. qemu with the igb device (bookworm's 7.2 lacks it)
if ! { command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 -device help 2>/dev/null | grep '"igb"' >/dev/null; }; then
  say "installing qemu-system-x86 from bookworm-backports"
  apt-cache policy qemu-system-x86 | grep bookworm-backports >/dev/null || apt_update
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi

# 3. host tools the build and the guest use (the guest's root is the host's /, so it runs the
#    host's own kmod and systemd-udevd; only the static busybox goes into the initramfs)
need=()
for p in busybox-static kmod udev xz-utils zstd; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"; apt_update
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 4. the cache key: the kernel package apt would install, tool versions, the build scripts
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [[ -z $kpkg ]]; then apt_update; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}'); fi
kver_pkg=$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2}')
kv=${kpkg#linux-image-}
key=$( {
  echo "$kpkg=$kver_pkg"
  dpkg-query -W -f='${Package}=${Version}\n' busybox-static kmod
  echo "LAB_MODULES=${LAB_MODULES:-}"
  cat "$LAB/build-initramfs.sh" "$LAB/initramfs-init.sh" "$LAB/lab-init.sh" "$LAB/module_closure.py" "$LAB/extract_vmlinux.py"
} | sha256sum | cut -c1-16)
build=$CACHE/builds/$key
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9     # two setups at once (shared machines) build one after the other
if [[ -f $build/ready ]]; then
  ln -sfn "builds/$key" "$CACHE/current"
  say "cached: $build ($kpkg)"
  exit 0
fi

# 5. build: download and unpack the kernel, extract vmlinux, build the initramfs
say "building $build ($kpkg $kver_pkg)"
mkdir -p "$CACHE/debs" "$CACHE/builds"
work=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
deb=$(ls "$CACHE/debs/${kpkg}_${kver_pkg//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
if [[ -z $deb ]]; then
  (cd "$CACHE/debs" && apt-get download -q "$kpkg=$kver_pkg" 2>&1 | grep -v unsandboxed || true)
  deb=$(ls "$CACHE/debs/${kpkg}_"*.deb | head -1)
fi
dpkg-deb -x "$deb" "$work/kernel"
depmod -b "$work/kernel" "$kv"
mkdir -p "$work/out"
/usr/bin/python3 "$LAB/extract_vmlinux.py" "$work/kernel/boot/vmlinuz-$kv" "$work/out/vmlinux"
"$LAB/build-initramfs.sh" "$work/kernel" "$kv" "$work/out/initrd.gz"
printf 'KV=%s\nKERNEL_PACKAGE=%s=%s\nKEY=%s\n' "$kv" "$kpkg" "$kver_pkg" "$key" > "$work/out/lab.env"
touch "$work/out/ready"
rm -rf "$build"; mv "$work/out" "$build"
ln -sfn "builds/$key" "$CACHE/current"
# keep only the current build and its kernel .deb
find "$CACHE/builds" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
find "$CACHE/debs" -name '*.deb' ! -name "${kpkg}_*" -delete
say "ready: $build/vmlinux $build/initrd.gz"
