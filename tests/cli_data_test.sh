#!/usr/bin/env bash
# mnemo train / eval / diagnose on the user's own files (--data KIND:PATH): a small end to
# end run on text reporting bits per character, eval --load reproducing it from the file's
# record, npy arrays, and every malformed input refused with exit 2 and one line naming
# the file.
#   bash tests/cli_data_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

# a small corpus: words with a two-byte UTF-8 letter, so characters and bytes differ
awk 'BEGIN { srand(3); split("the cat sat on a mat café naïve dog ran", w, " ");
             for (i = 0; i < 3000; i++) printf "%s ", w[int(rand() * 10) + 1] }' >"$tmp/c.txt"
S=(--model lstm --hidden 16 --steps 20 --batch 8 --threads 1 --seed 5)

run train --data "text:$tmp/c.txt" --length 24 "${S[@]}" --json --save "$tmp/m.safetensors"
if [ "$rc" -eq 0 ] && json_check "$tmp/out" bits_per_char bits_per_byte perplexity \
    baseline_bits_per_char data >/dev/null; then
    bpc=$(json_get "$tmp/out" bits_per_char)
    bpb=$(json_get "$tmp/out" bits_per_byte)
    loss=$(json_get "$tmp/out" test_loss)
    if awk -v c="$bpc" -v b="$bpb" -v l="$loss" 'BEGIN { exit !(c > b && b > 0 &&
            (l / log(2) - b) ^ 2 < 1e-6) }'; then
        ok "train --data text: bits_per_char $bpc > bits_per_byte $bpb = test_loss/ln 2"
    else bad "train --data text: bits per char/byte inconsistent" "$(tail -n 1 "$tmp/out")"; fi
else bad "train --data text --json" "$(show)"; fi
grep -q '^  bits/char' "$tmp/out" && ok "train prints bits/char" || bad "train bits/char line" "$(show)"

run eval --load "$tmp/m.safetensors" --threads 1 --json
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" bits_per_char)" = "$bpc" ] \
    && [ "$(json_get "$tmp/out" test_loss)" = "$loss" ]; then
    ok "eval --load reproduces bits_per_char $bpc from the file's data record"
else bad "eval --load bits_per_char (want $bpc)" "$(show)"; fi
run eval --load "$tmp/m.safetensors" --data "text:$tmp/c.txt" --length 24 --seed 5 --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" bits_per_char)" = "$bpc" ] \
    && ok "eval --load --data again gives the same bits_per_char" \
    || bad "eval --load --data" "$(show)"

# a separate validation file
head -c 400 "$tmp/c.txt" >"$tmp/v.txt"
run train --data "text:$tmp/c.txt" --valid-data "text:$tmp/v.txt" --length 24 "${S[@]}" --json \
    --save "$tmp/v.safetensors"
ev=$(json_get "$tmp/out" eval_size)
[ "$rc" -eq 0 ] && [ "$ev" = 17 ] && ok "--valid-data: 400 bytes in 17 windows of 24" \
    || bad "--valid-data (eval_size $ev, want 17)" "$(show)"
run eval --load "$tmp/v.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" eval_size)" = 17 ] \
    && ok "eval --load keeps the recorded --valid-data" || bad "eval --load valid-data" "$(show)"

run diagnose --data "text:$tmp/c.txt" --length 12 --model lstm --hidden 8 --steps 2 --batch 4 \
    --batches 1 --threads 1 --json
[ "$rc" -eq 0 ] && json_check "$tmp/out" data verdict >/dev/null \
    && ok "diagnose --data text" || bad "diagnose --data" "$(show)"

# npy arrays: X [N,T,I] float32 and class labels [N], written by numpy
np_py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then np_py=$p; break; fi
done
if [ -n "$np_py" ]; then
    "$np_py" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
r = np.random.default_rng(0)
x = r.standard_normal((40, 6, 2)).astype(np.float32)
np.save(d + "/x.npy", x)
np.save(d + "/y.npy", (x[:, 0, 0] > 0).astype(np.int64))
np.save(d + "/yr.npy", x[:, :, 1].cumsum(1).astype(np.float32))
x[3, 2, 1] = np.nan
np.save(d + "/xnan.npy", x)
PY
    run train --data "npy:$tmp/x.npy,$tmp/y.npy" "${S[@]}" --json --save "$tmp/n.safetensors"
    acc=$(json_get "$tmp/out" test_accuracy)
    [ "$rc" -eq 0 ] && [ -n "$acc" ] && [ "$(json_get "$tmp/out" length)" = 6 ] \
        && ok "train --data npy: classification, accuracy $acc" || bad "train --data npy" "$(show)"
    run eval --load "$tmp/n.safetensors" --threads 1 --json
    [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_accuracy)" = "$acc" ] \
        && ok "eval --load on npy data reproduces the accuracy" || bad "eval npy" "$(show)"
    run train --data "npy:$tmp/x.npy,$tmp/yr.npy" "${S[@]}" --json
    [ "$rc" -eq 0 ] && ! grep -q '"test_accuracy"' "$tmp/out" \
        && ok "train --data npy: float targets [N,T] are regression" || bad "npy regression" "$(show)"
    expect_usage "npy X with a NaN" train --data "npy:$tmp/xnan.npy,$tmp/y.npy" "${S[@]}"
    grep -q 'xnan.npy' "$tmp/err" || bad "the NaN refusal names the file" "$(show)"
    expect_usage "npy with --length" train --data "npy:$tmp/x.npy,$tmp/y.npy" --length 5 "${S[@]}"
    printf '\223NUMPX\001\000' >"$tmp/bad.npy"
    expect_usage "npy with a wrong magic" train --data "npy:$tmp/bad.npy,$tmp/y.npy" "${S[@]}"
    grep -q 'bad.npy' "$tmp/err" || bad "the magic refusal names the file" "$(show)"
    head -c 100 "$tmp/x.npy" >"$tmp/trunc.npy"
    expect_usage "truncated npy" train --data "npy:$tmp/trunc.npy,$tmp/y.npy" "${S[@]}"
    grep -q 'trunc.npy' "$tmp/err" || bad "the truncation refusal names the file" "$(show)"
