#!/usr/bin/env bash
# Checks of `mnemo tokenize train|encode|decode`: a trained tokenizer round-trips text
# (with non-ASCII text and invalid UTF-8) through encode | decode, the figures and JSON,
# --npy, every option of --help exercised, and bad usage (exit 2, one line).
#   bash tests/cli_tokenize_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

corpus=tests/fixtures/bpe/corpus.bin
tok=$tmp/tok.json

# ------------------------------------------------------------- train
run tokenize train --vocab 400 -o "$tok" "$corpus" --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command action vocab_size merges bytes tokens \
        bytes_per_token chars_per_token seconds); then
    ok "tokenize train --json: $(head -n 1 "$tmp/out")"
else bad "tokenize train" "$(show; echo; echo "${msg:-}")"; fi
[ "$(json_get "$tmp/out" vocab_size)" = 400 ] && [ "$(json_get "$tmp/out" merges)" = 144 ] \
    && ok "vocab 400 = 256 bytes + 144 merges" || bad "vocab/merges" "$(show)"
bpt=$(json_get "$tmp/out" bytes_per_token)
awk -v b="$bpt" 'BEGIN{exit !(b > 1.5)}' && ok "the corpus compresses: $bpt bytes per token" \
    || bad "bytes per token $bpt" "$(show)"
grep -q '"type": "BPE"' "$tok" && grep -q '"ByteLevel"' "$tok" \
    && ok "the file is a tokenizer.json with a BPE model and ByteLevel parts" || bad "file" "$(head -c 400 "$tok")"
# the same text twice as two files: the same merges (counts double, order stays)
run tokenize train --vocab 400 --output "$tmp/tok2.json" "$corpus" "$corpus"
[ "$rc" -eq 0 ] && cmp -s <(sed -n '/"merges"/,$p' "$tok") <(sed -n '/"merges"/,$p' "$tmp/tok2.json") \
    && ok "two copies of the corpus give the same merges" || bad "two files" "$(show)"
if [ "$have_python" = 1 ]; then
    python3 - "$tok" <<'EOF' && ok "python's json reads the file: 400 dense ids, 144 merges" || bad "json.load"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = d["model"]["vocab"]
assert sorted(v.values()) == list(range(400)), "ids"
assert len(d["model"]["merges"]) == 144
assert all(len(m.split(" ")) == 2 for m in d["model"]["merges"])
EOF
fi

# ------------------------------------------------------------- encode | decode
printf 'the cat sat on the mat \xff\xfe caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\n\n  x\t42\n' >"$tmp/in.txt"
cat "$corpus" >>"$tmp/in.txt"
"$bin" tokenize encode --tokenizer "$tok" "$tmp/in.txt" >"$tmp/ids.txt" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/ids.txt")" -eq 1 ] && grep -q 'bytes per token' "$tmp/err" \
    && ok "encode: one line of ids; $(cut -c1-100 "$tmp/err")" || bad "encode" "$(show)"
"$bin" tokenize decode --tokenizer "$tok" "$tmp/ids.txt" >"$tmp/back.bin" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 0 ] && cmp -s "$tmp/in.txt" "$tmp/back.bin" \
    && ok "decode(encode(text)) is the text, byte for byte (invalid UTF-8 included)" \
    || bad "round trip" "$(show)"
# standard input, '-' and a pipe
"$bin" tokenize encode --tokenizer "$tok" - <"$tmp/in.txt" 2>/dev/null \
    | "$bin" tokenize decode --tokenizer "$tok" 2>/dev/null | cmp -s - "$tmp/in.txt" \
    && ok "encode - | decode (standard input) round-trips" || bad "stdin round trip"
head -c 3000 /dev/urandom >"$tmp/rand.bin"
"$bin" tokenize encode --tokenizer "$tok" "$tmp/rand.bin" 2>/dev/null \
    | "$bin" tokenize decode --tokenizer "$tok" 2>/dev/null | cmp -s - "$tmp/rand.bin" \
    && ok "random bytes round-trip" || bad "random bytes round trip"
: >"$tmp/empty"
run tokenize encode --tokenizer "$tok" "$tmp/empty"
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "" ] && ok "empty input: an empty line" || bad "empty" "$(show)"

