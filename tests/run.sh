#!/usr/bin/env bash
# The whole suite: the C test runner, then the CLI checks. Last line: "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
pass=0; fail=0; skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run NAME CMD...: adds the counts from the command's "N passed, N failed" line; a command
# that fails without failing a test (a sanitizer report, a crash) counts as one failure.
run() {
    local name=$1; shift
    # tee: each test's line shows as it finishes, not when the whole command is done
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    skipped=$((skipped + $(grep -c '^skipped - ' "$log")))
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
        if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
            echo "$name exited with status $rc after its tests passed"; fail=$((fail + 1))
        fi
    else
        echo "$name ended without a summary (exit $rc)"; fail=$((fail + 1))
    fi
}

run test_runner "$build/test_runner"
for script in tests/cli_*test.sh; do
    [ -f "$script" ] && run "$(basename "$script")" bash "$script" "$build/mnemo"
done
[ "$skipped" -gt 0 ] && echo "$skipped skipped (lines 'skipped - ...' above say why)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
