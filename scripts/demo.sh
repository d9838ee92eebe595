#!/usr/bin/env bash
# The demo: builds the lab, starts `sfip serve`, creates a floating IP with the CLI and shows real traffic reaching a
# VM through it with zero conntrack entries, while a VM without one leaves through shared SNAT.
#   scripts/demo.sh up     (npm run demo)
#   scripts/demo.sh down   (npm run demo:down)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=/var/lib/sfip-demo
PORT=9696
export SFIP_URL="http://127.0.0.1:$PORT"
sfip() { "$ROOT/bin/sfip" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }

stop_server() {
  if [ -f "$STATE/serve.pid" ] && kill -0 "$(cat "$STATE/serve.pid")" 2>/dev/null; then
    kill "$(cat "$STATE/serve.pid")"
    for _ in $(seq 50); do kill -0 "$(cat "$STATE/serve.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE/serve.pid"
}

# SFIP_DEMO_FAIL_AT=serve|lab makes the demo fail right after that step: how the clean-up on failure is checked.
fail_here() {
  if [ "${SFIP_DEMO_FAIL_AT:-}" = "$1" ]; then
    echo "SFIP_DEMO_FAIL_AT=$1: failing here on purpose" >&2
    return 1
  fi
}

failed() {
  local rc=$?
  trap - EXIT
  [ "$rc" = 0 ] && return 0
  echo >&2
  echo "The demo failed (exit $rc). The daemon's last log lines ($STATE/serve.log):" >&2
  tail -n 20 "$STATE/serve.log" 2>/dev/null | sed 's/^/  /' >&2 || true
  echo "Stopping what the demo started: the lab's namespaces and the daemon." >&2
  sfip lab down >/dev/null 2>&1 || true
  for ns in $(ip netns list | awk '/^sfip-r1/ {print $1}'); do ip netns del "$ns" || true; done
  stop_server || true
  echo "Stopped. The log stays in $STATE/serve.log until 'npm run demo:down' or the next 'npm run demo'." >&2
  exit "$rc"
}

down() {
  if curl -sf -o /dev/null "$SFIP_URL/healthz"; then sfip lab down || true; else
    # No API: delete the namespaces anyway, the daemon's state in them goes too.
    for ns in $(ip netns list | awk '/^sfip-r1/ {print $1}'); do ip netns del "$ns"; done
  fi
  stop_server
  rm -rf "$STATE"
  echo "Demo removed: namespaces, daemon and its state ($STATE)."
}

up() {
  if [ "$(id -u)" != 0 ]; then echo "The demo builds network namespaces: run it as root." >&2; exit 1; fi
  bash scripts/setup.sh
  if [ -d "$STATE" ] || ip netns list | grep -q '^sfip-r1'; then
    say "Removing the previous demo"
    down
  fi
  if curl -s -o /dev/null "$SFIP_URL/"; then
    echo "Something else already listens on port $PORT; stop it first." >&2
    exit 1
  fi

  say "Starting the daemon: sfip serve (API + agent, SQLite in $STATE)"
  mkdir -p "$STATE"
  setsid "$ROOT/bin/sfip" serve --state-dir "$STATE" --port "$PORT" --resync-interval 5s >"$STATE/serve.log" 2>&1 &
  echo $! >"$STATE/serve.pid"
  # From here on, a failing step stops what the demo started (lab namespaces and daemon) instead of leaving them.
  trap failed EXIT
  for _ in $(seq 100); do curl -sf -o /dev/null "$SFIP_URL/readyz" && break; sleep 0.1; done
  curl -sf -o /dev/null "$SFIP_URL/readyz" || { cat "$STATE/serve.log"; exit 1; }
  echo "listening on $SFIP_URL, log in $STATE/serve.log"

  fail_here serve
  say "Building the lab: external host, router, three VMs, all in network namespaces"
  show sfip lab up
  fail_here lab

  say "Creating a floating IP for vm1 with the CLI"
  show sfip fip create sfip-r1-public --port sfip-r1-vm1 --description demo --wait
  FIP=$(sfip --json fip list --port sfip-r1-vm1 | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).floatingips[0].floating_ip_address))')
  show sfip fip list

  say "From the external host (203.0.113.1): HTTP and ping to $FIP"
  show ip netns exec sfip-r1-ext curl -s -m 3 "http://$FIP/"
  show ip netns exec sfip-r1-ext ping -c 3 -i 0.2 "$FIP"

  say "vm3 has no floating IP: it reaches the outside through shared SNAT (this keeps conntrack active)"
  show ip netns exec sfip-r1-vm3 ping -c 2 -i 0.2 203.0.113.1

  say "Conntrack in the router namespace"
  ip netns exec sfip-r1 conntrack -L 2>/dev/null | sed 's/^/  /' || true
  fip_entries=$(ip netns exec sfip-r1 conntrack -L 2>/dev/null | grep -c -e "=$FIP " -e "=10.0.0.11 " || true)
  snat_entries=$(ip netns exec sfip-r1 conntrack -L 2>/dev/null | grep -c "src=10.0.0.13 " || true)
  echo "  entries for the floating IP $FIP / vm1 10.0.0.11: $fip_entries"
  echo "  entries for vm3's shared SNAT: $snat_entries"

  say "What the kernel holds: the translation map in the router's nftables table"
  ip netns exec sfip-r1 nft list ruleset | sed -n '/map fip2fixed/,/^\t}/p' | sed 's/^/  /'

  trap - EXIT
  cat <<TXT

== Explore further
  export PATH="$ROOT/bin:\$PATH"          # the sfip CLI (it talks to $SFIP_URL)
  sfip fip create sfip-r1-public --port sfip-r1-vm2   # another floating IP
  sfip fip set $FIP --port sfip-r1-vm3                # move it: traffic follows at once
  sfip fip unset $FIP                                 # disassociate: inbound stops at once
  ip netns exec sfip-r1-ext curl http://$FIP/
  ip netns exec sfip-r1 nft list ruleset      # try 'nft flush ruleset': the agent repairs it
  sfip doctor                                 # what this kernel supports
  tail -f $STATE/serve.log

== Tear down
  npm run demo:down
TXT
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
