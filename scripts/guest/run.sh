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
smp=2 memory=1536 timeout=900 accel=(-accel tcg,thread=single)
# One vCPU thread and a CPU model with nothing beyond SSE3: node in the guest died of SIGILL, at random, in three
# runs on a loaded host (two fresh-machine runs and CI, 2026-12-05; never in a run alone), in a different test file
# each time, first with -cpu max and then with every VEX set (AVX, BMI, FMA) off. Two causes fit a fault that moves
# with timing, and each setting removes one:
# - QEMU 7.2 decodes SSSE3/SSE4 (the 0F38 and 0F3A opcode maps) and VEX with a decoder new in that release, and V8
#   emits those instructions in optimized code only when CPUID offers them, so which ones run depends on what got
#   optimized when. qemu64 offers none of them; Debian 12 and node's builds target plain x86-64.
# - With several vCPU threads (MTTCG), one vCPU executes code that V8's compiler threads on another just wrote.
#   thread=single runs the vCPUs in turn: two vCPUs still, one host thread.
# run.sh prints the kernel's own lines about stopped processes (trap, segfault, OOM) after a failed job.
cpu=qemu64
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
if grep -q '^SFIP_GUEST_KERNEL ' "$work/job.out"; then
  echo "run.sh: the guest kernel reported:" >&2
  sed -n 's/^SFIP_GUEST_KERNEL /  /p' "$work/job.out" >&2
fi
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
