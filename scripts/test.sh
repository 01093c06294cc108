#!/usr/bin/env bash
# Runs swiftdm's whole test suite and ends with one summary line:
#   "N passed, N failed, N skipped"
# Tests that need /dev/kvm, root, QEMU or a tool skip loudly (Swift Testing prints
# "skipped"/"was cancelled" with the reason); this script repeats every reason and counts them.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp -t swiftdm-test.XXXXXX)
trap 'rm -f "$log"' EXIT

swift build --build-tests "$@" 2>&1 | grep -E "warning:|error:" | grep -v "/.build" || true
swift test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -E '^✔ Test .* passed' "$log" | grep -vc '^✔ Test run with' || true)
failed=$(grep -E '^✘ Test .* failed' "$log" | grep -vc '^✘ Test run with' || true)
skipped_lines=$(grep -E '^➜ Test .* (skipped|was cancelled)' "$log" || true)
skipped=$(printf '%s' "$skipped_lines" | grep -c . || true)
xc_passed=$(grep -cE "^Test Case '.*' passed" "$log" || true)
xc_failed=$(grep -cE "^Test Case '.*' failed" "$log" || true)
xc_skipped=$(grep -cE "^Test Case '.*' skipped" "$log" || true)

echo
if [ "$skipped" -gt 0 ] || [ "$xc_skipped" -gt 0 ]; then
    echo "=== skipped tests and why ==="
    printf '%s\n' "$skipped_lines"
    grep -E "Test skipped" "$log" || true
fi
# Swift Testing's own run summary line counts suites, not results; print the plain totals.
echo "$((passed + xc_passed)) passed, $((failed + xc_failed)) failed, $((skipped + xc_skipped)) skipped"
exit "$status"
