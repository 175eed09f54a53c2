#!/usr/bin/env bash
# Rebuilds the seed corpora in fuzz/corpus/ (committed; rerun only to change them):
# valid files (two tiny mnemo training checkpoints, the PyTorch fixtures, the .npy
# fixtures), hand-made malformed ones, and typical `mnemo train` command lines.
# Names tell tests/test_fuzz_regressions.c and tests/cli_fuzz_regressions_test.sh what to
# expect: ok-* must parse (exit 0), bad-* must be refused (MN_E_INPUT, exit 2).
# Usage: bash fuzz/make_corpus.sh [path/to/mnemo]   (default build/mnemo; run make first)
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.."
bin=${1:-build/mnemo}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
st=fuzz/corpus/safetensors npy=fuzz/corpus/npy args=fuzz/corpus/args
rm -rf "$st" "$npy" "$args"
mkdir -p "$st" "$npy" "$args"

# le64 N: N as 8 little-endian bytes, in printf %b escapes.
le64() { local i s=""; for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(( ($1 >> (8 * i)) & 255 ))); done; printf '%s' "$s"; }
# stf NAME JSON [DATA]: a safetensors file with that header; DATA in printf %b escapes.
stf() { { printf '%b' "$(le64 ${#2})"; printf '%s' "$2"; printf '%b' "${3:-}"; } >"$st/$1"; }
# stl NAME LEN REST: an explicit header length followed by REST (printf %b).
stl() { { printf '%b' "$(le64 "$2")"; printf '%b' "$3"; } >"$st/$1"; }

# --- safetensors: valid
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" &&
 "$bin" train --task adding --length 6 --model lstm --hidden 3 --steps 3 --batch 2 \
     --eval-size 4 --save lstm.safetensors --checkpoint-every 2 >/dev/null 2>&1 &&
 "$bin" train --task copy --length 3 --model gru --hidden 2 --layers 2 --bidirectional \
     --steps 2 --batch 2 --eval-size 2 --save gru.safetensors >/dev/null 2>&1)
