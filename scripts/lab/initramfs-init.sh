#!/bin/busybox sh
# PID 1 of the lab initramfs: mount the host's / (9p, read-only) under a tmpfs overlay,
# the results share at /lab-out, then switch_root and run lab-init.sh there.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "LAB: init up $(cut -d' ' -f1 /proc/uptime)s"
CMD=; OVL=512m
for a in $(cat /proc/cmdline); do
  case $a in lab.cmd=*) CMD=${a#lab.cmd=};; lab.overlay=*) OVL=${a#lab.overlay=};; esac
done
for m in virtio_pci 9pnet_virtio 9p overlay; do
  grep -q "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" || modprobe $m || echo "LAB: modprobe $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host || echo "LAB: 9p host mount failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out 2>/dev/null || echo "LAB: no out share"
mount -t tmpfs -o size="$OVL" tmpfs /run
mkdir -p /run/upper /run/work
mount -t overlay -o lowerdir=/host,upperdir=/run/upper,workdir=/run/work overlay /newroot || echo "LAB: overlay failed"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
mkdir -p /newroot/dev/pts; mount -t devpts devpts /newroot/dev/pts 2>/dev/null
mount -t tmpfs tmpfs /newroot/run
# /tmp is NOT a fresh tmpfs: it stays the overlay's view of the host's /tmp (writes land in the
# tmpfs upper layer), so a checkout or venv under /tmp (a CI clone) is visible in the guest
mkdir -p /newroot/run/netns /newroot/lab /newroot/lab-out /newroot/lib/modules
# the payload (busybox, modules) must survive switch_root: copy it to a tmpfs in the new root
mount -t tmpfs tmpfs /newroot/lab
cp -a /lab/. /newroot/lab/
mount --bind /newroot/lab/lib/modules /newroot/lib/modules
mount --move /out /newroot/lab-out 2>/dev/null
exec switch_root /newroot /lab/bin/sh /lab/lab-init.sh "$CMD"
