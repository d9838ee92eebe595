#!/usr/bin/env bash
# Compiles the eBPF dataplane's programs (bpf/*.c) into dist/bpf/*.o with Debian's clang and libbpf headers.
# Called by `npm run build` (and so by scripts/setup.sh). The objects are build output, never committed.
# Without clang the eBPF backend is unavailable, nothing else is: the build goes on and `sfip doctor` says why.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/bpf
if ! command -v clang >/dev/null 2>&1; then
  echo "build-bpf: clang not found: the eBPF dataplane will be unavailable (Debian packages clang, libbpf-dev)" >&2
  exit 0
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: /usr/include/bpf/bpf_helpers.h not found: the eBPF dataplane will be unavailable (Debian package libbpf-dev)" >&2
  exit 0
fi
mkdir -p "$out"
# -target bpf does not search the multiarch include folder, where Debian keeps <asm/types.h>.
multiarch=$(clang -print-multiarch 2>/dev/null || true)
# -mcpu=v3: the QoS token buckets update their shared word with compare-and-swap (BPF_CMPXCHG, kernel 5.12+).
build() { # source, object, extra flags
  clang -O2 -g -Wall -Werror -target bpf -mcpu=v3 ${multiarch:+-I/usr/include/$multiarch} "${@:3}" -c "$1" -o "$2.tmp"
  mv "$2.tmp" "$2"
}
for src in bpf/*.c; do
  build "$src" "$out/$(basename "${src%.c}").o"
done
# The same programs without the fast path, for kernels whose tc programs lack its helpers (fast-path.ts).
build bpf/sfip_nat.c "$out/sfip_nat_tc.o" -DSFIP_NO_FAST_PATH
# The fast path with bpf_redirect only, for kernels whose tc programs lack bpf_redirect_peer (fast-path.ts).
build bpf/sfip_nat.c "$out/sfip_nat_nopeer.o" -DSFIP_NO_REDIRECT_PEER
