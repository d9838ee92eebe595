#!/usr/bin/env bash
# Measures the tc backend's per-packet cost inside the act_nat guest and writes the results into docs/tc.md.
#
#   bash scripts/bench-tc.sh            # about 15-30 minutes of TCG emulation; TC_BENCH_REPS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
out=$(mktemp -d "${TMPDIR:-/var/tmp}/sfip-tc-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
scripts/guest/run.sh --icount --timeout "${TC_BENCH_TIMEOUT:-5400}" -- \
  env TC_BENCH_REPS="${TC_BENCH_REPS:-5}" node --import tsx bench/tc-guest/main.ts | tee "$out/run.log"
sed -n 's/^SFIP_TC_BENCH //p' "$out/run.log" > "$out/result.json"
[ -s "$out/result.json" ] || { echo "bench-tc: the guest printed no result" >&2; exit 1; }
node --import tsx bench/tc-guest/report.ts "$out/result.json" docs/tc.md "bash scripts/bench-tc.sh"
npx prettier --write docs/tc.md >/dev/null
echo "bench-tc: wrote docs/tc.md"
