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
# devtmpfs has no /dev/fd: bash process substitution and some tools need it.
ln -sf /proc/self/fd /dev/fd
mount -t tmpfs shm /dev/shm
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
hostname sfip-guest
ip link set lo up

# The kernel also loads modules on demand through /sbin/modprobe; loading the list explicitly makes a
# missing module fail loudly here instead of as a puzzling tc or iptables error later. One modprobe for all.
modules=$(grep -v '^#' /sfip/modules.list)
# shellcheck disable=SC2086 # one module name per word
modprobe -a $modules || echo "guest-init: modprobe -a failed for some of:" $modules >&2

job=/dev/ttyS1
# clocal: opening the port must not wait for a carrier signal.
stty -F "$job" clocal raw -echo || echo "guest-init: stty on $job failed" >&2
echo "guest-init: starting the job" >&2
echo "SFIP_GUEST_BOOTED $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)" > "$job"
cd /sfip/project
bash /sfip/job.sh > "$job" 2>&1 < /dev/null
rc=$?
# What the kernel said about processes it stopped (an invalid opcode, a segfault, the OOM killer): a test file that
# died of a signal leaves only the signal's name in the test report. run.sh prints these lines on its stderr.
dmesg 2>/dev/null | grep -E 'traps:|invalid opcode|segfault|general protection|Out of memory|oom-kill|Killed process' \
  | tail -n 40 | sed 's/^/SFIP_GUEST_KERNEL /' > "$job"
echo "SFIP_GUEST_EXIT $rc" > "$job"
sync
# qemu runs with -no-reboot, so a reset ends it.
reboot -f
