#!/usr/bin/env bash
# NaN and Inf at the command line (issue 15): `mnemo predict` keeps the NaN PyTorch gives
# (item 1), and a training run stopped by NaN/Inf says what is true in its context (item 6).
#   bash tests/cli_nonfinite_test.sh [build/mnemo]
# Needs only bash, coreutils and awk.
set -u
source "$(dirname "$0")/cli_lib.sh"

# ------------------------------------------------------------- predict (item 1)
# nn.RNN(4, 6, nonlinearity="relu") on x [5,3,4] holding one NaN at step 1: PyTorch gives 24
# NaN outputs, the 6 units of that sequence at steps 1 to 4 (tools/gen_fixtures_nonfinite.py).
F=tests/fixtures/nonfinite/predict_rnn-relu
# values FILE: a float32 .npy file's values (format 1.0), one a line ("nan" for any NaN).
values() {
    local hlen
    hlen=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
    od -An -v -tf4 -j $((10 + hlen)) "$1" | tr -s ' ' '\n' | sed '/^$/d; s/^-nan$/nan/'
}
run predict --model rnn-relu --hidden 6 --input-size 4 --weights "$F.safetensors" \
    --input "${F}_x.npy" --output "$tmp/y.npy" --threads 1
if [ "$rc" -ne 0 ]; then
    bad "predict rnn-relu on an input with a NaN (want exit 0)" "$(show)"
else
    report=$(paste <(values "$tmp/y.npy") <(values "${F}_y.npy") | awk '
        { n++; gn = ($1 == "nan"); rn = ($2 == "nan"); nan += gn
          if (gn != rn) { diff++; next }
          if (!gn) { d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2
                     if (d > 1e-5 * (a > 1 ? a : 1)) far++ } }
        END { printf "%d %d %d %d\n", n, nan, diff + 0, far + 0 }')
    read -r n nans diff far <<<"$report"
    if [ "$n" = 90 ] && [ "$nans" = 24 ] && [ "$diff" = 0 ] && [ "$far" = 0 ]; then
        ok "predict rnn-relu: a NaN at step 1 gives PyTorch's 24 NaN outputs, the rest its values"
    else
        bad "predict rnn-relu with a NaN input: $n values, $nans NaN (PyTorch: 90, 24), $diff" \
            "placed differently, $far finite values apart"
    fi
fi

# ------------------------------------------------------------- stop messages (item 6)
# stops DESCRIPTION WANT NOT ARGS...: train exits 1 and its last stderr line is one
# "mnemo: " line holding WANT (an extended regexp) and not NOT.
stops() {
    local desc=$1 want=$2 not=$3 last
    shift 3
    run train "$@" --threads 1 --eval-size 16
    last=$(tail -n 1 "$tmp/err")
    if [ "$rc" -eq 1 ] && [[ $last == "mnemo: "* ]] && grep -Eq -- "$want" <<<"$last" \
        && ! grep -Fq -- "$not" <<<"$last"; then
        ok "$desc: ${last:0:150}..."
    else
        bad "$desc (want exit 1 and a last line with /$want/, without '$not')" "$(show)"
    fi
}
# The issue's case: the loss overflows at the first step, so --clip (set) cannot help.
ISSUE=(--task adding --length 200 --model rnn-relu --init identity --init-gain 1.5 --hidden 8
       --batch 8 --steps 30)
stops "NaN/Inf from the first step, --clip 1 set" \
    "at each of the first 5 steps, before any update of the weights.*initialization \(--init, --init-gain\) or the scale of the inputs" \
    "--clip" "${ISSUE[@]}" --clip 1
stops "NaN/Inf at the first step, --max-faults 1" \
    "at the first step, before any update of the weights.*--init" "--clip" \
    "${ISSUE[@]}" --max-faults 1
# A learning rate that blows up a model after its first update.
LATER=(--task adding --length 50 --model rnn-relu --hidden 8 --batch 8 --steps 100 --lr 3)
stops "NaN/Inf after an update, --clip 1 set" \
    "in 5 steps in a row .*after one step updated the weights: lower the learning rate \(--lr, now 3\) or the clipping threshold \(--clip, now 1\)" \
    "before any update" "${LATER[@]}" --clip 1
stops "NaN/Inf after an update, clipping off" \
    "after one step updated the weights: lower the learning rate \(--lr, now 3\) or clip the gradients \(--clip 1\)" \
    "before any update" "${LATER[@]}" --clip 0

cli_finish
