# Sourced by every guest command (see labvm.py): loads the NIC/VFIO modules, starts
# systemd-udevd, finds the emulated igb PF and exports what the lab tests read:
#   MULTUS_DP_LAB=1  MULTUS_DP_LAB_PF=<PF netdev>  MULTUS_DP_LAB_PF_BDF=<PF PCI address>
# The PF is left with sriov_numvfs=0 and its link up. Prints "LAB: ..." lines on the console.
lab_uptime() { cut -d' ' -f1 /proc/uptime; }
modprobe -a igb igbvf vfio-pci vfio_iommu_type1 veth 8021q bridge macvlan dummy ||
  echo "LAB: modprobe failed"
# udevd rebroadcasts kernel uevents as udev events (what the hardware module's watcher reads)
# and renames netdevs as on a real node (enp1s0, enp1s0v0, ...)
if [ -x /lib/systemd/systemd-udevd ]; then
  /lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null || echo "LAB: systemd-udevd failed"
  udevadm trigger --type=devices --action=add --subsystem-match=pci --subsystem-match=net 2>/dev/null
  udevadm settle --timeout="${MULTUS_DP_LAB_SETTLE_TIMEOUT:-20}" 2>/dev/null || echo "LAB: udevadm settle timed out"
fi
MULTUS_DP_LAB_PF_BDF=; MULTUS_DP_LAB_PF=
lab_i=0
while [ $lab_i -lt 100 ]; do   # igb probes asynchronously: wait up to ~10 s for the netdev
  for lab_dev in /sys/bus/pci/drivers/igb/0000:*; do
    [ -d "$lab_dev/net" ] || continue
    MULTUS_DP_LAB_PF_BDF=$(basename "$lab_dev")
    MULTUS_DP_LAB_PF=$(ls "$lab_dev/net" | head -1)
  done
  [ -n "$MULTUS_DP_LAB_PF" ] && break
  lab_i=$((lab_i + 1)); sleep 0.1
done
if [ -n "$MULTUS_DP_LAB_PF" ]; then
  ip link set "$MULTUS_DP_LAB_PF" up
  echo "LAB: PF $MULTUS_DP_LAB_PF at $MULTUS_DP_LAB_PF_BDF, totalvfs $(cat /sys/bus/pci/devices/$MULTUS_DP_LAB_PF_BDF/sriov_totalvfs), ready $(lab_uptime)s"
else
  echo "LAB: no igb PF found"
fi
export MULTUS_DP_LAB=1 MULTUS_DP_LAB_PF MULTUS_DP_LAB_PF_BDF
