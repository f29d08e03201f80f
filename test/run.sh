#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, builds, type-checks, lints, runs jest.
# Extra arguments go to jest (e.g. `npm test -- test/ingest.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup-system.sh
npm run --silent build
npm run --silent typecheck
npm run --silent lint
exec npx jest "$@"
