#!/usr/bin/env bash
# Graceful stops: SIGINT and SIGTERM at random moments end `mnemo train --save F` after the
# current step with exit 130 / 143, a summary and a checkpoint F that --resume (the command
# the summary prints) continues to the bits of an uninterrupted run; a second signal aborts
# at once and leaves F whole; SIGUSR1 writes F and the run goes on. With --json, failed and
# stopped runs still end stdout with one JSON object.
#   bash tests/cli_signals_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

R=(train --task copy --length 10 --model lstm --hidden 8 --batch 8 --steps 4000 --eval-size 32
   --eval-every 1000 --log-every 100 --threads 1 --warmup 20)

# start ARGS...: the binary in the background, stdout and stderr in $tmp/bg.out, bg.err, its
# pid in $pid. A script's background jobs start with SIGINT ignored, and mnemo keeps an
# ignored SIGINT ignored: set it back to the default for the job.
pid=0
start() {
    ( trap - INT; exec "$bin" "$@" >"$tmp/bg.out" 2>"$tmp/bg.err" </dev/null ) &
    pid=$!
}
# wait_for PATTERN FILE: until FILE holds PATTERN (a few seconds at most)
wait_for() {
    local i
    for i in $(seq 1 600); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.01; done
    return 1
}
bg_show() { printf 'exit %s; stderr:\n%s\nstdout:\n%s' "$rc" "$(tail -c 1500 "$tmp/bg.err")" "$(tail -c 1500 "$tmp/bg.out")"; }

run "${R[@]}" --save "$tmp/whole.safetensors"
[ "$rc" -eq 0 ] && ok "uninterrupted reference run" || bad "reference run" "$(show)"

# Each signal several times, at a moment drawn from the clock once training is under way;
# every other run also writes periodic checkpoints, which the stop must not confuse.
trial=0
signals="INT TERM INT TERM INT TERM"
[ -n "${MNEMO_SKIP_SLOW:-}" ] && signals="INT TERM"   # the sanitizer build is slower
for sig in $signals; do
    trial=$((trial + 1))
    want=$([ $sig = INT ] && echo 130 || echo 143)
    F="$tmp/run$trial.safetensors"
    extra=()
    [ $((trial % 2)) = 0 ] && extra=(--checkpoint-every 150)
    stopped=0
    for delay in "0.$(printf %03d $((RANDOM % 500)))" 0.05 0; do
        rm -f "$F"
        start "${R[@]}" --save "$F" "${extra[@]}" --json
        wait_for '^step ' "$tmp/bg.err"
        sleep "$delay"
        kill -s $sig "$pid" 2>/dev/null && stopped=1
        wait "$pid"; rc=$?
        [ $stopped = 1 ] && break
    done
    if [ $stopped = 0 ]; then
        bad "SIG$sig #$trial: the run ended before the signal; the machine is faster than this test expects" "$(bg_show)"
        continue
    fi
    at=$(sed -n 's/^mnemo train: stopped by SIG[A-Z]* after step \([0-9]*\) of.*/\1/p' "$tmp/bg.out")
    if [ "$rc" -eq "$want" ] && [ -n "$at" ] && [ -f "$F" ] \
        && grep -q "^mnemo: stopped by SIG$sig after step $at of 4000; the checkpoint" "$tmp/bg.err" \
        && grep -q '^  resume      mnemo train ' "$tmp/bg.out" \
        && json_check "$tmp/bg.out" error exit_code interrupted steps_done checkpoint >/dev/null \
        && tail -n 1 "$tmp/bg.out" | grep -q "\"exit_code\":$want,\"interrupted\":\"SIG$sig\"" \
        && tail -n 1 "$tmp/bg.out" | grep -q "\"steps_done\":$at,"; then
        ok "SIG$sig #$trial after ${delay}s: exit $want at step $at, summary, JSON, checkpoint written"
    else
        bad "SIG$sig #$trial: want exit $want, a summary, the JSON line and $F" "$(bg_show)"
        continue
    fi
    # the command the summary prints, run as printed
    line=$(sed -n 's/^  resume      mnemo //p' "$tmp/bg.out")
    eval "\"\$bin\" $line" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
    if [ "$rc" -eq 0 ] && grep -q "resumed .* at step $at of 4000" "$tmp/err" \
        && cmp -s "$tmp/whole.safetensors" "$F"; then
        ok "SIG$sig #$trial: the printed resume command ends with the uninterrupted run's file, bit for bit"
    else bad "SIG$sig #$trial: resume from step $at" "$(show)"; fi
