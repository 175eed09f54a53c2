#!/usr/bin/env bash
# Checks of `mnemo diagnose`: the report, its JSON contract, the plot, --load, bad usage.
#   bash tests/cli_diagnose_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

D=(diagnose --task adding --length 20 --model lstm --hidden 8 --batch 4 --steps 20 --eval-size 16
   --batches 2 --sequences 2 --threads 1)

run "${D[@]}" --json --plot "$tmp/d.svg" --snapshots 5
if [ "$rc" -eq 0 ] && json_check "$tmp/out" command verdict fit horizon grad_norm_by_step \
    cell_grad_norm_by_step spectral_radius half_life lyapunov advice >/dev/null; then
    ok "diagnose --json: verdict, horizon, grad_norm_by_step, spectral_radius, half_life"
else bad "diagnose --json" "$(show)"; fi

if [ "$have_python" = 1 ]; then
    msg=$(tail -n 1 "$tmp/out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
g = d["grad_norm_by_step"]
assert len(g) == 20, "grad_norm_by_step has %d entries, want 20" % len(g)
assert all(x is not None and x >= 0 for x in g), "negative or null norms"
assert d["verdict"] in ("healthy", "vanishing", "exploding"), d["verdict"]
assert 0 <= d["horizon"] <= 19, d["horizon"]
h = d["half_life"]
assert 0 < h["min"] <= h["median"] <= h["max"], h
' 2>&1) && ok "diagnose --json: one norm per step, horizon in [0, T-1], ordered half-lives" \
        || bad "diagnose --json values" "$msg"
fi

if [ -s "$tmp/d.svg" ] && head -c 200 "$tmp/d.svg" | grep -q '<svg' && tail -c 20 "$tmp/d.svg" | grep -q '</svg>'; then
    ok "--plot writes a complete SVG"
else bad "--plot" "$(show)"; fi
grep -q "plot" "$tmp/out" && ok "the report names the plot" || bad "report names the plot" "$(show)"

# a tanh RNN: a plain cell has no gates, so no half-life in its JSON
run diagnose --task adding --length 20 --model rnn --hidden 8 --batch 4 --steps 10 --eval-size 16 \
    --batches 2 --sequences 2 --threads 1 --json
if [ "$rc" -eq 0 ] && ! tail -n 1 "$tmp/out" | grep -q '"half_life"' \
    && json_check "$tmp/out" verdict horizon grad_norm_by_step >/dev/null; then
    ok "diagnose rnn: no gates, no half_life"
else bad "diagnose rnn" "$(show)"; fi

# a saved model diagnosed without training
run train --task adding --length 20 --model gru --hidden 8 --batch 4 --steps 10 --eval-size 16 \
    --threads 1 --save "$tmp/m.safetensors"
run diagnose --task adding --length 20 --load "$tmp/m.safetensors" --batches 2 --sequences 2 --json
if [ "$rc" -eq 0 ] && json_check "$tmp/out" verdict horizon half_life >/dev/null \
    && [ "$(json_get "$tmp/out" steps)" = 0 ]; then
    ok "diagnose --load: a saved GRU, nothing trained"
else bad "diagnose --load" "$(show)"; fi

# state spaces: each channel's memory half-life; Mamba's over held-out positions; a TCN's
# receptive field against the task's span
S=(--task adding --length 30 --hidden 8 --layers 2 --batch 4 --steps 5 --eval-size 16 --batches 2 \
   --threads 1 --json)
run diagnose "${S[@]}" --model s4d --state 4
if [ "$rc" -eq 0 ] && grep -q '^  memory      block 1 (s4d): half-life of each channel' "$tmp/out" \
    && tail -n 1 "$tmp/out" | grep -q '"memory_blocks":\[{"block":1,"kind":"s4d"' \
    && tail -n 1 "$tmp/out" | grep -q '"input_dependent":false'; then
    ok "diagnose s4d: each block's channel half-lives, in the report and the JSON"
else bad "diagnose s4d memory" "$(show)"; fi
run diagnose "${S[@]}" --model mamba --state 4
if [ "$rc" -eq 0 ] && grep -q '^  memory      block 1 (mamba): .* over [0-9]* held-out positions (input-dependent' "$tmp/out" \
    && tail -n 1 "$tmp/out" | grep -q '"kind":"mamba","receptive_field":null,"receptive_field_total":null,"input_dependent":true'; then
    ok "diagnose mamba: half-lives at the median input-dependent delta"
else bad "diagnose mamba memory" "$(show)"; fi
run diagnose "${S[@]}" --model tcn --kernel 2
if [ "$rc" -eq 0 ] && grep -q 'block 1 (tcn): receptive field 5 steps; through blocks 0..1: 7 of the 30 the task needs (too short' "$tmp/out"; then
    ok "diagnose tcn: the receptive field 1+2(k-1)(2^L-1) = 7 against the 30 steps"
else bad "diagnose tcn field" "$(show)"; fi

# a loaded TCN has no cell state: no "cell path" line (it once took the config's default
# cell, an LSTM); its dilated blocks' exact-zero lags do not end the horizon at 0
run train --task adding --length 30 --model tcn --kernel 2 --layers 3 --hidden 4 --steps 2 \
    --batch 4 --threads 1 --save "$tmp/tcn.safetensors"
run diagnose --task adding --length 30 --load "$tmp/tcn.safetensors" --threads 1
if [ "$rc" -eq 0 ] && ! grep -q 'cell path' "$tmp/out" \
    && grep -q '^              block 1: [1-9][0-9]* steps' "$tmp/out"; then
    ok "diagnose --load tcn: no cell path, a horizon past the holes"
else bad "diagnose --load tcn" "$(show)"; fi
# --load alone: the file's task and length, as eval takes them
run diagnose --load "$tmp/tcn.safetensors" --threads 1
if [ "$rc" -eq 0 ] && grep -q '^mnemo diagnose: .*task adding, length 30 (loaded)' "$tmp/out"
then ok "diagnose --load alone takes the file's task and length"
else bad "diagnose --load alone" "$(show)"; fi
# eval warns, as train does, when the field is shorter than the sequences
run eval --task adding --length 40 --load "$tmp/tcn.safetensors" --threads 1 --eval-size 8
if [ "$rc" -eq 0 ] && grep -q '^warning: the output at step t sees only steps t-14..t' "$tmp/err"
then ok "eval of a tcn whose field (15) is shorter than the task's 40 steps warns"
else bad "eval tcn field warning" "$(show)"; fi
# a file with a NaN weight (the first 4 bytes of its data) is read, with a warning
n=$(od -An -tu8 -N8 "$tmp/tcn.safetensors" | tr -d ' ')
{ head -c $((8 + n)) "$tmp/tcn.safetensors"; printf '\000\000\300\177'
  tail -c +$((8 + n + 5)) "$tmp/tcn.safetensors"; } >"$tmp/tcn_nan.safetensors"
run eval --task adding --length 30 --load "$tmp/tcn_nan.safetensors" --threads 1 --eval-size 8
if [ "$rc" -eq 0 ] &&
    grep -q '^warning: ".*tcn_nan.safetensors": tensor .* holds NaN at element 0' "$tmp/err"
then ok "eval of a file with a NaN weight warns: $(cut -c1-60 "$tmp/err")"
else bad "eval of a NaN weight" "$(show)"; fi
run train --task adding --length 30 --model tcn --layers 26
if [ "$rc" -eq 2 ] && [ "$(err_lines)" -eq 1 ] && grep -q -- '--layers 26: .*at most 25 layers' "$tmp/err"
then ok "tcn --layers past the largest dilation: named as --layers"
else bad "tcn --layers 26" "$(show)"; fi

expect_usage "no model and no --load"      diagnose --task adding --length 20
expect_usage "--load with --hidden"        diagnose --task adding --length 20 --load "$tmp/m.safetensors" --hidden 4
expect_usage "--load of a missing file"    diagnose --task adding --length 20 --load "$tmp/nope.safetensors"
expect_usage "--threshold 0"               "${D[@]}" --threshold 0
expect_usage "--threshold above 1"         "${D[@]}" --threshold 2
expect_usage "--plot in a missing folder"  "${D[@]}" --plot "$tmp/no/such/dir/p.svg"
expect_usage "--snapshots 0"               "${D[@]}" --snapshots 0
expect_usage "unknown task"                diagnose --task nope --length 20 --model lstm
printf 'not a model' > "$tmp/bad.safetensors"
expect_usage "--load of a malformed file"  diagnose --task adding --length 20 --load "$tmp/bad.safetensors"

cli_finish