cp "$work/lstm.safetensors" "$st/ok-mnemo-lstm-checkpoint.safetensors"
cp "$work/gru.safetensors" "$st/ok-mnemo-gru-bidir-tokens-checkpoint.safetensors"
for f in tests/fixtures/predict/*.safetensors; do cp "$f" "$st/ok-torch-$(basename "$f")"; done
f4='\x00\x00\x80\x3f'   # 1.0f
stf ok-empty-header.safetensors '{}'
stf ok-metadata-only.safetensors '{"__metadata__":{"format":"mnemo","k":"v \u00e9\ud83d\ude00"}}'
stf ok-zero-size.safetensors '{"t":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}' "$f4"
# every dtype of the format: 1 byte each for the 8-bit ones, then the wider ones
stf ok-every-dtype.safetensors '{"b":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},"i8":{"dtype":"I8","shape":[1],"data_offsets":[1,2]},"e4":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[2,3]},"e5":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[3,4]},"e8":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[4,5]},"n4":{"dtype":"F8_E4M3FNUZ","shape":[1],"data_offsets":[5,6]},"n5":{"dtype":"F8_E5M2FNUZ","shape":[1],"data_offsets":[6,7]},"f4":{"dtype":"F4","shape":[2],"data_offsets":[7,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},"i16":{"dtype":"I16","shape":[1],"data_offsets":[16,18]},"u16":{"dtype":"U16","shape":[1],"data_offsets":[18,20]},"u32":{"dtype":"U32","shape":[1],"data_offsets":[20,24]},"u64":{"dtype":"U64","shape":[1],"data_offsets":[24,32]},"c":{"dtype":"C64","shape":[1],"data_offsets":[32,40]},"f6":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[40,43]},"g6":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[43,46]}}' \
    '\x01\xff\x38\x3c\x7f\x40\x40\x21\x00\x3c\x01\x00\x80\x3f\xc0\x7f\x01\x00\x02\x00\x03\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x00\x12\x34\x56\x78\x9a\xbc'
stf ok-f16-specials.safetensors '{"h":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}}' \
    '\x00\x00\x00\x80\x01\x00\xff\x03\xff\x7b\x00\x7c\x00\xfc\x01\x7e'
stf ok-f64-beyond-float.safetensors '{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}' \
    '\x00\x00\x00\x00\x00\x00\xf0\x3f\x9c\x75\x00\x88\x3c\xe4\x37\x7e'
stf ok-unknown-field.safetensors '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}' "$f4"
stf ok-metadata-null.safetensors '{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$f4"
stf ok-control-char-name.safetensors '{"\u001b[2Jrnn.weight_ih_l0":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$f4"
stf ok-all-dtypes.safetensors '{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"I32","shape":[1],"data_offsets":[3,7]},"c":{"dtype":"F64","shape":[1,1],"data_offsets":[7,15]},"d":{"dtype":"I64","shape":[1],"data_offsets":[15,23]}}' \
    '\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x05\x00\x00\x00\x00\x00\x00\x00'
stf ok-mnemo-wrong-model.safetensors '{"__metadata__":{"format":"mnemo","model.cell":"rnn","model.input_size":"1","model.vocab_size":"0","model.embed_size":"0","model.hidden_size":"1","model.num_layers":"1","model.bidirectional":"0","model.output_size":"1","model.output":"last","model.loss":"mse"},"rnn.weight_ih_l0":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}' "$f4"

# --- safetensors: malformed
: >"$st/bad-empty.safetensors"
printf 'abcde' >"$st/bad-short.safetensors"
stl bad-header-2pow63.safetensors $(( 1 << 63 )) '{}'
stl bad-header-past-end.safetensors 100 '{}'
stl bad-header-over-limit.safetensors $(( (100 << 20) + 1 )) '{}'
stf bad-not-json.safetensors 'hello'
stf bad-header-array.safetensors '[1,2]'
stf bad-trailing-comma.safetensors '{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}' "$f4"
stf bad-unknown-dtype.safetensors '{"t":{"dtype":"Q7","shape":[2],"data_offsets":[0,4]}}' "$f4"
stf bad-lowercase-dtype.safetensors '{"t":{"dtype":"bf16","shape":[2],"data_offsets":[0,4]}}' "$f4"
stf bad-f4-half-byte.safetensors '{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}' '\x00\x00'
stf bad-f16-size.safetensors '{"t":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}' "$f4"
stf bad-negative-offset.safetensors '{"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}' "$f4"
stf bad-offset-past-end.safetensors '{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' "$f4"
stf bad-offsets-reversed.safetensors '{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}' "$f4"
stf bad-shape-offset-mismatch.safetensors '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}' "$f4"
stf bad-shape-overflow.safetensors '{"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}' "$f4"
stf bad-shape-negative.safetensors '{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}' "$f4"
stf bad-shape-fraction.safetensors '{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}' "$f4"
stf bad-rank9.safetensors '{"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}' '\x01'
stf bad-overlap.safetensors '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$f4"
stf bad-gap.safetensors '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' "$f4$f4"
stf bad-trailing-bytes.safetensors '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$f4"'\x00'
stf bad-duplicate-name.safetensors '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$f4"
stf bad-missing-offsets.safetensors '{"a":{"dtype":"F32","shape":[1]}}' "$f4"
stf bad-metadata-not-string.safetensors '{"__metadata__":{"format":1}}'
stf bad-nul-escape.safetensors '{"__metadata__":{"k":"a\u0000b"}}'
stf bad-lone-surrogate.safetensors '{"__metadata__":{"k":"\udc00"}}'
stf bad-deep-nesting.safetensors "{\"__metadata__\":$(printf '[%.0s' $(seq 70))$(printf ']%.0s' $(seq 70))}"
stf bad-bad-utf8.safetensors '{"__metadata__":{"k":"'$'\xc0\xaf''"}}'
head -c 200 "$st/ok-mnemo-lstm-checkpoint.safetensors" >"$st/bad-truncated-checkpoint.safetensors"

# --- npy: valid
for f in tests/fixtures/npy/*.npy; do cp "$f" "$npy/ok-$(basename "$f")"; done
cp tests/fixtures/predict/lstm_l2_bidir_x.npy "$npy/ok-lstm_l2_bidir_x.npy"
cp tests/fixtures/predict/lstm_l2_bidir_lengths.npy "$npy/ok-lstm_l2_bidir_lengths.npy"
cp tests/fixtures/predict/lstm_l1_x_be_fortran.npy "$npy/ok-lstm_l1_x_be_fortran.npy"
# npyf NAME MAJOR HEADER [DATA]: a .npy file with that header text (no padding).
npyf() {
    local n=${#3} lenb
    if [ "$2" = 1 ]; then lenb=$(printf '\\x%02x\\x%02x' $((n & 255)) $((n >> 8)))
    else lenb=$(printf '\\x%02x\\x%02x\\x00\\x00' $((n & 255)) $((n >> 8))); fi
    { printf '\x93NUMPY'; printf '%b' "\\x0$2\\x00$lenb"; printf '%s' "$3"; printf '%b' "${4:-}"; } >"$npy/$1"
}
npyf ok-unpadded-any-order.npy 1 "{'shape': (1,), 'fortran_order': False, 'descr': '<i4'}" '\x07\x00\x00\x00'
npyf ok-v2-empty.npy 2 "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (0, 5, 0)}"
npyf ok-version3.npy 3 "{'descr': '<f4', 'fortran_order': False, 'shape': (), } # $(printf '\xe6\x95\xb0')" "$f4"
npyf ok-big-endian.npy 1 "{'descr': '>f4', 'fortran_order': False, 'shape': (), }" "$f4"
npyf ok-fortran.npy 1 "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }" "$f4"
npyf ok-big-endian-fortran.npy 2 "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }" "$f4$f4$f4$f4$f4$f4"
npyf ok-repeated-key.npy 1 "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }" "$f4"
npyf ok-python-forms.npy 1 "({'des' \"cr\": r'=f', # c
 '''fortran_order''': (True), u'sh\\x61pe': (0x2, +3L,)})" "$f4$f4$f4$f4$f4$f4"
# --- npy: malformed
: >"$npy/bad-empty.npy"
printf '\x93NUM' >"$npy/bad-truncated-magic.npy"
printf 'PK\x03\x04 not numpy' >"$npy/bad-magic.npy"
npyf bad-version4.npy 4 "{'descr': '<f4', 'fortran_order': False, 'shape': (), }" "$f4"
npyf bad-v3-not-utf8.npy 3 "{'descr': '<f4', 'fortran_order': False, 'shape': (), } # $(printf '\xc0\xaf')" "$f4"
npyf bad-v3-long-suffix.npy 3 "{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), }" "$f4"
npyf bad-bytes-descr.npy 1 "{'descr': b'<f4', 'fortran_order': False, 'shape': (), }" "$f4"
npyf bad-indented.npy 1 "
 {'descr': '<f4', 'fortran_order': False, 'shape': (), }" "$f4"
npyf bad-control-key.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (), '$(printf '\033')[2J': 1}" "$f4"
npyf bad-dtype-f8.npy 1 "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" "$f4$f4"
npyf bad-structured.npy 1 "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (), }" "$f4"
npyf bad-fortran-int.npy 1 "{'descr': '<f4', 'fortran_order': 1, 'shape': (1,), }" "$f4"
npyf bad-rank9.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }" "$f4"
npyf bad-negative-dim.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }" "$f4"
npyf bad-leading-zero.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (01,), }" "$f4"
npyf bad-overflow.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }" "$f4"
npyf bad-dim-too-big.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }" "$f4"
npyf bad-truncated-data.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" "$f4"
npyf bad-trailing-data.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" "$f4$f4"
npyf bad-bool-dim.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }" "$f4"
npyf bad-missing-shape.npy 1 "{'descr': '<f4', 'fortran_order': False}" "$f4"
npyf bad-unknown-key.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}" "$f4"
npyf bad-one-dim-no-comma.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1), }" "$f4"
npyf bad-eval.npy 1 "__import__('os').system('true')" "$f4"
printf '\x93NUMPY\x01\x00\xff\xff{}' >"$npy/bad-header-past-end.npy"

# --- args: one word per line (the harness also splits at NUL), after "mnemo train".
# ok-* must train in milliseconds: tiny sizes only.
tiny='--task adding --length 4 --model rnn --hidden 2 --steps 2 --batch 2 --eval-size 2'
w() { local name=$1; shift; printf '%s\n' "$@" >"$args/$name"; }
# shellcheck disable=SC2086
w ok-minimal $tiny
# shellcheck disable=SC2086
w ok-equals --task=copy --length=3 --model=gru --hidden=2 --layers=2 --bidirectional \
    --steps=2 --batch=2 --eval-size=2 --seed=18446744073709551615 --threads=1 --json
w ok-all-options --task adding-1997 --length 22 --model lstm --hidden 3 --layers 1 --batch 2 \
    --steps 3 --lr 0.01 --optimizer sgd --weight-decay 0.1 --momentum 0.5 \
    --schedule cosine --schedule-steps 4 --min-lr-ratio 0 --warmup 1 --clip 0.5 --clip-value 1 --tbptt 2 --init identity \
    --init-gain 0.9 --forget-bias 2 --no-chrono --eval-every 1 --eval-size 2 --log-every 1 \
    --seed 7 --threads 1 --max-faults 3 --metrics m.jsonl --save m.safetensors \
    --checkpoint-every 2 --json
w ok-help --help --task nonsense
printf -- '--task\0adding\0--length\0004\0--model\0rnn\0--hidden\0002\0--steps\0001\0--batch\0001\0--eval-size\0001\0--lr\0+.5e-1\0' \
    >"$args/ok-nul-separated"
w bad-nothing ""
w bad-unknown-option $tiny --color
w bad-single-dash $tiny -v
w bad-bare-word $tiny extra
w bad-missing-value $tiny --seed
w bad-given-twice $tiny --steps 3
w bad-flag-with-value $tiny --json=1
w bad-length-zero --task adding --length 0 --model rnn
w bad-length-huge --task adding --length 99999999999999999999 --model rnn
w bad-lr-hex $tiny --lr 0x10
w bad-lr-inf $tiny --lr inf
w bad-lr-underflow $tiny --lr 1e-50
w bad-seed-negative $tiny --seed -1
w bad-unknown-task --task sorting --length 4 --model rnn
w bad-unknown-model --task adding --length 4 --model mlp
w bad-chrono-rnn $tiny --chrono
w bad-chrono-contradiction --task adding --length 4 --model lstm --chrono --no-chrono
w bad-checkpoint-without-save $tiny --checkpoint-every 1
w bad-save-is-metrics $tiny --save same --metrics same
w bad-save-folder $tiny --save .
w bad-empty-value $tiny --optimizer=
w bad-missing-model --task adding --length 4
# --- bpe: text and tokenizer.json seeds (fuzz/make_corpus_bpe.py says which is which)
rm -rf fuzz/corpus/bpe
python3 fuzz/make_corpus_bpe.py fuzz/corpus/bpe
# --- fasta and idx: small files and their malformed variants (fuzz/make_corpus_data.py)
rm -rf fuzz/corpus/fasta fuzz/corpus/idx
python3 fuzz/make_corpus_data.py fuzz/corpus

echo "corpora: $(du -sh fuzz/corpus | cut -f1);" \
     "safetensors $(ls "$st" | wc -l), npy $(ls "$npy" | wc -l), args $(ls "$args" | wc -l)," \
     "bpe $(ls fuzz/corpus/bpe | wc -l), fasta $(ls fuzz/corpus/fasta | wc -l)," \
     "idx $(ls fuzz/corpus/idx | wc -l) files"
