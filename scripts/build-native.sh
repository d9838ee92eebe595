#!/usr/bin/env bash
# Compiles sfip's one native helper, the nftables set dumper that reads per-floating-IP counters
# (native/nft-set-dump.c), into dist/native/. Needs gcc, pkg-config, libnftnl-dev and libmnl-dev (setup.sh
# installs them). Without the helper sfip still works: it reads counters through `nft -j`, which costs more CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/native/sfip-nft-set-dump
src=native/nft-set-dump.c
mkdir -p dist/native
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then exit 0; fi
if ! flags=$(pkg-config --cflags --libs libnftnl libmnl 2>/dev/null); then
  echo "build-native: libnftnl-dev and libmnl-dev are missing (run scripts/setup.sh)" >&2
  exit 1
fi
# shellcheck disable=SC2086 # pkg-config output is a list of flags
gcc -O2 -Wall -Wextra -Werror -o "$out" "$src" $flags
