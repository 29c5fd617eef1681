#!/lab/bin/sh
# PID 1 after switch_root: run the requested command, record its status, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/lab/bin
echo "LAB: shell ready $(cut -d' ' -f1 /proc/uptime)s"
cd /tmp
if [ -n "$1" ]; then /bin/sh "$1"; rc=$?; else setsid cttyhack sh; rc=$?; fi
echo "LAB-RC=$rc"
echo $rc > /lab-out/rc 2>/dev/null
sync
poweroff -f
