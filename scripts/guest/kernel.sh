#!/usr/bin/env bash
# Fetches Debian's cloud kernel (which builds act_nat as a module; the host kernel has no act_nat) into a
# cache, unpacks it and indexes its modules. Prints the kernel directory. Cheap when the cache is warm.
#
#   scripts/guest/kernel.sh            # prints e.g. /var/cache/sfip/guest/6.1.0-56-cloud-amd64
#
# SFIP_GUEST_CACHE overrides the cache folder (default /var/cache/sfip/guest). SFIP_GUEST_KERNEL names another
# kernel package than the newest apt knows, e.g. linux-image-6.1.0-50-cloud-amd64 (bookworm without its updates:
# docs/tc.md says why sfip's u32 table ids stay below 0x800 on it).
set -euo pipefail
cache=${SFIP_GUEST_CACHE:-/var/cache/sfip/guest}
mkdir -p "$cache"

# The exact package behind the metapackage; a glob would download every version apt knows.
resolve_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1
}

pkg=${SFIP_GUEST_KERNEL:-$(resolve_package)}
if [ -z "$pkg" ]; then
  # An empty answer usually means apt has no package lists yet; refresh once.
  apt-get update -qq >/dev/null
  pkg=$(resolve_package)
fi
if [ -z "$pkg" ]; then
  # No apt answer at all (offline): fall back to the newest kernel already in the cache.
  found=$(find "$cache" -mindepth 2 -maxdepth 2 -name .ready -printf '%h\n' 2>/dev/null | sort -V | tail -n1)
  [ -n "$found" ] || { echo "kernel.sh: apt knows no linux-image-cloud-amd64 and the cache is empty" >&2; exit 1; }
  echo "$found"
  exit 0
fi
version=${pkg#linux-image-}
dir=$cache/$version
if [ ! -f "$dir/.ready" ]; then
  rm -rf "$dir" "$cache/download"
  mkdir -p "$cache/download"
  # apt's sandbox user cannot write into a root-only cache folder; download as root without the warning.
  (cd "$cache/download" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
  mkdir -p "$dir/root"
  dpkg -x "$cache"/download/"$pkg"_*.deb "$dir/root"
  # Debian runs depmod in the package's postinst; dpkg -x does not, so build modules.dep ourselves.
  depmod -b "$dir/root" "$version"
  ln -s "root/boot/vmlinuz-$version" "$dir/vmlinuz"
  rm -rf "$cache/download"
  touch "$dir/.ready"
fi
echo "$dir"
