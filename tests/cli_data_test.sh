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

# fasta: two nucleotide records (lower case, CRLF, wrapped) for bits per base; the unigram
# baseline is checked against the entropy awk computes from the same tokens
awk 'BEGIN { srand(4); for (r = 0; r < 6; r++) { printf ">r%d\r\n", r; s = "";
             for (i = 0; i < 300; i++) s = s substr("ACGTacgtAAN", int(rand() * 11) + 1, 1);
             for (i = 1; i <= 300; i += 70) printf "%s\r\n", substr(s, i, 70) } }' >"$tmp/a.fa"
run train --data "fasta:$tmp/a.fa" --length 32 "${S[@]}" --json --save "$tmp/f.safetensors"
if [ "$rc" -eq 0 ] && json_check "$tmp/out" bits_per_base baseline_bits_per_base alphabet \
    >/dev/null && [ "$(json_get "$tmp/out" alphabet)" = "\"nucleotide\"" ] \
    && grep -q '^  bits/base' "$tmp/out"; then
    bpb=$(json_get "$tmp/out" bits_per_base)
    base=$(json_get "$tmp/out" baseline_loss)
    # tokens: a separator (#) per record, then its residues; the training part is the first
    # 90% of them (the default --valid-fraction 0.1), the baseline the entropy of tokens 2..split
    want=$(awk '/^>/ { s = s "#"; next } { gsub(/\r/, ""); s = s toupper($0) }
        END { n = length(s); split_at = n - int(0.1 * n + 0.5);
              for (i = 2; i <= split_at; i++) c[substr(s, i, 1)]++;
              for (k in c) { p = c[k] / (split_at - 1); h -= p * log(p) } printf "%.6f", h }' "$tmp/a.fa")
    awk -v a="$base" -v b="$want" 'BEGIN { exit !((a - b) ^ 2 < 1e-10) }' \
        && ok "train --data fasta: bits_per_base $bpb, unigram baseline $base = awk's entropy" \
        || bad "fasta unigram baseline $base, awk says $want" "$(show)"
else bad "train --data fasta --json" "$(show)"; fi
run eval --load "$tmp/f.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" bits_per_base)" = "$bpb" ] \
    && ok "eval --load reproduces bits_per_base" || bad "eval --load fasta" "$(show)"
printf 'a\nb\na\nb\nc\nb\n' >"$tmp/l.txt"
run train --data "fasta:$tmp/a.fa" --labels "$tmp/l.txt" --valid-fraction 0.34 "${S[@]}" --json \
    --save "$tmp/fl.safetensors"
acc=$(json_get "$tmp/out" test_accuracy)
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" length)" = 300 ] && [ -n "$acc" ] \
    && ok "train --data fasta --labels: per-record classification, accuracy $acc" \
    || bad "fasta --labels" "$(show)"
run eval --load "$tmp/fl.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_accuracy)" = "$acc" ] \
    && ok "eval --load keeps the recorded --labels" || bad "eval --load fasta labels" "$(show)"
printf 'ACGT\n>x\nAC\n' >"$tmp/nohead.fa"
expect_usage "fasta: a sequence before any header" train --data "fasta:$tmp/nohead.fa" --length 2 "${S[@]}"
grep -q 'nohead.fa:1:' "$tmp/err" || bad "names file:line" "$(show)"
printf '>x\nACGT\nAC7T\n' >"$tmp/digit.fa"
expect_usage "fasta: a byte outside the alphabet" train --data "fasta:$tmp/digit.fa" --length 2 "${S[@]}"
grep -q "digit.fa:3:3: byte 0x37 ('7')" "$tmp/err" || bad "names file:line:column and the byte" "$(show)"
printf '>x\n>y\nACGT\n' >"$tmp/emptyrec.fa"
expect_usage "fasta: an empty record" train --data "fasta:$tmp/emptyrec.fa" --length 2 "${S[@]}"
printf 'a\nb\n' >"$tmp/l2.txt"
expect_usage "fasta: label count != record count" train --data "fasta:$tmp/a.fa" --labels "$tmp/l2.txt" "${S[@]}"
expect_usage "fasta without --length" train --data "fasta:$tmp/a.fa" "${S[@]}"
expect_usage "--labels on text data" train --data "text:$tmp/c.txt" --length 8 --labels "$tmp/l.txt" "${S[@]}"
expect_usage "--permute on fasta data" train --data "fasta:$tmp/a.fa" --length 8 --permute "${S[@]}"

# idx: 30 images of 4x4 and their labels, as MNIST lays them out; gzip copies when gzip exists
idx_pair() {   # idx_pair PREFIX N [LABEL_N]
    awk -v n="$2" -v ln="${3:-$2}" -v p="$1" 'function be(x) { return sprintf("%c%c%c%c",
            int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256) }
        BEGIN { srand(n); printf "%c%c%c%c%s%s%s", 0, 0, 8, 3, be(n), be(4), be(4) > p "-images";
                for (i = 0; i < n * 16; i++) printf "%c", int(rand() * 255) + 1 > p "-images";
                printf "%c%c%c%c%s", 0, 0, 8, 1, be(ln) > p "-labels";
                for (i = 0; i < ln; i++) printf "%c", i % 10 > p "-labels" }'
}
LC_ALL=C idx_pair "$tmp/tr" 30
LC_ALL=C idx_pair "$tmp/te" 10
run train --data "idx:$tmp/tr-images,$tmp/tr-labels" --valid-data "idx:$tmp/te-images,$tmp/te-labels" \
    --permute "${S[@]}" --json --save "$tmp/i.safetensors"