done

# SIGUSR1: a checkpoint now, and on to the end. The checkpoint is copied as it appears
# (atomic writes: a whole file or none) and resumes to the same bits.
F="$tmp/usr1.safetensors"
start "${R[@]}" --save "$F"
wait_for '^step ' "$tmp/bg.err"
sleep "0.$(printf %03d $((RANDOM % 300)))"
kill -s USR1 "$pid" 2>/dev/null
for _ in $(seq 1 500); do [ -f "$F" ] && break; sleep 0.005; done
cp "$F" "$tmp/usr1-copy.safetensors" 2>/dev/null
wait "$pid"; rc=$?
at=$(sed -n 's/^SIGUSR1: checkpoint at step \([0-9]*\) written to .*/\1/p' "$tmp/bg.err")
if [ "$rc" -eq 0 ] && [ -n "$at" ] && [ "$at" -lt 4000 ] && cmp -s "$tmp/whole.safetensors" "$F"; then
    ok "SIGUSR1: checkpoint at step $at, the run went on to the end (same final file)"
else bad "SIGUSR1 (want exit 0 and one 'SIGUSR1: checkpoint at step N' line)" "$(bg_show)"; fi
run "${R[@]}" --save "$tmp/usr1-resumed.safetensors" --resume "$tmp/usr1-copy.safetensors"
if [ "$rc" -eq 0 ] && grep -q "at step $at of" "$tmp/err" && cmp -s "$tmp/whole.safetensors" "$tmp/usr1-resumed.safetensors"; then
    ok "SIGUSR1: its checkpoint resumes to the uninterrupted run's bits"
else bad "resume from the SIGUSR1 checkpoint of step $at" "$(show)"; fi

start "${R[@]}"
wait_for '^step ' "$tmp/bg.err"
kill -s USR1 "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ] && grep -q '^SIGUSR1: no --save FILE' "$tmp/bg.err"; then
    ok "SIGUSR1 without --save: says there is nowhere to write, and the run ends normally"
else bad "SIGUSR1 without --save" "$(bg_show)"; fi

# A second signal aborts at once: a model whose steps and checkpoints take tens of
# milliseconds, so that the second comes while the first is being honoured. The file keeps
# its last complete version (the writes are atomic).
B=(train --task copy --length 20 --model lstm --hidden 256 --batch 16 --steps 100000 --eval-size 16
   --threads 1 --checkpoint-every 3)
F="$tmp/big.safetensors"
aborted=0
for attempt in 1 2 3; do
    rm -f "$F"
    start "${B[@]}" --save "$F"
    for _ in $(seq 1 1000); do [ -f "$F" ] && break; sleep 0.01; done
    sleep "0.0$((RANDOM % 10))"
    kill -s INT "$pid"; sleep 0.003; kill -s INT "$pid"
    wait "$pid"; rc=$?
    if grep -q 'second stop signal: aborting at once' "$tmp/bg.err"; then aborted=1; break; fi
done
if [ $aborted = 1 ] && [ "$rc" -eq 130 ] && ! grep -q '^mnemo train: stopped' "$tmp/bg.out"; then
    ok "a second SIGINT aborts at once (exit $rc, no summary)"
else bad "second SIGINT (want the abort line and exit 130 in one of 3 tries)" "$(bg_show)"; fi
run eval --load "$F" --task copy --length 20 --eval-size 16 --threads 1
[ "$rc" -eq 0 ] && ok "after the abort, the checkpoint file is whole: it loads and evaluates" \
    || bad "checkpoint after the abort" "$(show)"

