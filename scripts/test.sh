#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: sets up Node 24, pnpm, dependencies and
# redis-server first (scripts/bootstrap.sh), then checks generated code, lint and format, dependency cycles, typechecks and runs vitest;
# last, any process the tests left behind is named and killed (scripts/check-leftovers.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
echo "== generated code is up to date"
pnpm run --silent gen:check
echo "== lint and format (Biome)"
pnpm exec biome ci --reporter=summary .
echo "== dependency cycles"
node scripts/check-cycles.ts
echo "== typecheck"
pnpm exec tsc -p tsconfig.json
echo "== tests"
started=$(date +%s)
status=0
pnpm exec vitest run "$@" || status=$?
echo "== processes left behind"
node scripts/check-leftovers.ts --since "$started"
exit "$status"
