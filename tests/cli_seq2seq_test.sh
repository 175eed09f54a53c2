#!/usr/bin/env bash
# Sequence to sequence from the command line: `train --task reverse --model transformer`
# builds an encoder-decoder and reports the sequences it decodes right; eval --load decodes
# greedily again from the file alone; models without an encoder-decoder are refused.
#   bash tests/cli_seq2seq_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

A=(--task reverse --length 5 --batch 16 --steps 40 --eval-size 64 --threads 1)
M=(--model transformer --layers 1 --hidden 16 --heads 2)

run train "${A[@]}" "${M[@]}" --save "$tmp/r.safetensors" --json
if [ "$rc" -eq 0 ] && json_check "$tmp/out" test_accuracy test_token_accuracy encoder_blocks \
    >/dev/null && grep -q '"encoder_blocks":4' "$tmp/out" \
    && grep -q 'attention:residual:pre:layernorm:heads=2:causal,cross-attention:' "$tmp/out" \
    && grep -q '^  accuracy .*sequences reversed entirely right under greedy decoding' "$tmp/out" \
    && grep -q '^  tokens .*teacher forcing' "$tmp/out"; then
    ok "train --task reverse --model transformer: an encoder-decoder, sequence and token accuracy"
else bad "train --task reverse --model transformer" "$(show)"; fi
acc=$(json_get "$tmp/out" test_accuracy)
tok=$(json_get "$tmp/out" test_token_accuracy)

run eval --load "$tmp/r.safetensors" --eval-size 64 --threads 1 --json
if [ "$rc" -eq 0 ] && [ -n "$acc" ] && [ "$(json_get "$tmp/out" test_accuracy)" = "$acc" ] \
    && [ "$(json_get "$tmp/out" test_token_accuracy)" = "$tok" ]; then
    ok "eval --load decodes the same held-out sequences: accuracy $acc, tokens $tok"
else bad "eval --load of the reverse model (train said accuracy '$acc', tokens '$tok')" "$(show)"; fi

expect_usage "a recurrent model on reverse" train "${A[@]}" --model lstm
grep -q 'encoder-decoder' "$tmp/err" && ok "the refusal says what it takes" \
    || bad "the refusal names the encoder-decoder" "$(show)"
expect_usage "a TCN on reverse" train "${A[@]}" --model tcn
expect_usage "--blocks on reverse" train "${A[@]}" --blocks lstm:8
expect_usage "--causal on reverse" train "${A[@]}" "${M[@]}" --causal

cli_finish