else
    skip "npy data checks: python3 with numpy is not installed"
fi

# csv: forecasting with the training normalization recorded in the file
awk 'BEGIN { print "day,temp,rain"; for (i = 0; i < 400; i++)
             printf "d%d,%.4f,%.3f\r\n", i, 10 + 5 * sin(i / 10), (i * 7 % 13) / 3 }' >"$tmp/s.csv"
run train --data "csv:$tmp/s.csv" --columns temp --horizon 2 --length 16 "${S[@]}" --json \
    --save "$tmp/c.safetensors"
mse=$(json_get "$tmp/out" test_mse)
if [ "$rc" -eq 0 ] && json_check "$tmp/out" test_mse test_mae baseline_mse baseline_mae >/dev/null \
    && grep -q '^  forecast    MSE' "$tmp/out"; then
    ok "train --data csv: MSE $mse and MAE against repeat-the-last-value"
else bad "train --data csv" "$(show)"; fi
run eval --load "$tmp/c.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_mse)" = "$mse" ] \
    && ok "eval --load reproduces the csv MSE (columns, horizon, normalization recorded)" \
    || bad "eval --load csv (want test_mse $mse)" "$(show)"
printf '1,2\n3,4\n5\n' >"$tmp/ragged.csv"
expect_usage "a ragged csv row" train --data "csv:$tmp/ragged.csv" --length 1 "${S[@]}"
grep -q 'ragged.csv:3:' "$tmp/err" || bad "the ragged-row refusal names file:line" "$(show)"
printf '1,2\n3,NaN\n5,6\n' >"$tmp/nan.csv"
expect_usage "a NaN csv cell" train --data "csv:$tmp/nan.csv" --length 1 "${S[@]}"
grep -q 'nan.csv:2:2:' "$tmp/err" || bad "the NaN refusal names file:line:column" "$(show)"
printf '1,2\n,4\n5,6\n' >"$tmp/hole.csv"
expect_usage "an empty csv cell" train --data "csv:$tmp/hole.csv" --length 1 "${S[@]}"
expect_usage "--columns on text data" train --data "text:$tmp/c.txt" --length 8 --columns 1 "${S[@]}"
expect_usage "csv without --length" train --data "csv:$tmp/s.csv" "${S[@]}"

# refusals: one line, exit 2, naming the file where there is one
: >"$tmp/empty.txt"
expect_usage "an empty text file" train --data "text:$tmp/empty.txt" --length 8 "${S[@]}"
grep -q 'empty.txt' "$tmp/err" || bad "the empty-file refusal names the file" "$(show)"
expect_usage "a missing file" train --data "text:$tmp/nope.txt" --length 8 "${S[@]}"
grep -q 'nope.txt' "$tmp/err" || bad "the missing-file refusal names the file" "$(show)"
printf 'abc\377\376' >"$tmp/bin.txt"
expect_usage "text shorter than a window (bad UTF-8 is fine)" train --data "text:$tmp/bin.txt" \
    --length 8 "${S[@]}"
expect_usage "--data with --task" train --data "text:$tmp/c.txt" --task adding --length 8 "${S[@]}"
expect_usage "text without --length" train --data "text:$tmp/c.txt" "${S[@]}"
expect_usage "an unknown kind" train --data "wav:$tmp/c.txt" --length 8 "${S[@]}"
expect_usage "--valid-fraction without --data" train --task adding --length 8 --valid-fraction 0.2 "${S[@]}"
expect_usage "--valid-data and --valid-fraction" train --data "text:$tmp/c.txt" --length 8 \
    --valid-data "text:$tmp/v.txt" --valid-fraction 0.2 "${S[@]}"
expect_usage "neither --task nor --data" train "${S[@]}"
expect_usage "eval --data with --task" eval --load "$tmp/m.safetensors" --data "text:$tmp/c.txt" --task adding
expect_usage "eval on an empty file" eval --load "$tmp/m.safetensors" --data "text:$tmp/empty.txt"
cli_finish
