#!/usr/bin/env bash
# Compiles sfip's native helpers into dist/native/: the nftables set dumper that reads per-floating-IP counters and
# deletes stale conntrack entries over ctnetlink
# (native/nft-set-dump.c; needs gcc, pkg-config, libnftnl-dev and libmnl-dev, which setup.sh installs) and the
# gratuitous ARP sender (native/garp.c; libc only) and the nft applier of the per-namespace channels
# (native/nft-apply.c; links libnftables.so.1 of the nftables package) and the writer of floating addresses
# (native/local-routes.c; libc only) and the element loader of a router's first nftables apply (native/nft-load.c;
# libnftnl and libmnl) and the eBPF loader (native/bpf-load.c; libbpf). Without them sfip still works: it reads counters through
# `nft -j`, which costs more CPU, announces addresses with arping, one process per address, feeds deltas to
# `nft -i`, which costs about 4x the CPU per transaction, and installs bulk floating addresses with `ip -batch`
# (1.25-1.6 s for 100,000 instead of 0.2-0.3 s).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/native
garp=dist/native/sfip-garp
if ! [ -x "$garp" ] || ! [ "$garp" -nt native/garp.c ]; then
  gcc -O2 -Wall -Wextra -Werror -o "$garp" native/garp.c
fi
routes=dist/native/sfip-local-routes
if ! [ -x "$routes" ] || ! [ "$routes" -nt native/local-routes.c ]; then
  gcc -O2 -Wall -Wextra -Werror -o "$routes" native/local-routes.c
fi
apply=dist/native/sfip-nft-apply
if ! [ -x "$apply" ] || ! [ "$apply" -nt native/nft-apply.c ]; then
  # The library's soname: libnftables-dev (the unversioned link and header) is not needed, see nft-apply.c.
  gcc -O2 -Wall -Wextra -Werror -o "$apply" native/nft-apply.c -l:libnftables.so.1
fi
# The eBPF loader of the eBPF backend's channel (native/bpf-load.c): libbpf, which libbpf-dev (needed for the
# programs' headers anyway) installs.
loader=dist/native/sfip-bpf-load
if ! [ -x "$loader" ] || ! [ "$loader" -nt native/bpf-load.c ]; then
  gcc -O2 -Wall -Wextra -Werror -o "$loader" native/bpf-load.c -lbpf
fi
# The libnftnl helpers: the set dumper, and the element loader of first applies (native/nft-load.c).
for name in nft-set-dump nft-load; do
  out=dist/native/sfip-$name
  src=native/$name.c
  if [ -x "$out" ] && [ "$out" -nt "$src" ]; then continue; fi
  if ! flags=$(pkg-config --cflags --libs libnftnl libmnl 2>/dev/null); then
    echo "build-native: libnftnl-dev and libmnl-dev are missing (run scripts/setup.sh)" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # pkg-config output is a list of flags
  gcc -O2 -Wall -Wextra -Werror -o "$out" "$src" $flags
done
