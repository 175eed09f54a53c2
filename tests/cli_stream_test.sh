#!/usr/bin/env bash
# Checks of `mnemo predict --stream` (issue 16 item 1): streamed frames equal the
# whole-sequence predict on the same input, standard input works in a pipeline and each
# output frame comes out before the next input frame is written, a partial last frame is
# an error after the complete ones, and the options that do not go with --stream refuse.
#   bash tests/cli_stream_test.sh [build/mnemo]
# Needs only bash, coreutils and awk (float32 bytes are read and written with od and head).
set -u

source "$(dirname "$0")/cli_lib.sh"

F=tests/fixtures/predict
S=(predict --model lstm --hidden 4 --input-size 5 --weights "$F/lstm_l1.safetensors")

# le BYTES N: N as BYTES little-endian bytes.
le() {
    local i b s=
    for ((i = 0; i < $1; i++)); do printf -v b '\\%03o' $((($2 >> (8 * i)) & 255)); s+=$b; done
    printf "$s"
}
# npy_data FILE: the data bytes of a format 1.0 .npy file.
npy_data() {
    local hlen
    hlen=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
    tail -c +$((11 + hlen)) "$1"
}
# npy_f32 FILE SHAPE: a float32 .npy of that shape ("(18, 1, 5)") around the data on stdin.
npy_f32() {
    local h="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
    while [ $(((10 + ${#h} + 1) % 64)) -ne 0 ]; do h+=' '; done
    { printf '\223NUMPY\001\000'; le 2 $((${#h} + 1)); printf '%s\n' "$h"; cat; } >"$1"
}
# f32 FILE: the float32 values of a raw file, one a line.
f32() { od -An -v -tf4 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# words FILE: the values of a text stream, one a line.
words() { tr -s ' ' '\n' <"$1" | sed '/^$/d'; }
# close A B: the two lists of numbers have the same length and agree to 1e-5 relative to
# max(1, the largest |b|); prints "count worst" and fails otherwise.
close() {
    paste <(cat "$1") <(cat "$2") | awk -v na="$(wc -l <"$1")" -v nb="$(wc -l <"$2")" '
        { a[NR] = $1; b[NR] = $2; m = $2 < 0 ? -$2 : $2; if (m > s) s = m }
        END { if (s < 1) s = 1
              for (i = 1; i <= NR; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > w) w = d }
              printf "%d values, worst %.3g\n", NR, w / s
              exit !(na == nb && NR > 0 && w / s <= 1e-5) }'
}

# The fixture's [6, 3, 5] input, and its 90 floats read as one sequence of 18 steps.
npy_data "$F/lstm_l1_x.npy" >"$tmp/frames.bin"
npy_f32 "$tmp/x1.npy" "(18, 1, 5)" <"$tmp/frames.bin"

# ------------------------------------------------------ streamed = whole sequence
run "${S[@]}" --input "$F/lstm_l1_x.npy" --output "$tmp/y.npy"
npy_data "$tmp/y.npy" >"$tmp/y.bin"
f32 "$tmp/y.bin" >"$tmp/want"
run "${S[@]}" --input "$F/lstm_l1_x.npy" --stream
words "$tmp/out" >"$tmp/got"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 6 ] && r=$(close "$tmp/got" "$tmp/want"); then
    ok "--stream on a [6, 3, 5] .npy: 6 text lines equal predict's output ($r)"
else
    bad "--stream on a .npy differs from predict" "$(show; close "$tmp/got" "$tmp/want")"
fi

run "${S[@]}" --input "$tmp/x1.npy" --output "$tmp/y1.npy"
npy_data "$tmp/y1.npy" >"$tmp/y1.bin"
f32 "$tmp/y1.bin" >"$tmp/want1"
"$bin" "${S[@]}" --stream --raw --input - <"$tmp/frames.bin" >"$tmp/raw.bin" 2>"$tmp/err"
rc=$?
f32 "$tmp/raw.bin" >"$tmp/got1"
if [ "$rc" -eq 0 ] && [ "$(wc -c <"$tmp/raw.bin")" -eq $((18 * 4 * 4)) ] &&
    r=$(close "$tmp/got1" "$tmp/want1"); then
    ok "frames on stdin through --stream --raw equal predict on the [18, 1, 5] .npy ($r)"
else
    bad "--stream --raw from stdin differs from predict" \
        "$(cat "$tmp/err"; close "$tmp/got1" "$tmp/want1")"
fi

# a pipeline: raw frames in, raw frames out, read back as text by od
cat "$tmp/frames.bin" | "$bin" "${S[@]}" --stream --raw --input - | od -An -v -tf4 |
    tr -s ' ' '\n' | sed '/^$/d' >"$tmp/got3"
if r=$(close "$tmp/got3" "$tmp/want1"); then
    ok "cat frames | mnemo predict --stream --raw --input - | od ($r)"
else
    bad "the pipeline's frames differ" "$r"
fi

# ---------------------------------------------- each frame comes out at once (flushed)
mkfifo "$tmp/in"
"$bin" "${S[@]}" --stream --input - <"$tmp/in" >"$tmp/live" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
head -c 20 "$tmp/frames.bin" >&3
seen=0
for ((i = 0; i < 100; i++)); do   # up to 10 s on a busy machine
    if [ "$(wc -l <"$tmp/live")" -ge 1 ]; then seen=1; break; fi
    sleep 0.1
done
tail -c +21 "$tmp/frames.bin" >&3
exec 3>&-
wait "$pid"
rc=$?
words "$tmp/live" >"$tmp/got2"
if [ "$seen" = 1 ] && [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/live")" -eq 18 ] &&
    r=$(close "$tmp/got2" "$tmp/want1"); then
    ok "the first output line arrives while the input is still open; 18 lines in all ($r)"
else
    bad "frames are not written as they come (first line seen: $seen, exit $rc)" \
        "$(cat "$tmp/err"; head -3 "$tmp/live")"
fi

# --------------------------------------------------------- a partial last frame
{ cat "$tmp/frames.bin"; head -c 7 "$tmp/frames.bin"; } >"$tmp/partial.bin"
"$bin" "${S[@]}" --stream --input - <"$tmp/partial.bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/out")" -eq 18 ] && [ "$(err_lines)" -eq 1 ] &&
    grep -q '^mnemo: --input -: the input ended 7 bytes into frame 18 (from 0), after 18 whole frames; each frame is 20 bytes, 5 little-endian float32 values' \
        "$tmp/err"; then
    ok "a partial frame: the 18 complete frames, then exit 2: $(cut -c1-90 "$tmp/err")"
else
    bad "a partial frame (want 18 lines, exit 2, one message)" "$(show)"
fi
# a NaN in frame 3 (from 0), feature 2 goes through, as through PyTorch and predict's
# whole pass: every frame out, exit 0, one warning saying where
{ head -c 68 "$tmp/frames.bin"; printf '\000\000\300\177'; tail -c +73 "$tmp/frames.bin"; } \
    >"$tmp/nan.bin"
"$bin" "${S[@]}" --stream --input - <"$tmp/nan.bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 18 ] && [ "$(err_lines)" -eq 1 ] &&
    grep -q '^warning: --input: step 3 of sequence 0 holds NaN at feature 2' "$tmp/err" &&
    ! head -n 3 "$tmp/out" | grep -qi nan && sed -n 4p "$tmp/out" | grep -qi nan; then
    ok "a NaN in frame 3: the frames before it finite, NaN from it, one warning: $(cut -c1-60 "$tmp/err")"
else
    bad "a NaN in a frame (want 18 lines, NaN from line 4, exit 0, one warning)" "$(show)"
fi
# an empty stream is 0 frames
"$bin" "${S[@]}" --stream --input - </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ]; then ok "an empty input: no frames, exit 0"
else bad "an empty input" "$(show)"; fi

# ------------------------------------------------------------- a mnemo model file
expect_success "train a tiny model" train --task adding --length 6 --model gru --hidden 6 \
    --steps 3 --batch 4 --eval-size 8 --threads 1 --seed 3 --save "$tmp/m.safetensors"
head -c $((9 * 2 * 4)) /dev/urandom >"$tmp/in2.bin"   # 9 frames of the adding task's 2 features
npy_f32 "$tmp/x2.npy" "(9, 2)" <"$tmp/in2.bin"
"$bin" predict --load "$tmp/m.safetensors" --stream --raw --input - <"$tmp/in2.bin" \
    >"$tmp/m.raw" 2>"$tmp/err"
rc=$?
f32 "$tmp/m.raw" >"$tmp/m.want"
run predict --load "$tmp/m.safetensors" --stream --input "$tmp/x2.npy"
words "$tmp/out" >"$tmp/m.got"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 9 ] &&
    r=$(close "$tmp/m.got" "$tmp/m.want"); then
    ok "--load M --stream: 9 frames, the same from a [9, 2] .npy and from stdin ($r)"
else
    bad "--load M --stream" "$(show; cat "$tmp/err")"
fi
# the whole sequence at once: an output=last model's answer, the stream's last frame
run predict --load "$tmp/m.safetensors" --input "$tmp/x2.npy" --output "$tmp/m_whole.npy"
npy_data "$tmp/m_whole.npy" >"$tmp/m_whole.raw"
f32 "$tmp/m_whole.raw" >"$tmp/m.whole"
tail -n 1 "$tmp/m.want" >"$tmp/m.last"
if [ "$rc" -eq 0 ] && grep -q "output  $tmp/m_whole.npy float32 \[1\]" "$tmp/out" &&
    r=$(close "$tmp/m.whole" "$tmp/m.last"); then
    ok "--load M without --stream: the whole [9, 2] input's answer is the last frame ($r)"
else
    bad "--load M over the whole input" "$(show; cat "$tmp/err")"
fi
# --output /dev/stdout while stdout is a file: written where the stream stands, so the line
# before it stays (a rename would unlink the file, a reopen truncate it)
{ echo before; "$bin" predict --load "$tmp/m.safetensors" --input "$tmp/x2.npy" \
    --output /dev/stdout; echo after; } >"$tmp/both.log" 2>"$tmp/err"
if [ "$(head -n 1 "$tmp/both.log")" = before ] && grep -q NUMPY "$tmp/both.log" &&
    [ "$(tail -n 1 "$tmp/both.log")" = after ]; then
    ok "--output /dev/stdout into a file keeps what was written before it"
else
    bad "--output /dev/stdout into a file" "$(head -c 300 "$tmp/both.log"; cat "$tmp/err")"
fi
expect_usage "--load M writing over its own file" predict --load "$tmp/m.safetensors" \
    --input "$tmp/x2.npy" --output "$tmp/m.safetensors"
expect_success "train a bidirectional model" train --task adding --length 6 --model gru \
    --hidden 6 --bidirectional --steps 1 --batch 4 --eval-size 8 --threads 1 \
    --save "$tmp/bi.safetensors"
expect_usage "--load of a bidirectional model" predict --load "$tmp/bi.safetensors" --stream \
    --input "$tmp/x2.npy"
grep -q "block 0 (gru) cannot stream" "$tmp/err" || bad "the refusal names the block" "$(show)"
expect_success "--load of a bidirectional model over the whole input" predict \
    --load "$tmp/bi.safetensors" --input "$tmp/x2.npy" --output "$tmp/bi_whole.npy"

# ------------------------------------------------------------- refused options
expect_usage "--raw without --stream" "${S[@]}" --input "$F/lstm_l1_x.npy" \
    --output "$tmp/z.npy" --raw
expect_usage "--load with --raw and no --stream" predict --load "$tmp/m.safetensors" \
    --input "$tmp/x2.npy" --output "$tmp/z.npy" --raw
expect_usage "--stream with --output" "${S[@]}" --input "$F/lstm_l1_x.npy" --stream \
    --output "$tmp/z.npy"
expect_usage "--stream with --lengths" "${S[@]}" --input "$F/lstm_l1_x.npy" --stream \
    --lengths "$F/lstm_l2_bidir_lengths.npy"
expect_usage "--load with --model" predict --load "$tmp/m.safetensors" --model lstm --stream \
    --input "$tmp/x2.npy"
expect_usage "--stream of a bidirectional stack" predict --model lstm --layers 2 --hidden 4 \
    --input-size 5 --bidirectional --weights "$F/lstm_l2_bidir.safetensors" --stream \
    --input "$F/lstm_l2_bidir_x.npy"
expect_usage "--stream of a transformer" predict --model transformer --layers 1 --hidden 4 \
    --heads 2 --weights "$F/lstm_l1.safetensors" --stream --input "$F/lstm_l1_x.npy"
expect_usage "--stream on input of the wrong width" "${S[@]}" --stream --input "$tmp/x2.npy"
[ -e "$tmp/z.npy" ] && bad "a refused run wrote its --output"

cli_finish
