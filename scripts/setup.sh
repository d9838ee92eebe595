#!/usr/bin/env bash
# Installs what sfip needs on a fresh Debian 12 machine (as root, with Node 20): system packages when missing,
# node modules when package-lock.json changed, and the compiled build. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, each with the files sfip runs or reads from it: scripts/packages.txt, the one list (the
# program-coverage test checks it against what a test run starts). A package is installed when a file is missing,
# so the check is cheap and does not depend on dpkg's state.
missing=()
while read -r pkg files; do
  case $pkg in '' | '#'* | '(base):') continue ;; esac
  for file in $files; do
    if [ ! -e "$file" ]; then
      missing+=("${pkg%:}")
      break
    fi
  done
done < scripts/packages.txt
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

# The sfip command on the PATH: a link to this checkout's bin/sfip (what `npm link` would do, without npm's prefix).
link=/usr/local/bin/sfip
if [ "$(readlink "$link" 2>/dev/null)" != "$PWD/bin/sfip" ]; then
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "setup: $link exists and is not a link to this checkout; left as it is (run $PWD/bin/sfip)" >&2
  else
    mkdir -p "$(dirname "$link")"
    ln -sfn "$PWD/bin/sfip" "$link"
    echo "setup: linked $link -> $PWD/bin/sfip, so 'sfip' is on the PATH"
  fi
fi

# Debian's cloud kernel for the act_nat guest (cached under /var/cache/sfip/guest; only a name look-up when cached).
bash scripts/guest/kernel.sh >/dev/null
