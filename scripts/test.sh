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
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=test-results.tap "${files[@]}"
# CI reads node's summary lines from the TAP output.
grep -E '^# (tests|pass|fail|skipped|todo|cancelled) ' test-results.tap
