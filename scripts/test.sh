#!/usr/bin/env bash
# The test command: set-up, lint and format, type check, then every test with node's runner.
# Dataplane tests need root: they build network namespaces and send real packets through them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint and format"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
echo "== type check"
npx tsc -p tsconfig.json --noEmit
npx tsc -p web/tsconfig.json
echo "== tests"
# Every process of the run records the programs it starts (src/exec/record-programs.ts; bash scripts through
# BASH_ENV), and the last file, test/zz-program-coverage.test.ts, checks that setup.sh installs each of them.
mkdir -p test-results
export SFIP_RECORD_PROGRAMS=$PWD/test-results/programs.txt
: >"$SFIP_RECORD_PROGRAMS"
export BASH_ENV=$PWD/scripts/record-programs.bash
export SFIP_PROJECT_ROOT=$PWD
mapfile -t files < <(find test -name '*.test.ts' | sort)
# No hang: the watchdog fails a file that outlives its limit (30 minutes unless it asks for more) or does not exit
# after its tests, naming what it left open (test/support/exit-watchdog.ts). Node's --test-timeout also bounds each
# file as a whole, so it must let the longest file run: the act_nat guest's (tc-guest.test.ts: tc's and nftables'
# suites under TCG, 10-16 minutes, longer since it runs on one TCG thread) asks the watchdog for 45.
node --import tsx --import ./test/support/exit-watchdog.ts --test --test-concurrency=1 --test-timeout=2700000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=test-results.tap "${files[@]}"
# CI reads node's summary lines from the TAP output.
grep -E '^# (tests|pass|fail|skipped|todo|cancelled) ' test-results.tap
