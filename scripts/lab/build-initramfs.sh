#!/bin/bash
# Build the busybox initramfs of the SR-IOV lab guest: static busybox, the kernel module
# closure the lab needs (igb, igbvf, vfio-pci, 9p, overlay, ...), and the two init scripts.
# Usage: build-initramfs.sh KDIR KVER OUT.cpio.gz
#   KDIR  where the linux-image .deb was `dpkg -x`ed (has lib/modules/KVER)
# env: BB (static busybox, default /bin/busybox from busybox-static), LAB_MODULES
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KDIR=$1; KV=$2; OUT=$3
BB=${BB:-/bin/busybox}
# netfilter: the bridge/portmap CNI plugins program iptables (nft backend) in pod tests;
# crc32c_generic is libcrc32c's soft dependency (modules.dep does not list it)
LAB_MODULES=${LAB_MODULES:-"virtio_pci 9pnet_virtio 9p overlay igb igbvf e1000e vfio-pci vfio_iommu_type1 veth 8021q dummy macvlan ipvlan bridge psample nf_tables nft_compat nft_chain_nat nft_masq xt_MASQUERADE xt_comment xt_multiport xt_addrtype xt_conntrack xt_mark iptable_nat iptable_filter ip6table_filter ip6table_nat br_netfilter crc32c_generic"}
MD=$KDIR/lib/modules/$KV
[ -f "$MD/modules.dep" ] || depmod -b "$KDIR" "$KV"

R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,proc,sys,dev,run,host,out,newroot,lab/bin,lib}
cp "$BB" "$R/bin/busybox"
cp "$BB" "$R/lab/bin/busybox"
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$R/lab/bin/$a"; done
# after switch_root the host's own kmod (on the 9p root) loads modules; drop busybox's
rm -f "$R"/lab/bin/{modprobe,depmod,modinfo,insmod,rmmod,lsmod}

LM=$R/lab/lib/modules/$KV
/usr/bin/python3 "$HERE/module_closure.py" "$MD" $LAB_MODULES | while read -r p; do
  mkdir -p "$LM/$(dirname "$p")"
  case $p in
    *.ko.xz) xz -dc "$MD/$p" > "$LM/${p%.xz}";;      # backports kernels ship .ko.xz
    *)       cp "$MD/$p" "$LM/$p";;
  esac
done
cp "$MD"/modules.builtin* "$MD"/modules.order "$LM/"
depmod -b "$R/lab" "$KV"
ln -s ../lab/lib/modules "$R/lib/modules"     # early userspace uses the same tree
install -m 0755 "$HERE/initramfs-init.sh" "$R/init"
install -m 0755 "$HERE/lab-init.sh" "$R/lab/lab-init.sh"
(cd "$R" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT"
