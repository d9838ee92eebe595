#!/usr/bin/env bash
# Boots Debian's cloud kernel (it has act_nat) under qemu and runs one command inside it, in a copy of this
# project, with this host's node and network tools. Prints the command's output and exits with its code.
#
#   scripts/guest/run.sh [--smp N] [--memory MB] [--timeout SECONDS] [--icount] -- COMMAND [ARG...]
#   scripts/guest/run.sh -- node --import tsx --test test/guest/tc-conformance.guest.ts
#
# qemu uses TCG (software emulation): /dev/kvm on these machines cannot run a guest. --icount makes guest time
# count executed instructions (one vCPU, 1 ns per instruction), for benchmarks that must not depend on host load. Kernel messages go to
# $SFIP_GUEST_LOG (default: a console.log in the temporary work folder, printed when the guest fails to boot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
smp=2 memory=1536 timeout=900 accel=(-accel tcg)
# Without any VEX-encoded instruction set: node in the guest died of SIGILL in two fresh-machine runs (2026-12-05),
# both times in tc.wire.guest.ts, once with plain -cpu max and once with only the AVX family off, while local runs
# passed. QEMU 7.2 moved SSE/AVX and the VEX prefix to a new TCG decoder, and V8's optimizing compiler emits VEX
# instructions whenever CPUID offers them: AVX, and also BMI1/BMI2 (andn, shlx, sarx, shrx) for plain integer code,
# which the AVX-only mitigation left on. Without them V8 uses legacy SSE and shifts, which TCG has emulated for
# much longer. Still a mitigation, not a proof: the fault was never reproduced here.
cpu=max,avx=off,avx2=off,fma=off,fma4=off,f16c=off,bmi1=off,bmi2=off,vaes=off,vpclmulqdq=off,avx-vnni=off
while [ $# -gt 0 ]; do
  case $1 in
    --smp) smp=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --icount) smp=1; accel=(-accel tcg,thread=single -icount shift=0,sleep=off); shift ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option '$1' (expected --smp, --memory, --timeout, --icount, then -- COMMAND)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run.sh: no command given after --" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox cpio mke2fs depmod; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing: run scripts/setup.sh" >&2; exit 2; }
done

kdir=$("$here/kernel.sh")
work=$(mktemp -d "${TMPDIR:-/var/tmp}/sfip-guest.XXXXXX")
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The job: the command, each argument quoted for bash, run from the project folder in the guest.
{
  echo 'set -o pipefail'
  printf '%q ' "$@"
  echo
} > "$work/job.sh"

started=$(date +%s%N)
"$here/build-image.sh" "$work" "$kdir" "$project" "$work/job.sh"
built=$(date +%s%N)
console=${SFIP_GUEST_LOG:-$work/console.log}

# Serial port 0 is the kernel console, port 1 the job's output: both files (a stdio port stalled when this script
# ran in the background); the job's file is streamed to our stdout while the guest runs.
: > "$work/job.raw"
timeout --kill-after=10 "$timeout" \
  qemu-system-x86_64 "${accel[@]}" -cpu "$cpu" -smp "$smp" -m "$memory" -nodefaults -no-user-config \
  -display none -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$work/initramfs.cpio" \
  -append "console=ttyS0 ${SFIP_GUEST_KERNEL_ARGS:-quiet loglevel=3} panic=-1" \
  -drive "file=$work/root.img,format=raw,if=virtio,snapshot=on" \
  -serial "file:$console" -serial "file:$work/job.raw" < /dev/null 2> "$work/qemu.err" &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$work/job.raw" | sed -u 's/\r$//' | grep --line-buffered -v '^SFIP_GUEST_' &
stream_pid=$!
set +e
wait "$qemu_pid"
qemu_rc=$?
wait "$stream_pid"
qemu_pid=
set -e
tr -d '\r' < "$work/job.raw" > "$work/job.out"
status=$(sed -n 's/^SFIP_GUEST_EXIT \([0-9]*\)$/\1/p' "$work/job.out" | tail -n1)
booted=$(sed -n 's/^SFIP_GUEST_BOOTED \(.*\)$/\1/p' "$work/job.out" | head -n1)
finished=$(date +%s%N)
echo "run.sh: image built in $(( (built - started) / 1000000 )) ms; guest booted after ${booted:-never}; total $(( (finished - started) / 1000000 )) ms" >&2
if [ -z "$status" ]; then
  [ "$qemu_rc" = 124 ] && echo "run.sh: the guest did not finish within ${timeout}s" >&2
  echo "run.sh: the guest ended without reporting an exit code; last console lines:" >&2
  tail -n 30 "$console" >&2 || true
  cat "$work/qemu.err" >&2 || true
  exit 125
fi
exit "$status"