# A script's background job starts with SIGINT ignored: it stays ignored; SIGTERM stops it.
"$bin" "${R[@]}" >"$tmp/bg.out" 2>"$tmp/bg.err" </dev/null &
pid=$!
wait_for '^step ' "$tmp/bg.err"
kill -s INT "$pid"; sleep 0.1
kill -s TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" -eq 143 ] && ! grep -q 'SIGINT' "$tmp/bg.err" && grep -q 'stopped by SIGTERM' "$tmp/bg.err"; then
    ok "an inherited ignored SIGINT stays ignored; SIGTERM stops the run (143)"
else bad "ignored SIGINT" "$(bg_show)"; fi

# diagnose and lab stop the same way.
start diagnose --task adding --length 30 --model lstm --hidden 8 --batch 8 --steps 100000 --log-every 50 --threads 1 --json
wait_for '^step ' "$tmp/bg.err"
kill -s INT "$pid"; wait "$pid"; rc=$?
if [ "$rc" -eq 130 ] && grep -q '^mnemo: stopped by SIGINT after [0-9]* of 100000 training steps' "$tmp/bg.err" \
    && json_check "$tmp/bg.out" error exit_code interrupted steps_done >/dev/null; then
    ok "diagnose: SIGINT while training -> exit 130, the line and the JSON say how far it got"
else bad "diagnose SIGINT" "$(bg_show)"; fi
start lab adding-sweep --lengths 10 --steps 100000 --hidden 8 --batch 4 --json
sleep 0.3
kill -s TERM "$pid"; wait "$pid"; rc=$?
if [ "$rc" -eq 143 ] && grep -q '^mnemo: lab adding-sweep: stopped by SIGTERM' "$tmp/bg.err" \
    && json_check "$tmp/bg.out" error exit_code interrupted >/dev/null; then
    ok "lab adding-sweep: SIGTERM -> exit 143 with JSON"
else bad "lab adding-sweep SIGTERM" "$(bg_show)"; fi

# --json on failure: a run that diverges stops with exit 1, and stdout still ends with one
# JSON object holding the stderr line and the figures so far.
run train --task adding --length 200 --model rnn-relu --init identity --init-gain 1.5 --hidden 8 \
    --batch 8 --steps 30 --threads 1 --json
msg=$(sed -n 's/^mnemo: //p' "$tmp/err" | tail -n 1)
if [ "$rc" -eq 1 ] && json_check "$tmp/out" error exit_code steps_done last_loss checkpoint >/dev/null \
    && tail -n 1 "$tmp/out" | grep -qF "\"error\":\"$msg\"" \
    && tail -n 1 "$tmp/out" | grep -q '"exit_code":1,' \
    && tail -n 1 "$tmp/out" | grep -q '"checkpoint":null'; then
    ok "diverging train --json: exit 1, last stdout line is JSON with the stderr error and exit_code"
else bad "train --json on failure" "$(show)"; fi
if [ "$have_python" = 1 ] && [ "$rc" -eq 1 ]; then
    m=$(tail -n 1 "$tmp/out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["exit_code"] == 1 and d["command"] == "train", d
assert 0 < d["steps_done"] < 30 and d["skipped_steps"] >= 1, d
' 2>&1) && ok "diverging train --json parses: steps_done, skipped_steps" || bad "failure JSON values" "$m"
fi

# the same for the other commands, with the generic object
run eval --load "$tmp/whole.safetensors" --task adding --length 10 --threads 1 --json
if [ "$rc" -eq 2 ] && json_check "$tmp/out" command error exit_code >/dev/null \
    && tail -n 1 "$tmp/out" | grep -q '"command":"eval"'; then
    ok "eval --json of a model that does not fit the task: exit 2 and a JSON error line"
else bad "eval --json on failure" "$(show)"; fi

# usage errors in the command line itself stay on stderr only
expect_usage "--json with a bad option value" "${R[@]}" --lr -1 --json

cli_finish
