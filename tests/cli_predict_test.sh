#!/usr/bin/env bash
# Checks of `mnemo predict` (DESIGN.md, "CLI contract"; issue 5's malformed-input list).
#   bash tests/cli_predict_test.sh [build/mnemo]
# A run on a PyTorch fixture must reproduce PyTorch's output; every malformed weights or
# input file, and every mismatch between the options and the file, must end with exit 2,
# one line on stderr, and no output file (an existing one left as it was).
# Needs only bash, coreutils and awk (the arrays are compared through od).
set -u

source "$(dirname "$0")/cli_lib.sh"

F=tests/fixtures/predict
outdir=$tmp/outdir
mkdir -p "$outdir"
out=$outdir/y.npy

# ------------------------------------------------------------- file builders

# le BYTES N: writes N as BYTES little-endian bytes (no subshells: the suite runs on busy
# machines, where every process started costs).
le() {
    local i b s=
    for ((i = 0; i < $1; i++)); do printf -v b '\\%03o' $((($2 >> (8 * i)) & 255)); s+=$b; done
    printf "$s"
}
# zeros N: N zero bytes.
zeros() { [ "$1" -gt 0 ] && head -c "$1" /dev/zero; return 0; }
# st FILE HEADER DATA_BYTES: a safetensors file with that header text and zero data.
st() { { le 8 ${#2}; printf '%s' "$2"; zeros "$3"; } >"$1"; }
# npy FILE MAJOR HEADER DATA_BYTES: a .npy file with that header text and zero data.
npy() {
    local lb=2
    [ "$2" = 1 ] || lb=4
    { printf '\223NUMPY'; le 1 "$2"; le 1 0; le $lb ${#3}; printf '%s' "$3"; zeros "$4"; } >"$1"
}
shopt -s nullglob dotglob
# left: what is in the output folder, on one line.
left() { local f=("$outdir"/*); printf '%s' "${f[*]##*/}"; }
# floats FILE: the values of a little-endian float32 .npy file (format 1.0), one a line.
floats() {
    local hlen
    hlen=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
    od -An -v -tf4 -j $((10 + hlen)) "$1" | tr -s ' ' '\n' | sed '/^$/d'
}
# max_rel_error GOT REF: tests/test_golden.c's measure, |g-r| / max(|r|, 1e-2 max|r|).
max_rel_error() {
    paste <(floats "$1") <(floats "$2") | awk '
        { g[NR] = $1; r[NR] = $2; a = $2 < 0 ? -$2 : $2; if (a > s) s = a }
        END { if (NR == 0) { print "nan"; exit }
              for (i = 1; i <= NR; i++) {
                  d = g[i] - r[i]; if (d < 0) d = -d
                  den = r[i] < 0 ? -r[i] : r[i]; if (den < 0.01 * s) den = 0.01 * s
                  if (den > 0 && d / den > w) w = d / den }
              printf "%.3g %d\n", w, NR }'
}

P=(predict --model lstm --layers 2 --hidden 4 --input-size 5 --bidirectional)
W=(--weights "$F/lstm_l2_bidir.safetensors")
X=(--input "$F/lstm_l2_bidir_x.npy")

# refused DESCRIPTION ARGS...: exit 2, exactly one stderr line "mnemo: ...", no stdout,
# and nothing in the output folder (as expect_usage, with bash builtins only).
refused() {
    local desc=$1 lines l
    shift
    run "$@"
    mapfile -t lines <"$tmp/err"
    l=$(left)
    if [ "$rc" -eq 2 ] && [ "${#lines[@]}" -eq 1 ] && [[ ${lines[0]} == "mnemo: "* ]] \
        && [ ! -s "$tmp/out" ] && [ -z "$l" ]; then
        ok "$desc -> exit 2: ${lines[0]:0:110}"
    else
        bad "$desc (want exit 2, one 'mnemo: ' line on stderr, nothing on stdout, no file)" \
            "$(show)${l:+
left behind: $l}"
        rm -f "$outdir"/*
    fi
}

# ------------------------------------------------------------- help and success
run predict --help
if [ "$rc" -eq 0 ] && grep -q -- '--weights' "$tmp/out" && grep -q -- '--input-size' "$tmp/out" \
    && grep -q -- '--threads' "$tmp/out"; then ok "predict --help lists its options"
else bad "predict --help" "$(show)"; fi

# matches NAME ARGS...: predict on fixture NAME reproduces PyTorch's output.
matches() {
    local name=$1; shift
    run predict "$@" --hidden 4 --input-size 5 --weights "$F/$name.safetensors" \
        --input "$F/${name}_x.npy" --output "$out" --threads 1
    if [ "$rc" -ne 0 ] || [ ! -f "$out" ]; then
        bad "predict $name (want exit 0 and $out)" "$(show)"
        return
    fi
    local e n want
    read -r e n < <(max_rel_error "$out" "$F/${name}_y.npy")
    want=$(floats "$F/${name}_y.npy" | wc -l)
    if [ "${n:-0}" = "$want" ] && awk -v e="$e" 'BEGIN { exit !(e <= 1e-5) }'; then
        ok "predict $name matches PyTorch: max relative error $e over $n values"
    else
        bad "predict $name: max relative error ${e:-?} over ${n:-?} values (want <= 1e-5 over $want)"
    fi
    if cmp -s <(head -c 128 "$out") <(head -c 128 "$F/${name}_y.npy"); then
        ok "predict $name writes the header numpy.save writes"
    else bad "predict $name: header differs from numpy's" "$(head -c 128 "$out" | od -c | head)"; fi
    rm -f "$out"
}
matches rnn_l1 --model rnn
matches rnn-relu_l2_bidir --model rnn-relu --layers 2 --bidirectional
matches gru_l1 --model gru --layers 1
matches lstm_l2_bidir --model lstm --layers 2 --bidirectional
# state dicts saved in half precision, bfloat16 and float64, and one whose tensors outside
# its prefix are F16, BF16 and BOOL (tools/gen_reader_fixtures.py): read as float32
matches lstm_half --model lstm
matches lstm_bf16_l2_bidir --model lstm --layers 2 --bidirectional
matches gru_f64 --model gru
matches lstm_mixed --model lstm
# the input as numpy.load reads it: big-endian in Fortran order is the same array
run predict --model lstm --hidden 4 --input-size 5 --weights "$F/lstm_l1.safetensors" \
    --input "$F/lstm_l1_x.npy" --output "$tmp/y_c.npy" --threads 1
run predict --model lstm --hidden 4 --input-size 5 --weights "$F/lstm_l1.safetensors" \
    --input "$F/lstm_l1_x_be_fortran.npy" --output "$out" --threads 1
if [ "$rc" -eq 0 ] && cmp -s "$out" "$tmp/y_c.npy"; then
    ok "predict on a big-endian Fortran-order input gives the C-order input's output, byte for byte"
else bad "predict on a big-endian Fortran-order input" "$(show)"; fi
rm -f "$out"
# a NaN at the input's first value goes through as through PyTorch (tests/
# cli_nonfinite_test.sh checks the values), with one warning saying where
hdr=$(( $(od -An -tu2 -j8 -N2 "$F/lstm_l1_x.npy") + 10 ))
{ head -c "$hdr" "$F/lstm_l1_x.npy"; printf '\000\000\300\177'
  tail -c +$((hdr + 5)) "$F/lstm_l1_x.npy"; } >"$tmp/x_nan.npy"
run predict --model lstm --hidden 4 --input-size 5 --weights "$F/lstm_l1.safetensors" \
    --input "$tmp/x_nan.npy" --output "$out" --threads 1
if [ "$rc" -eq 0 ] && [ "$(err_lines)" -eq 1 ] && [ -s "$out" ] &&
    grep -q '^warning: --input ".*": step 0 of sequence 0 holds NaN at feature 0' "$tmp/err"; then
    ok "a NaN in the input: the output, and $(cut -c1-70 "$tmp/err")"
else bad "a NaN in the predict input" "$(show)"; fi
rm -f "$out"

# matches_opts NAME REF ARGS...: predict on fixture NAME (tools/gen_predict_fixtures_proj.py:
# I=4, H=5) reproduces PyTorch's REF (_y or _y_pad). The bound is 2e-5: lstm_nobias_l1
# scores 1.2e-5 there (an element of 0.0032 beside a scale of 0.34; see test_predict.c).
matches_opts() {
    local name=$1 ref=$2; shift 2
    run predict "$@" --hidden 5 --input-size 4 --weights "$F/$name.safetensors" \
        --input "$F/${name}_x.npy" --output "$out" --threads 1 --json
    if [ "$rc" -ne 0 ] || [ ! -f "$out" ]; then
        bad "predict $name $* (want exit 0 and $out)" "$(show)"
        return
    fi
    local e n want
    read -r e n < <(max_rel_error "$out" "$F/${name}_$ref.npy")
    want=$(floats "$F/${name}_$ref.npy" | wc -l)
    if [ "${n:-0}" = "$want" ] && awk -v e="$e" 'BEGIN { exit !(e <= 2e-5) }'; then
        ok "predict $name $*: matches PyTorch's $ref, max relative error $e over $n values"
    else
        bad "predict $name $*: max relative error ${e:-?} over ${n:-?} values (want <= 2e-5 over $want)"
    fi
    rm -f "$out"
}
# nn.LSTM(4, 5, proj_size=3), the module of issue 15's report: proj_size read from the file
matches_opts lstm_proj_l1 y --model lstm
[ "$(json_get "$tmp/out" proj_size)" = 3 ] && [ "$(json_get "$tmp/out" output_size)" = 3 ] \
    && grep -q 'hidden 5, proj 3' "$tmp/out" \
    && ok "predict lstm_proj_l1: proj_size 3 found in the file, said and recorded" \
    || bad "predict lstm_proj_l1 summary" "$(show)"
matches_opts lstm_proj_l1 y --model lstm --proj-size 3
matches_opts lstm_proj_l2_bidir y --model lstm --layers 2 --bidirectional
matches_opts lstm_proj_l2_bidir y_pad --model lstm --layers 2 --bidirectional \
    --lengths "$F/lstm_proj_l2_bidir_lengths64.npy"
matches_opts lstm_nobias_l1 y --model lstm
[ "$(json_get "$tmp/out" bias)" = false ] && grep -q 'no bias' "$tmp/out" \
    && ok "predict lstm_nobias_l1: bias=False found in the file, said and recorded" \
    || bad "predict lstm_nobias_l1 summary" "$(show)"
matches_opts gru_nobias_l2_bidir y --model gru --layers 2 --bidirectional --no-bias
matches_opts gru_nobias_l2_bidir y_pad --model gru --layers 2 --bidirectional \
    --lengths "$F/gru_nobias_l2_bidir_lengths64.npy"
# --lengths (int32) on the recurrent fixtures of tools/gen_predict_fixtures.py
for name in rnn-relu_l2_bidir lstm_l2_bidir gru_l2_bidir; do
    mode=${name%%_*}
    run predict --model "$mode" --layers 2 --bidirectional --hidden 4 --input-size 5 \
        --weights "$F/$name.safetensors" --input "$F/${name}_x.npy" --output "$out" \
        --lengths "$F/${name}_lengths.npy" --json
    read -r e n < <(max_rel_error "$out" "$F/${name}_y_pad.npy")
    if [ "$rc" -eq 0 ] && [ "${n:-0}" = 144 ] && awk -v e="$e" 'BEGIN { exit !(e <= 1e-5) }' \
        && [ "$(json_get "$tmp/out" lengths)" = true ]; then
        ok "predict $name --lengths: PyTorch's packed output (0 past each length), error $e"
    else bad "predict $name --lengths: error ${e:-?} over ${n:-?} values" "$(show)"; fi
    rm -f "$out"
done
PJ=(predict --model lstm --hidden 5 --input-size 4 --weights "$F/lstm_proj_l1.safetensors"
    --input "$F/lstm_proj_l1_x.npy" --output "$out")
refused "--proj-size 2 on a proj_size 3 file" "${PJ[@]}" --proj-size 2
grep -q 'has proj_size 3 (weight_hr_l0 is \[3, 5\]), not 2' "$tmp/err" \
    && grep -q -- '--proj-size 3' "$tmp/err" \
    && ok "... naming proj_size, the file's weight_hr_l0 and the options that fit" \
    || bad "proj_size message" "$(show)"
refused "--proj-size equal to --hidden" "${PJ[@]}" --proj-size 5
refused "--proj-size with --model gru" predict --model gru --hidden 5 --input-size 4 \
    --proj-size 3 --weights "$F/lstm_proj_l1.safetensors" --input "$F/lstm_proj_l1_x.npy" \
    --output "$out"
refused "--no-bias on a file with biases" "${PJ[@]}" --no-bias
refused "--proj-size on a file without a projection" predict --model lstm --hidden 5 \
    --input-size 4 --proj-size 3 --weights "$F/lstm_nobias_l1.safetensors" \
    --input "$F/lstm_nobias_l1_x.npy" --output "$out"
refused "--proj-size with --model transformer" predict --model transformer --hidden 8 \
    --proj-size 3 --weights "$F/lstm_proj_l1.safetensors" --input "$F/lstm_proj_l1_x.npy" \
    --output "$out"
PL=(predict --model lstm --layers 2 --bidirectional --hidden 5 --input-size 4
    --weights "$F/lstm_proj_l2_bidir.safetensors" --input "$F/lstm_proj_l2_bidir_x.npy"
    --output "$out")
npy "$tmp/len2.npy" 1 "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }" 16
refused "--lengths of another batch" "${PL[@]}" --lengths "$tmp/len2.npy"
grep -q 'must be int32 or int64 \[3\]' "$tmp/err" && ok "... saying the shape it needs" \
    || bad "--lengths shape message" "$(show)"
refused "--lengths float32" "${PL[@]}" --lengths "$F/lstm_proj_l2_bidir_x.npy"
refused "--lengths past the input's steps" "${PL[@]}" --lengths "$F/lstm_l2_bidir_lengths.npy"
grep -q 'sequence 1 has length 6; each must be from 1 to the input.s 5 steps' "$tmp/err" \
    && ok "... naming the sequence and its length" || bad "--lengths range message" "$(show)"

# A torch.nn.TransformerEncoder state dict (tools/gen_fixtures_transformer.py): post- and
# pre-norm, relu and gelu, 1 to 3 layers, a causal mask, key padding, a final norm. The
# references are float64; PyTorch's own float32 eval misses them by up to 9.8e-6 on this
# measure (pre_gelu_l3_norm) and mnemo by up to 1.4e-5 (post_gelu_l3: 4e-7 absolute on an
# element of 0.0095, at scale 2.3), so the bound is 2e-5.
TF=tests/fixtures/transformer
matches_tf() {
    local name=$1; shift
    run predict --model transformer --hidden 8 --heads 2 --ff 16 "$@" \
        --weights "$TF/$name.safetensors" --input "$TF/${name}_x.npy" --output "$out"
    if [ "$rc" -ne 0 ] || [ ! -f "$out" ]; then
        bad "predict transformer $name (want exit 0 and $out)" "$(show)"
        return
    fi
    local e n
    read -r e n < <(max_rel_error "$out" "$TF/${name}_y.npy")
    if [ "${n:-0}" = 144 ] && awk -v e="$e" 'BEGIN { exit !(e <= 2e-5) }'; then
        ok "predict transformer $name matches PyTorch: max relative error $e over $n values"
    else
        bad "predict transformer $name: max relative error ${e:-?} over ${n:-?} values (want <= 2e-5 over 144)"
    fi
    rm -f "$out"
}
matches_tf post_relu_l1
# the same weights widened to F64: read back as float32 they are the same model
run predict --model transformer --hidden 8 --heads 2 --ff 16 --weights "$TF/post_relu_l1.safetensors" \
    --input "$TF/post_relu_l1_x.npy" --output "$tmp/tf32.npy"
run predict --model transformer --hidden 8 --heads 2 --ff 16 \
    --weights "$TF/post_relu_l1_f64.safetensors" --input "$TF/post_relu_l1_x.npy" --output "$out"
if [ "$rc" -eq 0 ] && cmp -s "$out" "$tmp/tf32.npy"; then
    ok "predict transformer on F64 weights gives the F32 weights' output, byte for byte"
else bad "predict transformer on F64 weights" "$(show)"; fi
rm -f "$out"
matches_tf pre_relu_l1 --norm-first
matches_tf post_gelu_l3 --layers 3 --activation gelu
matches_tf pre_gelu_l3_norm --layers 3 --activation gelu --norm-first
matches_tf post_relu_l2_causal --layers 2 --causal
matches_tf pre_gelu_l2_pad --layers 2 --activation gelu --norm-first \
    --lengths "$TF/pre_gelu_l2_pad_lengths.npy"
# mnemo's own Transformer checkpoint (a training checkpoint: input map, head and optimizer
# state beside the layers; pre-norm with its final norm) runs as an encoder
run train --task adding --length 6 --model transformer --hidden 8 --heads 2 --ff 16 \
    --layers 2 --steps 2 --batch 4 --eval-size 4 --save "$tmp/tf.st"
run predict --model transformer --hidden 8 --heads 2 --ff 16 --layers 2 --norm-first \
    --weights "$tmp/tf.st" --input "$TF/post_relu_l1_x.npy" --output "$out" --json
if [ "$rc" -eq 0 ] && [ "$(floats "$out" | wc -l)" = 144 ] && grep -q '"norm_first":true' "$tmp/out"; then
    ok "predict runs mnemo's own pre-norm Transformer checkpoint (its final norm found)"
else bad "predict on a mnemo Transformer checkpoint" "$(show)"; fi
rm -f "$out"
refused "a mnemo checkpoint run with other options than it was trained with" predict \
    --model transformer --hidden 8 --heads 2 --ff 16 --layers 2 --weights "$tmp/tf.st" \
    --input "$TF/post_relu_l1_x.npy" --output "$out"
refused "transformer weights read as the other norm placement" predict --model transformer \
    --hidden 8 --heads 2 --ff 16 --weights "$TF/post_relu_l1.safetensors" \
    --input "$TF/post_relu_l1_x.npy" --output "$out" --layers 2
refused "transformer with heads not dividing d_model" predict --model transformer \
    --hidden 8 --heads 3 --ff 16 --weights "$TF/post_relu_l1.safetensors" \
    --input "$TF/post_relu_l1_x.npy" --output "$out"
refused "transformer option on a recurrent model" predict --model lstm --hidden 4 \
    --input-size 5 --heads 2 --weights "$F/lstm_l1.safetensors" --input "$F/lstm_l1_x.npy" \
    --output "$out"

run "${P[@]}" "${W[@]}" "${X[@]}" --output "$out" --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command model layers hidden input_size \
        bidirectional length batch output_size tokens_per_s seconds); then
    ok "predict --json ends stdout with a JSON summary"
else bad "predict --json" "$(show)${msg:+
$msg}"; fi
[ "$(json_get "$tmp/out" output_size)" = 8 ] && ok "predict --json: output_size 8 (2 x 4)" \
    || bad "predict --json output_size" "$(tail -n 1 "$tmp/out")"
cp "$out" "$tmp/keep.npy"

# A hand-made state dict (mnemo's own prefix 'rnn.' and a head it ignores) and input.
hdr='{"rnn.weight_ih_l0":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},'
hdr+='"rnn.weight_hh_l0":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},'
hdr+='"rnn.bias_ih_l0":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},'
hdr+='"rnn.bias_hh_l0":{"dtype":"F32","shape":[2],"data_offsets":[32,40]},'
hdr+='"head.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[40,48]}}'
st "$tmp/tiny.safetensors" "$hdr" 48
npy "$tmp/tiny.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 1), }" 24
R=(predict --model rnn --hidden 2 --input-size 1)
run "${R[@]}" --weights "$tmp/tiny.safetensors" --input "$tmp/tiny.npy" --output "$out"
if [ "$rc" -eq 0 ] && [ "$(floats "$out" | tr '\n' ' ')" = "0 0 0 0 0 0 0 0 0 0 0 0 " ]; then
    ok "a hand-made prefixed state dict runs (zero weights, zero output [3, 2, 2])"
else bad "hand-made state dict" "$(show)"; fi
rm -f "$out"

# ------------------------------------------------------------- options that do not fit
refused "wrong --hidden"           "${P[@]/4/3}" "${W[@]}" "${X[@]}" --output "$out"
grep -q 'has hidden size 4' "$tmp/err" && grep -q -- '--hidden 4' "$tmp/err" \
    && ok "wrong --hidden: says the file's hidden size and the options that fit" \
    || bad "wrong --hidden message" "$(show)"
refused "wrong --layers"           predict --model lstm --layers 3 --hidden 4 --input-size 5 --bidirectional "${W[@]}" "${X[@]}" --output "$out"
refused "missing --bidirectional"  predict --model lstm --layers 2 --hidden 4 --input-size 5 "${W[@]}" "${X[@]}" --output "$out"
refused "wrong --model"            predict --model gru --layers 2 --hidden 4 --input-size 5 --bidirectional "${W[@]}" "${X[@]}" --output "$out"
refused "wrong --input-size"       predict --model lstm --layers 2 --hidden 4 --input-size 6 --bidirectional "${W[@]}" "${X[@]}" --output "$out"
refused "unknown --model"          predict --model lstmx --layers 2 --hidden 4 --input-size 5 "${W[@]}" "${X[@]}" --output "$out"
refused "missing --weights"        "${P[@]}" "${X[@]}" --output "$out"
refused "missing --output"         "${P[@]}" "${W[@]}" "${X[@]}"
refused "zero --hidden"            predict --model lstm --hidden 0 --input-size 5 "${W[@]}" "${X[@]}" --output "$out"
refused "--output is a folder"     "${P[@]}" "${W[@]}" "${X[@]}" --output "$outdir"
refused "--output in a missing folder" "${P[@]}" "${W[@]}" "${X[@]}" --output "$outdir/no/such/y.npy"
cp "$F/lstm_l2_bidir_x.npy" "$tmp/x_copy.npy"
refused "--output is the --input"  "${P[@]}" "${W[@]}" --input "$tmp/x_copy.npy" --output "$tmp/x_copy.npy"
cmp -s "$tmp/x_copy.npy" "$F/lstm_l2_bidir_x.npy" && ok "--output = --input: input untouched" \
    || bad "--output = --input overwrote the input"

# ------------------------------------------------------------- malformed weights
good=$F/lstm_l2_bidir.safetensors
size=$(wc -c <"$good")
: >"$tmp/empty.bin"
head -c $((size - 7)) "$good" >"$tmp/truncated.safetensors"
head -c 8 "$good" >"$tmp/only-length.safetensors"
printf '\000\000\000\000\000\000\000\200{}' >"$tmp/len63.safetensors"
printf '\377\000\000\000\000\000\000\000{}' >"$tmp/past.safetensors"
st "$tmp/notjson.safetensors" "{'weight_ih_l0': 1}" 0
st "$tmp/dtype.safetensors" '{"weight_ih_l0":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}' 4
st "$tmp/range.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[1],"data_offsets":[0,400]}}' 4
st "$tmp/negative.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}' 4
st "$tmp/mismatch.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}' 4
st "$tmp/overflow.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}' 4
st "$tmp/overlap.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"weight_hh_l0":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
st "$tmp/u32.safetensors" "$(printf '%s' "$hdr" | sed 's/"rnn.bias_ih_l0":{"dtype":"F32","shape":\[2\],"data_offsets":\[24,32\]}/"rnn.bias_ih_l0":{"dtype":"U32","shape":[2],"data_offsets":[24,32]}/')" 48
missing=$(printf '%s' "$hdr" | sed 's/,"rnn.bias_hh_l0"[^}]*}//; s/\[40,48\]/[32,40]/')
st "$tmp/missing.safetensors" "$missing" 40
for c in "empty file:$tmp/empty.bin" "truncated file:$tmp/truncated.safetensors" \
         "only the length:$tmp/only-length.safetensors" "header length 2^63:$tmp/len63.safetensors" \
         "header past the end:$tmp/past.safetensors" "header not JSON:$tmp/notjson.safetensors" \
         "unknown dtype:$tmp/dtype.safetensors" "offsets out of range:$tmp/range.safetensors" \
         "negative offset:$tmp/negative.safetensors" "shape/offset mismatch:$tmp/mismatch.safetensors" \
         "overflowing shape:$tmp/overflow.safetensors" "overlapping offsets:$tmp/overlap.safetensors" \
         "a directory:$tmp" \
         "a missing file:$tmp/nonexistent.safetensors" "a .npy file:$F/lstm_l2_bidir_x.npy"; do
    refused "weights: ${c%%:*}" "${P[@]}" --weights "${c#*:}" "${X[@]}" --output "$out"
done
refused "weights: missing tensor" "${R[@]}" --weights "$tmp/missing.safetensors" --input "$tmp/tiny.npy" --output "$out"
grep -q "bias_hh_l0' is missing" "$tmp/err" && ok "missing tensor: named in the message" \
    || bad "missing tensor message" "$(show)"
# a weight in a dtype that is no float (any of the format's is valid in the file), and names holding terminal control sequences: one
# line, the names escaped (\x1b), no control byte reaching the terminal
refused "weights: a U32 weight" "${R[@]}" --weights "$tmp/u32.safetensors" --input "$tmp/tiny.npy" --output "$out"
grep -q "rnn.bias_ih_l0' is not F32, F16, BF16 or F64 (it is U32)" "$tmp/err" \
    && ok "U32 weight: the tensor and its dtype named" || bad "U32 weight message" "$(show)"
esc=$(printf '%s' "$hdr" | sed 's/"rnn\./"/g; s/"head.weight"/"\\u001b]0;owned\\u0007\\u001b[2J"/')
st "$tmp/control.safetensors" "$esc" 48
refused "weights: a tensor name with control characters" "${R[@]}" \
    --weights "$tmp/control.safetensors" --input "$tmp/tiny.npy" --output "$out"
if grep -qF "unexpected tensor '\x1b]0;owned\x07\x1b[2J'" "$tmp/err" \
    && ! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$tmp/err"; then
    ok "control characters in a tensor name are escaped in the message"
else bad "control characters in a tensor name" "$(od -c "$tmp/err" | head)"; fi
npy "$tmp/x-control.npy" 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 1), '$(printf '\033')[2J': 1}" 24
refused "input: a header key with control characters" "${R[@]}" --weights "$tmp/tiny.safetensors" \
    --input "$tmp/x-control.npy" --output "$out"
if grep -qF "unknown key '\x1b[2J'" "$tmp/err" && ! grep -q "$(printf '\033')" "$tmp/err"; then
    ok "control characters in a .npy header are escaped in the message"
else bad "control characters in a .npy header" "$(od -c "$tmp/err" | head)"; fi

# ------------------------------------------------------------- malformed input arrays
h() { printf "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" "$1" "$2" "$3"; }
xs=$(wc -c <"$F/lstm_l2_bidir_x.npy")
head -c $((xs - 4)) "$F/lstm_l2_bidir_x.npy" >"$tmp/x-truncated.npy"
{ cat "$F/lstm_l2_bidir_x.npy"; printf 'x'; } >"$tmp/x-trailing.npy"
printf 'PK\003\004 an npz' >"$tmp/x-magic.npy"
printf '\223NUMPY\004\000\020\000\000\000{}' >"$tmp/x-version.npy"
printf '\223NUMPY\003\000\020\000\000\000{}' >"$tmp/x-v3-truncated.npy"
printf '\223NUMPY\001\000\377\000{' >"$tmp/x-past.npy"
npy "$tmp/x-notdict.npy" 1 "[6, 3, 5]" 360
npy "$tmp/x-f64.npy" 1 "$(h '<f8' False '(6, 3, 5)')" 720
npy "$tmp/x-i32.npy" 1 "$(h '<i4' False '(6, 3, 5)')" 360
npy "$tmp/x-big-f8.npy" 1 "$(h '>f8' False '(6, 3, 5)')" 720
npy "$tmp/x-fortran-int.npy" 1 "$(h '<f4' 1 '(6, 3, 5)')" 360
npy "$tmp/x-rank2.npy" 1 "$(h '<f4' False '(18, 5)')" 360
npy "$tmp/x-width.npy" 1 "$(h '<f4' False '(6, 5, 3)')" 360
npy "$tmp/x-negative.npy" 1 "$(h '<f4' False '(6, -3, 5)')" 360
npy "$tmp/x-overflow.npy" 1 "$(h '<f4' False '(4294967296, 4294967296, 5)')" 360
npy "$tmp/x-empty-batch.npy" 1 "$(h '<f4' False '(6, 0, 5)')" 0
for c in "empty file:$tmp/empty.bin" "truncated data:$tmp/x-truncated.npy" \
         "trailing bytes:$tmp/x-trailing.npy" "bad magic:$tmp/x-magic.npy" \
         "format 4.0:$tmp/x-version.npy" "format 3.0 truncated:$tmp/x-v3-truncated.npy" \
         "header past the end:$tmp/x-past.npy" \
         "header not a dict:$tmp/x-notdict.npy" "dtype <f8:$tmp/x-f64.npy" \
         "dtype int32:$tmp/x-i32.npy" "dtype >f8:$tmp/x-big-f8.npy" \
         "fortran_order 1:$tmp/x-fortran-int.npy" "rank 2:$tmp/x-rank2.npy" \
         "last dim is not --input-size:$tmp/x-width.npy" "negative dim:$tmp/x-negative.npy" \
         "overflowing shape:$tmp/x-overflow.npy" "no sequences:$tmp/x-empty-batch.npy" \
         "a directory:$tmp" "a missing file:$tmp/nonexistent.npy" \
         "a safetensors file:$good"; do
    refused "input: ${c%%:*}" "${P[@]}" "${W[@]}" --input "${c#*:}" --output "$out"
done

# ------------------------------------------------------------- an existing output survives
cp "$tmp/keep.npy" "$out"
run "${P[@]}" "${W[@]}" --input "$tmp/x-f64.npy" --output "$out"
if [ "$rc" -eq 2 ] && cmp -s "$out" "$tmp/keep.npy" && [ "$(left)" = y.npy ]; then
    ok "a failed run leaves an existing output file as it was"
else bad "existing output after a failed run" "$(show)"; fi
rm -f "$outdir"/*

cli_finish
