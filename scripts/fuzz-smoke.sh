#!/usr/bin/env bash
# CI step after the tests: every libFuzzer target for a short run (FUZZ_SMOKE_SECONDS, 10 s
# by default) from its committed seeds. Fails on any crash or broken invariant.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_ARTIFACTS=${FUZZ_ARTIFACTS:-.build/fuzz/smoke-artifacts}
rm -rf "$FUZZ_ARTIFACTS"
export FUZZ_ARTIFACTS
Fuzz/run "${FUZZ_SMOKE_SECONDS:-10}"
