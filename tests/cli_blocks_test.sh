#!/usr/bin/env bash
# Block models from the command line: --blocks, --residual, --norm, --dropout; a model
# saved by train is rebuilt by eval from the file alone, with the same test loss.
#   bash tests/cli_blocks_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

A=(--task adding --length 12 --batch 8 --steps 30 --eval-size 64 --threads 1)
H=(--hidden 8)   # --model's width (a spec gives its blocks theirs; --hidden there is refused)

# train SPEC... then eval --load: the test loss printed by both must be the same number
same_loss() {
    local desc=$1; shift
    run train "${A[@]}" "$@" --save "$tmp/m.safetensors" --json
    if [ "$rc" -ne 0 ]; then bad "$desc: train" "$(show)"; return; fi
    local want; want=$(json_get "$tmp/out" test_loss)
    cp "$tmp/out" "$tmp/train.out"
    run eval --load "$tmp/m.safetensors" --task adding --length 12 --eval-size 64 --threads 1 --json
    local got; got=$(json_get "$tmp/out" test_loss)
    if [ "$rc" -eq 0 ] && [ -n "$want" ] && [ "$want" = "$got" ]; then
        ok "$desc: eval --load reproduces test loss $got"
    else bad "$desc: train test loss '$want', eval '$got'" "$(show)"; fi
}

same_loss "--blocks gru:8,linear:6,lstm:8" --blocks gru:8,linear:6,lstm:8
if grep -q '"blocks":"gru:8,linear:6,lstm:8"' "$tmp/train.out"; then ok "JSON names the blocks"
else bad "JSON names the blocks" "$(cat "$tmp/train.out")"; fi
same_loss "--blocks with a bidirectional block" --blocks lstm:6:bidirectional,gru:8
same_loss "--blocks with feed-forward, residual, post-norm and a norm block" \
    --blocks lstm:8,ff:16:residual:post,rmsnorm
same_loss "--model gru --layers 2 --residual --norm pre --dropout 0.1" \
    "${H[@]}" --model gru --layers 2 --residual --norm pre --norm-kind rmsnorm --dropout 0.1
if grep -q '"blocks":"gru:8:dropout=0.1,gru:8:residual:pre:rmsnorm:dropout=0.1"' "$tmp/train.out"; then
    ok "--residual, --norm pre and --dropout become block options (pre-norm from block 1 on)"
else bad "model-wide block options" "$(cat "$tmp/train.out")"; fi
same_loss "--blocks with the gated residual cell" --blocks gated:8,gated:8:residual

# diagnose profiles any block model through depth; recurrence measures where a block has one
run diagnose "${A[@]}" --blocks linear:8,lstm:8 --json
if [ "$rc" -eq 0 ] && grep -q '"recurrent_block":1' "$tmp/out" \
    && grep -q '"grad_norm_by_block":\[[^],]*,[^],]*,[^],]*\]' "$tmp/out"; then
    ok "diagnose --blocks linear,lstm: three depth norms, recurrence measured on block 1"
else bad "diagnose of a block model" "$(show)"; fi
run diagnose "${A[@]}" --blocks linear:8,linear:4
if [ "$rc" -eq 0 ] && grep -q 'recurrence  none' "$tmp/out"; then
    ok "diagnose of a model without a recurrence says the recurrence measures do not apply"
else bad "diagnose without a recurrence" "$(show)"; fi

# memory and bench take the same specs
run memory --blocks lstm:16,ff:32:residual:pre --input-size 4 --batch 8 --length 20 --json
if [ "$rc" -eq 0 ] && grep -q '"blocks":"lstm:16,ff:32:residual:pre:layernorm"' "$tmp/out" \
    && grep -q '"total_bytes":[1-9]' "$tmp/out"; then ok "memory --blocks"
else bad "memory --blocks" "$(show)"; fi
run bench --blocks linear:16,gru:8 --length 10 --batch 4 --input-size 4 --hidden 8 \
    --iterations 1 --warmup 0 --threads 1 --json
if [ "$rc" -eq 0 ] && grep -q '"blocks":"linear:16,gru:8"' "$tmp/out"; then ok "bench --blocks"
else bad "bench --blocks" "$(show)"; fi
# the options after the families' rows of the table (bench --norm, --json) and a family's
# last option (--weight-norm) all read: a table too short for the families' options once
# let them overwrite --norm and memory's --json
run bench --model tcn --weight-norm --hidden 8 --layers 2 --length 10 --batch 2 \
    --iterations 1 --warmup 0 --threads 1 --json
