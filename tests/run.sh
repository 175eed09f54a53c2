#!/usr/bin/env bash
# The whole suite: the C test runner, then the CLI checks. Last line: "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
pass=0; fail=0
out=$("$build/test_runner" 2>&1 | tee /dev/stderr | tail -n 1)
rc=${PIPESTATUS[0]}
if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
else
    echo "test_runner ended without a summary (exit $rc)"; fail=$((fail + 1))
fi
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
if [ -f tests/cli_test.sh ]; then
    out=$(bash tests/cli_test.sh "$build/mnemo" 2>&1 | tee /dev/stderr | tail -n 1)
    if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
    else
        echo "cli_test.sh ended without a summary"; fail=$((fail + 1))
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
