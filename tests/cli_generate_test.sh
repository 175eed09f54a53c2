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
# a relative --tokenizer is recorded as an absolute path: found from another folder
(cd "$tmp" && "$bin" train --data text:text.txt --tokenizer tok.json --length 8 --model lstm \
    --hidden 8 --steps 2 --threads 1 --save rel.st >/dev/null 2>&1)
run generate --load "$tmp/rel.st" --tokens 3 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" tokenizer)" = "\"$tmp/tok.json\"" ] \
    && ok "a relative --tokenizer is found from another folder" || bad "relative tokenizer" "$(show)"
mv "$tok" "$tmp/tok-moved.json"
expect_usage "eval when the recorded tokenizer is gone" eval --load "$tmp/bpe.safetensors"
mv "$tmp/tok-moved.json" "$tok"
run diagnose --load "$tmp/bpe.safetensors" --data "text:$tmp/text.txt" --length 24 --threads 1 \
    --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" tokenizer)" = "\"$tok\"" ] \
    && ok "diagnose --load reads the text through the recorded tokenizer" || bad "diagnose --load" "$(show)"
expect_usage "diagnose --load with another tokenizer" diagnose --load "$tmp/bpe.safetensors" \
    --data "text:$tmp/text.txt" --length 24 --tokenizer "$tmp/tok2.json"
expect_usage "--tokenizer with --task" train --task adding --length 10 --model lstm \
    --tokenizer "$tok"
printf '1,2\n3,4\n5,6\n' >"$tmp/s.csv"
expect_usage "--tokenizer with csv data" train --data "csv:$tmp/s.csv" --length 2 --model lstm \
    --tokenizer "$tok"
expect_usage "--tokenizer that is not a tokenizer" train --data "text:$tmp/text.txt" --length 8 \
    --model lstm --tokenizer "$tmp/text.txt"

# ------------------------------------------------------------- generate
# gen DESC MODEL ARGS...: a model trained 30 steps on the text's bytes generates 40 tokens,
# the same seed gives the same text, and the JSON's text is what was printed
gen_check() {
    local desc=$1 file=$2; shift 2
    run generate --load "$file" --prompt "the quick" --tokens 40 --seed 5 --threads 1 "$@" --json
    if [ "$rc" -ne 0 ]; then bad "generate ($desc)" "$(show)"; return; fi
    sed '$d' "$tmp/out" >"$tmp/first"
    if msg=$(json_check "$tmp/out" text tokens prompt_tokens tokens_per_s) \
            && [ "$(json_get "$tmp/out" tokens)" = 40 ]; then
        ok "generate ($desc): $(head -n 1 "$tmp/out" | tr -d '\000' | cut -c1-60)"
    else bad "generate ($desc) JSON" "$(show; echo; echo "${msg:-}")"; fi
    if [ "$have_python" = 1 ]; then
        python3 - "$tmp/out" <<'PY' && ok "generate ($desc): the JSON text is the text printed" \
            || bad "generate ($desc): JSON text vs stdout" "$(show)"
import json, sys
raw = open(sys.argv[1], "rb").read()
cut = raw.rstrip(b"\n").rfind(b"\n{")
printed, last = raw[:cut + 1], raw[cut + 1:]
d = json.loads(last)
assert d["text_bytes"] == len(printed) or d["text_bytes"] == len(printed) - 1, (d, printed)
printed = printed[:d["text_bytes"]]
# the JSON's text: the printed bytes, each byte starting no valid character as U+FFFD
assert printed.decode("utf-8", "replace") == d["text"] or "\ufffd" in d["text"], (printed, d)
if b"\0" not in printed:
    assert printed.decode("utf-8", "replace").replace("\ufffd", "") == d["text"].replace("\ufffd", ""), (printed, d)
PY
    fi
    run generate --load "$file" --prompt "the quick" --tokens 40 --seed 5 --threads 1 "$@" --json
    [ "$rc" -eq 0 ] && cmp -s <(sed '$d' "$tmp/out") "$tmp/first" \
        && ok "generate ($desc): the same seed, the same text" || bad "generate ($desc) seed" "$(show)"
}
train_lm() {   # train_lm FILE ARGS...
    local file=$1; shift
    run train --data "text:$tmp/text.txt" --length 16 --steps 30 --batch 8 --threads 1 \
        --save "$file" "$@"
    [ "$rc" -eq 0 ] || bad "train $*" "$(show)"
}
train_lm "$tmp/lstm.st" --model lstm --hidden 16
gen_check "byte lstm" "$tmp/lstm.st"
gen_check "byte lstm, top-k 3, temperature 0.7" "$tmp/lstm.st" --top-k 3 --temperature 0.7
gen_check "bpe lstm" "$tmp/bpe.safetensors"
train_lm "$tmp/tf.st" --model transformer --hidden 16 --heads 2 --layers 1 --causal
gen_check "causal transformer" "$tmp/tf.st"
train_lm "$tmp/s4d.st" --model s4d --hidden 16 --layers 1 --state 4
gen_check "s4d" "$tmp/s4d.st"

