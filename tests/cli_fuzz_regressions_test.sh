#!/usr/bin/env bash
# Replays the fuzz_args seed corpus (fuzz/corpus/args/) and its kept reproducers
# (tests/fuzz_regressions/args/) through `mnemo train`: each file's words, split at newlines
# and NUL bytes as the harness splits them, are the arguments. A file named ok-* must exit
# 0 (the ok seeds train a tiny model in milliseconds), bad-* must exit 2 with one
# "mnemo: " line; any other file 0 or 2. Never a signal, a sanitizer report or a hang.
# It runs in a scratch folder, so --save and --metrics paths land there.
#   bash tests/cli_fuzz_regressions_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

seeds=0
for f in fuzz/corpus/args/* tests/fuzz_regressions/args/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    case $f in fuzz/corpus/*) seeds=$((seeds + 1)) ;; esac
    words=()
    mapfile -d '' -t words < <(tr '\n' '\0' <"$f")
    (cd "$tmp" && timeout 30 "$bin" train "${words[@]}" >"$tmp/out" 2>"$tmp/err" </dev/null)
    rc=$?
    one_line=0
    [ "$(err_lines)" -eq 1 ] && head -n 1 "$tmp/err" | grep -q '^mnemo: ' && one_line=1
    case $name in
        ok-*) want="exit 0"; [ "$rc" -eq 0 ] ;;
        bad-*) want="exit 2 with one 'mnemo: ' line"; [ "$rc" -eq 2 ] && [ "$one_line" = 1 ] ;;
        *) want="exit 0, or 2 with one 'mnemo: ' line"
           [ "$rc" -eq 0 ] || { [ "$rc" -eq 2 ] && [ "$one_line" = 1 ]; } ;;
    esac
    if [ $? -eq 0 ]; then
        ok "$f -> exit $rc"
    else
        bad "$f (want $want; a status above 128 is a signal, 124 a hang)" "$(show)"
    fi
done
if [ "$seeds" -ge 10 ]; then
    ok "replayed $seeds args seeds"
else
    bad "found $seeds args seeds in fuzz/corpus/args (want at least 10)"
fi
cli_finish