# --npy and --json
run tokenize encode --tokenizer "$tok" "$tmp/in.txt" --npy "$tmp/ids.npy" --json
n_tok=$(json_get "$tmp/out" tokens)
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command action bytes characters tokens \
        bytes_per_token chars_per_token) && [ "$(head -n 1 "$tmp/out" | wc -w)" = "$n_tok" ]; then
    ok "encode --json: the ids line, then the JSON ($n_tok tokens)"
else bad "encode --json" "$(show; echo "${msg:-}")"; fi
# .npy: magic, '<i4', shape (n_tok,), and 4 bytes per id after the header
hdr=$(head -c 128 "$tmp/ids.npy" | tr -d '\0' | tr '\n' ' ')
size=$(wc -c <"$tmp/ids.npy")
case $hdr in *"'<i4'"*"($n_tok,)"*)
    [ $((size % 64)) -eq $(( (n_tok * 4) % 64 )) ] && ok "--npy writes int32 [$n_tok]" \
        || bad "--npy size $size for $n_tok ids" ;;
*) bad "--npy header: $hdr" ;;
esac
run tokenize decode --tokenizer "$tok" "$tmp/ids.txt" --json
[ "$rc" -eq 0 ] && json_check "$tmp/out" command action tokens bytes >/dev/null \
    && ok "decode --json ends stdout with the JSON" || bad "decode --json" "$(show)"
run tokenize encode --tokenizer "$tok" "$tmp/in.txt" --threads 2 --seed 5
cp "$tmp/out" "$tmp/o1"
run tokenize encode --tokenizer "$tok" "$tmp/in.txt"
cmp -s "$tmp/o1" "$tmp/out" && ok "--threads and --seed are accepted and change nothing" \
    || bad "threads/seed" "$(show)"

# every option of --help was used above
"$bin" tokenize --help >"$tmp/help"
used="--vocab --output --tokenizer --npy --threads --seed --json"
missing=""
for o in $(sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p' "$tmp/help"); do
    case " $used " in *" $o "*) ;; *) missing="$missing $o" ;; esac
done
[ -z "$missing" ] && ok "every option of tokenize --help is exercised here" \
    || bad "options not exercised:$missing"

# ------------------------------------------------------------- bad usage and bad files
expect_usage "no action" tokenize
expect_usage "unknown action" tokenize split --tokenizer "$tok"
expect_usage "train without --vocab" tokenize train -o "$tmp/t.json" "$corpus"
expect_usage "train without -o" tokenize train --vocab 300 "$corpus"
expect_usage "train without files" tokenize train --vocab 300 -o "$tmp/t.json"
expect_usage "vocab below 256" tokenize train --vocab 255 -o "$tmp/t.json" "$corpus"
expect_usage "missing corpus file" tokenize train --vocab 300 -o "$tmp/t.json" "$tmp/nope.txt"
expect_usage "corpus is a folder" tokenize train --vocab 300 -o "$tmp/t.json" "$tmp"
expect_usage "output folder missing" tokenize train --vocab 300 -o "$tmp/no/dir/t.json" "$corpus"
expect_usage "encode without --tokenizer" tokenize encode "$tmp/in.txt"
expect_usage "encode with --vocab" tokenize encode --tokenizer "$tok" --vocab 300 "$tmp/in.txt"
expect_usage "decode with --npy" tokenize decode --tokenizer "$tok" --npy "$tmp/x.npy" "$tmp/ids.txt"
expect_usage "encode of two files" tokenize encode --tokenizer "$tok" "$tmp/in.txt" "$tmp/in.txt"
expect_usage "tokenizer that is not JSON" tokenize encode --tokenizer "$corpus" "$tmp/in.txt"
expect_usage "missing tokenizer" tokenize encode --tokenizer "$tmp/nope.json" "$tmp/in.txt"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}' >"$tmp/small.json"
expect_usage "tokenizer without the 256 bytes" tokenize encode --tokenizer "$tmp/small.json" "$tmp/in.txt"
printf '1 2 x3\n' >"$tmp/badids.txt"
expect_usage "decode of a word that is not an id" tokenize decode --tokenizer "$tok" "$tmp/badids.txt"
printf '1 2 400\n' >"$tmp/badids.txt"
expect_usage "decode of an id past the vocabulary" tokenize decode --tokenizer "$tok" "$tmp/badids.txt"
expect_usage "bad option with --json" tokenize encode --tokenizer "$tmp/nope.json" "$tmp/in.txt" --json

cli_finish
