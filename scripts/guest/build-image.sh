#!/usr/bin/env bash
# Builds what the guest boots: a tiny initramfs (busybox + virtio modules) and an ext4 root image holding
# this host's own tools, node, the project and the Debian kernel's modules. The cloud kernel has no 9p
# (CONFIG_NET_9P is not set), so the host's root cannot simply be shared; mke2fs -d copies files instead.
#
#   build-image.sh WORKDIR KERNEL_DIR PROJECT_DIR JOB_SCRIPT
set -euo pipefail
work=$1 kdir=$2 project=$3 job=$4
here=$(cd "$(dirname "$0")" && pwd)
version=$(basename "$(readlink -f "$kdir")")
kroot=$kdir/root
stage=$work/stage
rm -rf "$stage" "$work/initramfs" && mkdir -p "$stage" "$work/initramfs"

# --- Stage 1: initramfs ------------------------------------------------------------------------------
mkdir -p "$work/initramfs/bin" "$work/initramfs/modules"
cp /bin/busybox "$work/initramfs/bin/busybox"
cp "$here/initramfs-init.sh" "$work/initramfs/init"
# modprobe --show-depends lists insmod lines in load order, dependencies first.
for module in virtio_pci virtio_blk; do
  modprobe -d "$kroot" -S "$version" --show-depends "$module"
done | awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$work/initramfs/modules/"
  basename "$ko" >> "$work/initramfs/modules/order"
done
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"

# --- Stage 2: root image -----------------------------------------------------------------------------
# Debian 12 is merged-/usr: keep the same layout so that paths in binaries and ld.so resolve unchanged.
mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,root,proc,sys,dev,run,tmp,var,sfip}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$stage/$d"; done
ln -s ../run "$stage/var/run"

# Copies a file to the same path in the image, with its folder's symlinks resolved and the file itself
# dereferenced (the name a loader or PATH looks up must exist as that name).
copy_path() {
  local dir dst
  dir=$(readlink -f "$(dirname "$1")")
  dst=$stage$dir/$(basename "$1")
  [ -e "$dst" ] && return 0
  mkdir -p "$stage$dir"
  cp -L "$1" "$dst"
}
copy_with_libraries() {
  local file=$1
  copy_path "$file"
  # ldd fails on files it cannot load (an addon's prebuilt binary for another architecture): nothing to add then.
  { ldd "$file" 2>/dev/null || true; } | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
    copy_path "$lib"
  done
}

# The tools sfip and its tests call. A tool missing on the host is skipped here and fails loudly in the guest.
tools=(bash sh env node ip ss tc nft conntrack sysctl arping ping traceroute tcpdump trafgen iperf3 socat nc
  iptables iptables-save iptables-restore iptables-nft iptables-nft-save iptables-nft-restore
  iptables-legacy iptables-legacy-save iptables-legacy-restore xtables-nft-multi xtables-legacy-multi
  modprobe insmod lsmod stty mount umount ipset setpriv nsenter)
for tool in "${tools[@]}"; do
  path=$(command -v "$tool" || true)
  [ -n "$path" ] && copy_with_libraries "$path"
done
# iptables loads its matches and targets from plugin libraries; tc reads distribution tables.
for dir in /usr/lib/x86_64-linux-gnu/xtables /usr/lib/tc /etc/iproute2; do
  [ -d "$dir" ] && mkdir -p "$stage$dir" && cp -a "$dir/." "$stage$dir/"
done
for so in /usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_with_libraries "$so"; done
for f in /etc/ld.so.conf /etc/ld.so.conf.d/*.conf /etc/passwd /etc/group /etc/hosts /etc/protocols /etc/services /etc/ethertypes /etc/nsswitch.conf; do
  [ -e "$f" ] && mkdir -p "$stage$(dirname "$f")" && cp -L "$f" "$stage$f"
done

# Busybox fills in the small utilities (cat, sleep, ps...) last in PATH, behind the real tools.
mkdir -p "$stage/usr/local/busybox"
cp /bin/busybox "$stage/usr/local/busybox/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$stage/usr/local/busybox/$applet" ] || ln -s busybox "$stage/usr/local/busybox/$applet"
done

# Kernel modules, indexed by kernel.sh.
mkdir -p "$stage/usr/lib/modules"
cp -a "$kroot/lib/modules/$version" "$stage/usr/lib/modules/"
cp "$here/guest-modules.list" "$stage/sfip/modules.list"

# The project: sources, tests, scripts and node_modules, as they are on the host right now. Hard links when
# the work folder shares a file system with the project, so staging costs no copying.
mkdir -p "$stage/sfip/project"
for entry in package.json tsconfig.json src test bench scripts bin dist node_modules; do
  [ -e "$project/$entry" ] || continue
  cp -al "$project/$entry" "$stage/sfip/project/" 2>/dev/null || cp -a "$project/$entry" "$stage/sfip/project/"
done
# Native addons (better-sqlite3) need their shared libraries too.
find "$project/node_modules" -name '*.node' -type f | while read -r addon; do copy_with_libraries "$addon"; done

cp "$here/guest-init.sh" "$stage/sfip/init"
cp "$job" "$stage/sfip/job.sh"
ldconfig -r "$stage" 2>/dev/null || true

size_mb=$(( $(du -sm "$stage" | cut -f1) * 5 / 4 + 64 ))
rm -f "$work/root.img"
mke2fs -q -F -t ext4 -O ^has_journal -L sfip-guest -d "$stage" "$work/root.img" "${size_mb}M" >/dev/null
rm -rf "$stage"