iacc=$(json_get "$tmp/out" test_accuracy); iloss=$(json_get "$tmp/out" test_loss)
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" length)" = 16 ] && [ "$(json_get "$tmp/out" eval_size)" = 10 ] \
    && ok "train --data idx --permute: 16 pixel steps, 10 test images, accuracy $iacc" \
    || bad "train --data idx" "$(show)"
run eval --load "$tmp/i.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_loss)" = "$iloss" ] \
    && ok "eval --load reuses the recorded permutation (test_loss $iloss)" || bad "eval idx" "$(show)"
run eval --load "$tmp/i.safetensors" --seed 77 --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" test_loss)" = "$iloss" ] \
    && ok "eval --load --seed 77: the same permutation and test pair" || bad "eval idx --seed" "$(show)"
if command -v gzip >/dev/null 2>&1; then
    gzip -c "$tmp/tr-images" >"$tmp/tr-images.gz"
    run train --data "idx:$tmp/tr-images.gz,$tmp/tr-labels" "${S[@]}" --json
    if [ "$rc" -eq 0 ]; then ok "train --data idx on gzip images (built with zlib)"
    elif grep -q 'is gzip-compressed and this mnemo was built without zlib: gunzip it, or install zlib1g-dev and rebuild' "$tmp/err" \
        && [ "$rc" -eq 2 ] && [ "$(err_lines)" -eq 1 ]; then
        ok "gzip idx refused with one line (built without zlib)"
    else bad "gzip idx" "$(show)"; fi
else skip "gzip idx: gzip is not installed"; fi
head -c 100 "$tmp/tr-images" >"$tmp/cut-images"
expect_usage "idx: truncated images" train --data "idx:$tmp/cut-images,$tmp/tr-labels" "${S[@]}"
grep -q 'cut-images" is truncated' "$tmp/err" || bad "names the file" "$(show)"
expect_usage "idx: labels given as images" train --data "idx:$tmp/tr-labels,$tmp/tr-labels" "${S[@]}"
expect_usage "idx: a labels file of 3 dimensions" train --data "idx:$tmp/tr-images,$tmp/tr-images" "${S[@]}"
printf 'IDX!\0\0\0\0' >"$tmp/magic"
expect_usage "idx: a wrong magic" train --data "idx:$tmp/magic,$tmp/tr-labels" "${S[@]}"
LC_ALL=C idx_pair "$tmp/mis" 30 29
expect_usage "idx: 30 images, 29 labels" train --data "idx:$tmp/mis-images,$tmp/mis-labels" "${S[@]}"
expect_usage "idx with --length" train --data "idx:$tmp/tr-images,$tmp/tr-labels" --length 5 "${S[@]}"

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
# quoted cells, as Python's csv module and statsmodels' data sets write them
awk 'BEGIN { print "\"YEAR\",\"SUN, ACTIVITY\""; for (i = 0; i < 80; i++)
             printf "%d,\"%.2f\"\n", 1700 + i, 50 + 40 * sin(i / 2) }' >"$tmp/q.csv"
run train --data "csv:$tmp/q.csv" --columns 2 --length 10 "${S[@]}" --json
if [ "$rc" -eq 0 ] && json_check "$tmp/out" test_mse >/dev/null; then
    ok "csv with quoted header names and cells (\"SUN, ACTIVITY\")"
else bad "csv with quoted cells" "$(show)"; fi
printf 'a,b\n1,"2\n3,4\n' >"$tmp/open.csv"
expect_usage "a quoted cell left open" train --data "csv:$tmp/open.csv" --length 1 "${S[@]}"
grep -q 'open.csv:2: column 2: a quoted cell is not closed' "$tmp/err" \
    && ok "... names file, line and column" || bad "open quote message" "$(show)"
printf 'a,b\n1,"2"x\n3,4\n' >"$tmp/after.csv"
expect_usage "text after a quoted cell" train --data "csv:$tmp/after.csv" --length 1 "${S[@]}"

# a number float32 cannot hold (found by fuzz_csv: it became Inf in a batch)
printf 'a,b\n1,2\n5,6\n3,4\n5888888888888888888888888888888888888888888888888888888888,6\n7,8\n' >"$tmp/big.csv"
expect_usage "a value beyond float32's range" train --data "csv:$tmp/big.csv" --length 1 "${S[@]}"
grep -q "big.csv:5:1: expected a finite number, got a number beyond float32's range" "$tmp/err" \
    && ok "... names file, line, column and the range" || bad "float32 range message" "$(show)"

cli_finish
