#!/bin/bash
# Stage 2, PID 1 inside the guest's root image: mount the usual filesystems, load the kernel modules sfip's
# dataplanes need, run the job written by run.sh, report its exit code on the job port and power off.
# Job output goes to the second serial port (/dev/ttyS1), kept apart from kernel messages on the console.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/usr/local/busybox
export HOME=/root LC_ALL=C TERM=dumb
mount -t devtmpfs dev /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
mkdir -p /dev/pts /dev/shm /sys/fs/bpf
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
hostname sfip-guest
ip link set lo up

# The kernel also loads modules on demand through /sbin/modprobe; loading the list explicitly makes a
# missing module fail loudly here instead of as a puzzling tc or iptables error later.
while read -r module; do
  [ -n "$module" ] && { modprobe "$module" || echo "guest-init: modprobe $module failed" >&2; }
done < /sfip/modules.list

job=/dev/ttyS1
stty -F "$job" raw -echo 2>/dev/null
echo "SFIP_GUEST_BOOTED $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)" > "$job"
cd /sfip/project
bash /sfip/job.sh > "$job" 2>&1 < /dev/null
rc=$?
echo "SFIP_GUEST_EXIT $rc" > "$job"
sync
# qemu runs with -no-reboot, so a reset ends it.
reboot -f
