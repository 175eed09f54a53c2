#!/usr/bin/env bash
# Stop and resume: a run killed with SIGKILL at an arbitrary moment and resumed from its last
# checkpoint ends with the same bits as a run that was never interrupted.
#   bash tests/cli_resume_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

R=(train --task copy --length 10 --model lstm --batch 8 --steps 3000 --eval-size 32
   --eval-every 1000 --threads 1 --schedule cosine --warmup 20 --hidden)
H=16

run "${R[@]}" $H --save "$tmp/whole.safetensors"
[ "$rc" -eq 0 ] && ok "uninterrupted reference run" || bad "reference run" "$(show)"

# Kill at a moment drawn from the clock, after the first checkpoint; on a machine so fast
# that the run ends first, try again with a shorter delay.
for delay in "0.$(( (RANDOM % 40) + 5 ))" 0.02 0; do
    rm -f "$tmp/run.safetensors"
    "$bin" "${R[@]}" $H --save "$tmp/run.safetensors" --checkpoint-every 7 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 1000); do [ -f "$tmp/run.safetensors" ] && break; sleep 0.005; done
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null; break; }
    wait "$pid" 2>/dev/null
done
killed_at=$(python3 -c '
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"]["trainer.step"])' "$tmp/run.safetensors" 2>/dev/null || echo "?")

run eval --load "$tmp/run.safetensors" --task copy --length 10 --eval-size 32 --threads 1
[ "$rc" -eq 0 ] && ok "the checkpoint left by the kill loads (step $killed_at)" || bad "checkpoint after kill" "$(show)"

run "${R[@]}" $H --save "$tmp/run.safetensors" --checkpoint-every 7 --resume "$tmp/run.safetensors"
if [ "$rc" -eq 0 ] && grep -q "resumed" "$tmp/err" && cmp -s "$tmp/whole.safetensors" "$tmp/run.safetensors"; then
    ok "killed at step $killed_at and resumed: final file identical to the uninterrupted run's, bit for bit"
elif [ "$rc" -eq 0 ] && grep -q "the run was complete" "$tmp/out"; then
    bad "the kill came after the run ended; the machine was faster than the test expects" "$(show)"
else bad "resume after kill (killed at step $killed_at)" "$(show)"; fi

expect_usage "--checkpoint-every without --save" "${R[@]}" $H --checkpoint-every 5
expect_usage "--resume of a missing file"        "${R[@]}" $H --resume "$tmp/none.safetensors"
expect_usage "--resume with another --lr"        "${R[@]}" $H --lr 0.01 --resume "$tmp/run.safetensors"
expect_usage "--resume with another --hidden"    "${R[@]}" 8 --resume "$tmp/run.safetensors"
# A finished run resumed, as a batch scheduler reruns the same command after a requeue:
# exit 0, one line saying the run was complete, the checkpoint and the --metrics file left
# byte for byte and untouched (mtime), no --metrics file created, nothing on stderr.
cp -p "$tmp/whole.safetensors" "$tmp/whole.copy"
printf '{"type":"train","step":1}\n' > "$tmp/m.jsonl"
before=$(stat -c '%y' "$tmp/whole.safetensors" "$tmp/m.jsonl")
sleep 0.05
for json in "" --json; do
    lines=1
    [ -n "$json" ] && lines=2
    run "${R[@]}" $H --save "$tmp/whole.safetensors" --checkpoint-every 7 \
        --resume "$tmp/whole.safetensors" --metrics "$tmp/m.jsonl" $json
    first=$(head -n 1 "$tmp/out")
    if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] \
        && [ "$(wc -l <"$tmp/out")" -eq "$lines" ] \
        && [[ $first == *"already holds 3000 steps (--steps 3000): the run was complete"* ]] \
        && cmp -s "$tmp/whole.safetensors" "$tmp/whole.copy" \
        && [ "$(stat -c '%y' "$tmp/whole.safetensors" "$tmp/m.jsonl")" = "$before" ] \
        && [ "$(cat "$tmp/m.jsonl")" = '{"type":"train","step":1}' ]; then
        ok "--resume of a finished run${json:+ (--json)}: exit 0, one line, file and metrics untouched"
    else bad "--resume of a finished run${json:+ (--json)}" "$(show)"; fi
done
if json_check "$tmp/out" command already_complete steps_done steps >/dev/null \
    && [ "$(json_get "$tmp/out" already_complete)" = true ] \
    && [ "$(json_get "$tmp/out" steps_done)" = 3000 ]; then
    ok "--json: the last line says already_complete, steps_done 3000"
else bad "--json of a finished run" "$(show)"; fi
run "${R[@]}" $H --resume "$tmp/whole.safetensors" --metrics "$tmp/new.jsonl"
if [ "$rc" -eq 0 ] && [ ! -e "$tmp/new.jsonl" ]; then
    ok "--resume of a finished run creates no --metrics file"
else bad "--resume of a finished run with a new --metrics file" "$(show)"; fi
expect_usage "--resume of a finished run with another --hidden" "${R[@]}" 8 \
    --resume "$tmp/whole.safetensors"
printf 'garbage' > "$tmp/g.safetensors"
expect_usage "--resume of a malformed file"      "${R[@]}" $H --resume "$tmp/g.safetensors"

# Faults: an exploding run stops after --max-faults NaN/Inf steps in a row; the last
# checkpoint, written before the faults, still loads and evaluates to a finite loss.
run train --task adding --length 50 --model rnn-relu --hidden 16 --batch 4 --steps 40 --eval-size 16 \
    --init identity --init-gain 3 --lr 50 --clip 0 --optimizer sgd --threads 1 --max-faults 3 \
    --save "$tmp/fault.safetensors" --checkpoint-every 1
if [ "$rc" -eq 1 ] && grep -q 'at each of the first 3 steps, before any update' "$tmp/err"; then
    ok "--max-faults 3: stopped after 3 bad steps in a row, exit 1"
elif [ "$rc" -eq 0 ]; then
    ok "the diverging run did not diverge on this machine (nothing to check)"
else bad "--max-faults" "$(show)"; fi
if [ "$rc" -eq 1 ]; then
    run eval --load "$tmp/fault.safetensors" --task adding --length 50 --eval-size 16 --threads 1 --json
    if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_loss)" != null ]; then
        ok "the last good checkpoint is intact: it loads and its test loss is finite"
    else bad "checkpoint after faults" "$(show)"; fi
fi
expect_usage "--max-faults 0" "${R[@]}" $H --max-faults 0

cli_finish