# greedy: the same text for any seed; other seeds give other samples
run generate --load "$tmp/lstm.st" --prompt "the " --tokens 30 --temperature 0 --seed 1
a=$(cat "$tmp/out")
run generate --load "$tmp/lstm.st" --prompt "the " --tokens 30 --temperature 0 --seed 2
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "$a" ] && [ -n "$a" ] \
    && ok "temperature 0 is greedy: the seed changes nothing" || bad "greedy" "$(show)"
run generate --load "$tmp/lstm.st" --prompt "the " --tokens 30 --seed 1
a=$(cat "$tmp/out")
run generate --load "$tmp/lstm.st" --prompt "the " --tokens 30 --seed 2
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" != "$a" ] && ok "another seed, another sample" \
    || bad "seeds" "$(show)"
# without --json stdout is the continuation alone: 30 byte tokens are 30 bytes
run generate --load "$tmp/lstm.st" --prompt "the " --tokens 30 --seed 1
[ "$rc" -eq 0 ] && [ "$(wc -c <"$tmp/out")" -eq 30 ] && ok "30 byte tokens print 30 bytes" \
    || bad "byte count $(wc -c <"$tmp/out")" "$(show)"
printf 'the lazy' >"$tmp/prompt.txt"
run generate --load "$tmp/lstm.st" --prompt-file "$tmp/prompt.txt" --tokens 10 --echo
[ "$rc" -eq 0 ] && head -c 8 "$tmp/out" | grep -q '^the lazy$' \
    && ok "--prompt-file and --echo" || bad "--prompt-file --echo" "$(show)"
: >"$tmp/empty.txt"
run generate --load "$tmp/lstm.st" --prompt-file "$tmp/empty.txt" --tokens 10 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" prompt_tokens)" = 1 ] \
    && ok "an empty prompt starts from a newline (1 token)" || bad "empty prompt" "$(show)"

# refusals
run train --task adding --length 10 --model lstm --hidden 8 --steps 2 --save "$tmp/add.st"
expect_usage "a model of a task, not text" generate --load "$tmp/add.st" --prompt x
train_lm "$tmp/tfb.st" --model transformer --hidden 16 --heads 2 --layers 1
expect_usage "a non-causal transformer" generate --load "$tmp/tfb.st" --prompt x
expect_usage "--top-k 0" generate --load "$tmp/lstm.st" --prompt x --top-k 0
expect_usage "--top-k above the vocabulary" generate --load "$tmp/lstm.st" --prompt x --top-k 257
expect_usage "a negative temperature" generate --load "$tmp/lstm.st" --prompt x --temperature -1
expect_usage "--prompt and --prompt-file" generate --load "$tmp/lstm.st" --prompt x \
    --prompt-file "$tmp/prompt.txt"
expect_usage "--tokenizer for a byte model" generate --load "$tmp/lstm.st" --prompt x \
    --tokenizer "$tok"
expect_usage "another tokenizer" generate --load "$tmp/bpe.safetensors" --prompt x \
    --tokenizer "$tmp/tok2.json"
expect_usage "--load missing" generate --load "$tmp/nothing.st" --prompt x
expect_usage "--tokens 0" generate --load "$tmp/lstm.st" --prompt x --tokens 0

cli_finish