if [ "$rc" -eq 0 ] && grep -q 'weight-norm' "$tmp/out"; then ok "bench --model tcn --weight-norm"
else bad "bench --model tcn --weight-norm" "$(show)"; fi
# without --layers a TCN covers --length, as train picks it: kernel 3 and T 30 take 3
# blocks (receptive field 29) and a fourth (61)
run bench --model tcn --hidden 8 --length 30 --batch 2 --iterations 1 --warmup 0 --threads 1
if [ "$rc" -eq 0 ] && grep -q 'dilation=8,' "$tmp/out" && ! grep -q 'dilation=16' "$tmp/out"
then ok "bench --model tcn picks its layers"
else bad "bench --model tcn picks its layers" "$(show)"; fi
run bench --model s4d --norm post --hidden 8 --layers 1 --length 10 --batch 2 \
    --iterations 1 --warmup 0 --threads 1 --json
if [ "$rc" -eq 0 ] && grep -q ':post:' "$tmp/out"; then ok "bench --model s4d --norm post"
else bad "bench --model s4d --norm post" "$(show)"; fi
expect_usage "memory with --model and --blocks" memory --model lstm --blocks lstm:8 \
    --input-size 4 --batch 8 --length 20
expect_usage "bench without a model" bench --length 10 --batch 4 --input-size 4 --hidden 8

expect_usage "--blocks with an empty block" train "${A[@]}" --blocks "lstm,,gru"
expect_usage "--blocks with an unknown kind" train "${A[@]}" --blocks "lstm:8,transformr:8"
expect_usage "--blocks with a bad width" train "${A[@]}" --blocks "lstm:-3"
expect_usage "--blocks with an unknown option" train "${A[@]}" --blocks "lstm:8:sideways"
expect_usage "--blocks with --model" train "${A[@]}" --blocks lstm:8 --model lstm
expect_usage "--blocks with --layers" train "${A[@]}" --blocks lstm:8 --layers 2
expect_usage "neither --model nor --blocks" train "${A[@]}"
expect_usage "a bidirectional linear block" train "${A[@]}" --blocks "linear:8:bidirectional"
expect_usage "--norm with an unknown place" train "${A[@]}" --model lstm --norm middle
expect_usage "--norm-kind without --norm" train "${A[@]}" --model lstm --norm-kind rmsnorm
expect_usage "--residual with one block" train "${A[@]}" --model lstm --residual
expect_usage "--dropout of 1" train "${A[@]}" --model lstm --dropout 1
expect_usage "a width on a kind that keeps its input's" train "${A[@]}" --blocks "lstm:8,layernorm:4"
expect_usage "an option given twice" train "${A[@]}" --blocks "gru:8:pre:post"
expect_usage "--norm pre with one block" train "${A[@]}" --model lstm --norm pre
run train "${A[@]}" --blocks "lstm:8,gru:16:residual"
if [ "$rc" -eq 2 ] && grep -q '^mnemo: block 1 (gru): a residual' "$tmp/err" && ! grep -q 'lower --batch' "$tmp/err"; then
    ok "an impossible block is reported in the library's words, without memory advice"
else bad "impossible block message" "$(show)"; fi
# a checkpoint whose block metadata was edited into an impossible model: the whole reason, once
run train "${A[@]}" --blocks "lstm:8,lstm:8:residual" --save "$tmp/e.safetensors"
LC_ALL=C sed 's/lstm:8,lstm:8:residual/lstm:8,lstm:4:residual/' "$tmp/e.safetensors" > "$tmp/f.safetensors"
run eval --load "$tmp/f.safetensors" --task adding --length 12
if [ "$rc" -eq 2 ] && [ "$(grep -c 'impossible model' "$tmp/err")" -eq 1 ] \
    && grep -q 'block 1 (lstm): a residual connection' "$tmp/err"; then
    ok "an edited checkpoint's impossible blocks: one line with the whole reason"
else bad "edited checkpoint" "$(show)"; fi
run train "${A[@]}" "${H[@]}" --model gru --layers 2 --norm none --json
if [ "$rc" -eq 0 ] && grep -q '"model":"gru"' "$tmp/out"; then ok "--norm none leaves a plain stack plain"
else bad "--norm none" "$(show)"; fi

cli_finish
