#!/usr/bin/env bash
# Installs what sfip needs on a fresh Debian 12 machine (as root, with Node 20): system packages when missing,
# node modules when package-lock.json changed, and the compiled build. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a file it provides, so the check is cheap and does not depend on dpkg's state.
declare -A PACKAGES=(
  [nftables]=/usr/sbin/nft
  [iproute2]=/usr/sbin/ip
  [conntrack]=/usr/sbin/conntrack
  [iptables]=/usr/sbin/iptables-restore
  [iputils-ping]=/usr/bin/ping
  [iputils-arping]=/usr/bin/arping
  [etcd-server]=/usr/bin/etcd
  [iperf3]=/usr/bin/iperf3
  [procps]=/usr/sbin/sysctl
  [util-linux]=/usr/bin/setpriv
  [curl]=/usr/bin/curl
  [tcpdump]=/usr/bin/tcpdump
  [netsniff-ng]=/usr/sbin/trafgen
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  [python3]=/usr/bin/python3
  [make]=/usr/bin/make
  [g++]=/usr/bin/g++
  [gcc]=/usr/bin/gcc
  [pkg-config]=/usr/bin/pkg-config
  [libnftnl-dev]=/usr/include/libnftnl/set.h
  [libmnl-dev]=/usr/include/libmnl/libmnl.h
  [chromium]=/usr/bin/chromium
  # eBPF dataplane: compile bpf/*.c at build time, load and pin with bpftool, attach with tc inside nsenter.
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llc
  [libbpf-dev]=/usr/include/bpf/bpf_helpers.h
  [linux-libc-dev]=/usr/include/linux/bpf.h
  [bpftool]=/usr/sbin/bpftool
  [util-linux]=/usr/bin/nsenter
  # Tests turn checksum offloads off so that receivers verify the checksums the programs patched.
  [ethtool]=/usr/sbin/ethtool
  # The real openstack CLI and openstacksdk, driven by the API compatibility tests.
  [python3-openstackclient]=/usr/bin/openstack
  # The tc backend, and the act_nat guest its tests boot (scripts/guest/).
  [ipset]=/usr/sbin/ipset
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [busybox-static]=/bin/busybox
  [cpio]=/usr/bin/cpio
  [kmod]=/usr/sbin/depmod
  [e2fsprogs]=/usr/sbin/mke2fs
)
missing=()
for pkg in "${!PACKAGES[@]}"; do
  [ -e "${PACKAGES[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: sfip needs Node 20 or newer, found $(node -v)" >&2
  exit 1
fi

# Reinstall node modules only when the lock file changed since the last install.
stamp=node_modules/.sfip-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing node modules (better-sqlite3 compiles from source, about two minutes)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Pinned BPF maps and programs live in bpffs. systemd mounts it on most machines; containers and bare VMs may not.
if ! grep -qs '^[^ ]* /sys/fs/bpf bpf ' /proc/mounts; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: could not mount bpffs on /sys/fs/bpf: the eBPF dataplane will be unavailable" >&2
fi

npm run --silent build

# Debian's cloud kernel for the act_nat guest (cached under /var/cache/sfip/guest; only a name look-up when cached).
bash scripts/guest/kernel.sh >/dev/null
