#!/bin/sh
# Runs every Check suite in BUILD/tests, then every tests/integration/test_*.sh,
# each script's seconds after it, and one closing line: "N passed, M failed" (suites and
# scripts).
# Usage: tests/run-tests.sh [BUILD]   (from the repository root)
BUILD=${1:-build}
export UPSET="$BUILD/upset" UPSET_BUILD="$BUILD"
passed=0 failed=0 checks=0 failures=0
for t in "$BUILD"/tests/check_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    n=$(printf '%s\n' "$out" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' | tail -n 1)
    if [ -n "$n" ]; then
        set -- $n
        checks=$((checks + $1)); failures=$((failures + $2 + $3))
    fi
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
if [ -z "$UPSET_UNIT_ONLY" ]; then
    for s in tests/integration/test_*.sh; do
        [ -f "$s" ] || continue
        echo "== $(basename "$s")"
        start=$(date +%s)
        if sh "$s"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $s"; fi
        echo "   $(basename "$s"): $(($(date +%s) - start)) s" # CI keeps the suite under 10 min
    done
fi
echo "Check: $checks checks, $failures failed (unit suites)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
