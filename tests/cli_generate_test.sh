#!/usr/bin/env bash
# Checks of text data encoded with a BPE tokenizer (--tokenizer) and of `mnemo generate`:
# a tokenizer trained here, 20 steps on its ids, bits per character in the JSON that
# eval --load reproduces, the tokenizer recorded by path and content hash (another one
# refused); generation from byte and BPE models of three families, seeded, and its refusals.
#   bash tests/cli_generate_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

# a small text of repeated words with brackets, written here
python_text() {
    awk 'BEGIN { srand(7); split("the quick brown fox jumps over a lazy dog (and) [runs] away", w, " ");
                 for (i = 0; i < 5000; i++) printf "%s%s", w[int(rand() * 12) + 1], (i % 13 == 12) ? "\n" : " " }'
}
python_text >"$tmp/text.txt"
tok=$tmp/tok.json

# ------------------------------------------------------------- --tokenizer
run tokenize train --vocab 320 -o "$tok" "$tmp/text.txt"
[ "$rc" -eq 0 ] && ok "a tokenizer trained on the text" || bad "tokenize train" "$(show)"
run tokenize train --vocab 270 -o "$tmp/tok2.json" "$tmp/text.txt"
[ "$rc" -eq 0 ] || bad "tokenize train (2)" "$(show)"

run train --data "text:$tmp/text.txt" --tokenizer "$tok" --length 24 --model lstm --hidden 16 \
    --steps 20 --batch 8 --threads 1 --save "$tmp/bpe.safetensors" --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" bits_per_char bits_per_byte perplexity \
        baseline_bits_per_char tokenizer); then
    ok "train --tokenizer: $(grep -o '"bits_per_char":[^,]*' "$tmp/out")"
else bad "train --tokenizer" "$(show; echo; echo "${msg:-}")"; fi
bpc=$(json_get "$tmp/out" bits_per_char)
loss=$(json_get "$tmp/out" test_loss)
awk -v b="$bpc" 'BEGIN{exit !(b > 0 && b < 100)}' && ok "bits per character finite: $bpc" \
    || bad "bits per character $bpc" "$(show)"
# bits per character = loss / ln 2 * tokens per char, and a BPE token covers more than one
# character here: the bits per token exceed the bits per character
awk -v b="$bpc" -v l="$loss" 'BEGIN{exit !(l / log(2) > b * 1.2)}' \
    && ok "bits per token ($loss nats) above bits per character: tokens span characters" \
    || bad "tokens per char: loss $loss, bpc $bpc" "$(show)"
grep -q '"vocab_size"\|"hidden":16' "$tmp/out" || true

run eval --load "$tmp/bpe.safetensors" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" bits_per_char)" = "$bpc" ] \
    && ok "eval --load finds the tokenizer and reproduces bits per character $bpc" \
    || bad "eval --load: $(json_get "$tmp/out" bits_per_char) vs $bpc" "$(show)"
expect_usage "eval with another tokenizer" eval --load "$tmp/bpe.safetensors" \
    --tokenizer "$tmp/tok2.json"
grep -q "not the one" "$tmp/err" && ok "the refusal says it is not the model's tokenizer" \
    || bad "refusal text" "$(show)"
cp "$tok" "$tmp/tok-copy.json"
run eval --load "$tmp/bpe.safetensors" --tokenizer "$tmp/tok-copy.json" --threads 1 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" bits_per_char)" = "$bpc" ] \
    && ok "a copy of the tokenizer (same content) is accepted" || bad "copy" "$(show)"
mv "$tok" "$tmp/tok-moved.json"
expect_usage "eval when the recorded tokenizer is gone" eval --load "$tmp/bpe.safetensors"
mv "$tmp/tok-moved.json" "$tok"
expect_usage "--tokenizer with --task" train --task adding --length 10 --model lstm \
    --tokenizer "$tok"
printf '1,2\n3,4\n5,6\n' >"$tmp/s.csv"
expect_usage "--tokenizer with csv data" train --data "csv:$tmp/s.csv" --length 2 --model lstm \
    --tokenizer "$tok"
expect_usage "--tokenizer that is not a tokenizer" train --data "text:$tmp/text.txt" --length 8 \
    --model lstm --tokenizer "$tmp/text.txt"
cli_finish
