#!/usr/bin/env bash
# Every option does what it says, or says why not. A table walks every option of
# `mnemo train` and `mnemo diagnose` through the model kinds, optimizers and schedules it
# can meet, and checks each combination against the table's own statement of where the
# option applies: where it applies the run must succeed and its result must change (the
# trained weights, bit for bit; for options that shape no weights, the output they are
# for), where it does not the command must refuse it with exit 2 and one line. An option
# parsed and then ignored fails here; so does one refused where it would work, and an
# option the table does not list (read from --help).
#   bash tests/cli_options_test.sh [build/mnemo]
set -u
source "$(dirname "$0")/cli_lib.sh"

# ------------------------------------------------------------------ the table
# Models: name | arguments | what they are made of, as this test states it:
#   P plain --model stack, R a recurrence, K a keep gate, F a forget-gate bias (lstm f,
#   gated α), J a plain LSTM stack (PyTorch's proj_size), X a Transformer, C a TCN, S an
#   S4D model, 2 two or more blocks.
MODELS=(
    "rnn|--model rnn --hidden 8|PR"
    "rnn-relu|--model rnn-relu --hidden 8|PR"
    "lstm|--model lstm --hidden 8|PRKFJ"
    "gru|--model gru --hidden 8|PRK"
    "gated|--model gated --hidden 8|PRKF"
    "ln-lstm|--blocks ln-lstm:8|RKF"
    "ln-gru|--blocks ln-gru:8|RK"
    "lstm,ff|--blocks lstm:8,ff:8|RKF2"
    "rnn block|--blocks rnn:8|R"
    "ff,layernorm|--blocks ff:8,layernorm|2"
    "transformer|--model transformer --hidden 8 --heads 2 --layers 2|X"
    "tcn|--model tcn --hidden 8 --layers 1 --kernel 3|C"
    "s4d|--model s4d --hidden 8 --layers 1 --state 4|S"
)
# Rows: the option as given | options both runs get | where it applies (arithmetic on
# P R K F J X C S TWO SGD COS; 2 means it restates the default there, and the bits must not
# change) | what it changes:
#   w        the trained weights (train), the measured half of the JSON (diagnose)
#   same     nothing: it restates the default (the run must give the same bits)
#   json:KEY that JSON value;  err:RE the number of stderr lines matching RE
#   file     it writes the file @F;  threads  the JSON's threads, not one bit of weights
# A value the baseline also gives (--steps, --seed, ...) replaces the baseline's. @M is
# another plain model, @O the next optimizer, @S the other schedule, @F a fresh file.
ROWS=(
    "--task copy||1|w"
    "--length 7||1|w"
    "--data text:x.txt||0|-"
    "--valid-data text:v.txt||0|-"
    "--valid-fraction 0.2||0|-"
    "--columns 1||0|-"
    "--horizon 2||0|-"
    "--labels l.txt||0|-"
    "--permute||0|-"
    "--tokenizer tok.json||0|-"
    "--model @M||P|w"
    "--blocks gru:5||!P&&!X&&!C&&!S|w"
    "--residual||TWO|w"
    "--norm post||1-C|w"
    "--norm pre||TWO+2*X+2*S|w"
    "--norm-kind rmsnorm|--norm post|1-C|w"
    "--norm-kind rmsnorm||X+S|w"
    "--dropout 0.5||1|w"
    "--hidden 6||P+X+C+S|w"
    "--layers 3||P+X+C+S|w"
    "--bidirectional||P|w"
    "--proj-size 4||J|w"
    "--proj-size 8||0|-"
    "--no-bias||P|w"
    "--no-bias --chrono||0|-"
    "--batch 3||1|w"
    "--steps 2||1|w"
    "--lr 0.02||1|w"
    "--optimizer @O||1|w"
    "--weight-decay 0.5||1|w"
    "--ssm-lr 0.01||S|w"
    "--momentum 0.5||SGD|w"
    "--schedule @S||1|w"
    "--schedule-steps 5||COS|w"
    "--schedule-steps 2||COS|w"
    "--min-lr-ratio 0.5||COS|w"
    "--warmup 1||COS|w"
    "--warmup 2||!COS|w"
    "--warmup 4||0|-"
    "--clip 0.0001||1|w"
    "--clip-value 0.00001||1|w"
    "--tbptt 2||R|w"
    "--tbptt 6||0|-"
    "--init orthogonal||R|w"
    "--init identity||R|w"
    "--init-gain 2|--init orthogonal|R|w"
    "--init-gain 2||0|-"
    "--forget-bias 3||F|w"
    "--forget-bias 3|--no-chrono|F|w"
    "--forget-bias 3 --chrono||0|-"
    "--chrono||K|same"
    "--no-chrono||K|w"
    "--eval-every 2||1|err:^eval "
    "--eval-size 5||1|json:test_loss"
    "--log-every 2||1|err:^step "
    "--seed 2||1|w"
    "--threads 2||1|threads"
    "--max-faults 3||1|json:max_faults"
    "--metrics @F||1|file"
    "--checkpoint-every 2||1|json:checkpoint_every"
    "--heads 1||X|w"
    "--ff 8||X|w"
    "--positions learned||X|w"
    "--positions rope||X|w"
    "--causal||X|w"
    "--activation gelu||X|w"
    "--kernel 2||C|w"
    "--weight-norm||C|w"
    "--state 8||S|w"
)
# diagnose's own options (its training options are the rows above)
DIAGNOSE_ROWS=(
    "--threshold 0.5||1|w"
    "--sequences 2||R|w"
    "--batches 2||1|w"
    "--snapshots 2|--plot @F.svg|1|svg"
    "--snapshots 2||0|-"
    "--snapshots 4|--plot @F.svg|0|-"
    "--plot @F||1|file"
)
# Options every run of the walk uses, and --resume, which has its own checks below.
HARNESS="--save --json --resume --load"

BASE_TRAIN=(--task adding --length 6 --batch 4 --steps 3 --eval-size 8 --threads 1 --seed 1)

# ------------------------------------------------------------------ helpers
# The weights of a safetensors file: everything after its header, as a checksum.
weights() {
    local n
    n=$(od -An -tu8 -N8 "$1" 2>/dev/null | tr -d ' ') || return 1
    [ -n "$n" ] || return 1
    tail -c +$((9 + n)) "$1" | cksum
}
# diagnose's measured half: the JSON from "verdict" on (the recorded settings come first).
measured() { tail -n 1 "$1" | sed -n 's/.*\("verdict":.*\)/\1/p'; }

# condition text -> 0/1 for the current combination
applies() {
    local e=$1
    e=${e//TWO/$TWO}; e=${e//SGD/$SGD}; e=${e//COS/$COS}
    e=${e//P/$P}; e=${e//R/$R}; e=${e//K/$K}; e=${e//F/$F}; e=${e//J/$J}; e=${e//X/$X}
    e=${e//C/$C}; e=${e//S/$S}
    echo $(( e ))
}

# walk CMD COMBO_ID MODEL_ARGS TRAITS OPT SCHED ROWS...: one line per row to stdout,
# "PASS|row|combo|what" or "FAIL|row|combo|what".
walk() {
    local cmd=$1 id=$2 margs=$3 traits=$4 opt=$5 sched=$6; shift 6
    local d="$tmp/$cmd.$id"
    mkdir -p "$d"
    P=0; R=0; K=0; F=0; J=0; X=0; C=0; S=0; TWO=0
    case $traits in *P*) P=1 ;; esac; case $traits in *R*) R=1 ;; esac
    case $traits in *K*) K=1 ;; esac; case $traits in *F*) F=1 ;; esac
    case $traits in *J*) J=1 ;; esac
    case $traits in *2*) TWO=1 ;; esac; case $traits in *X*) X=1 ;; esac
    case $traits in *C*) C=1 ;; esac; case $traits in *S*) S=1 ;; esac
    SGD=0; [ "$opt" = sgd ] && SGD=1
    COS=0; [ "$sched" = cosine ] && COS=1
    local other_model=gru next_opt other_sched=cosine
    case $margs in "--model gru"*) other_model=lstm ;; esac
    case $opt in adam) next_opt=adamw ;; adamw) next_opt=sgd ;; *) next_opt=adam ;; esac
    [ "$sched" = cosine ] && other_sched=constant
    local combo="$(printf '%s' "$margs" | cut -d' ' -f2), $opt, $sched"
    # shellcheck disable=SC2206
    local base=("${BASE_TRAIN[@]}" $margs --optimizer "$opt" --schedule "$sched")
    local k=0 row brc0=-1 bw0=""
    for row in "$@"; do
        k=$((k + 1))
        local words extra cond obs
        IFS='|' read -r words extra cond obs <<<"$row"
        local tag="$words${extra:+ (with $extra)}"
        local f="$d/f$k"
        words=${words//@M/$other_model}; words=${words//@O/$next_opt}
        words=${words//@S/$other_sched}; words=${words//@F/$f}
        [ "$cmd" = diagnose ] && [ "$obs" = json:test_loss ] && obs=json:val_loss
        local want; want=$(applies "$cond")
        if [ "$want" = 2 ]; then want=1; obs=same; fi
        # the baseline of this row: the base with the row's extra options (run once per
        # combination when there are none), and the variant: the row's options on top
        local b=() v=() i
        for ((i = 0; i < ${#base[@]}; i += 2)); do
            b+=("${base[i]}" "${base[i + 1]}")
            case " $words " in *" ${base[i]} "*) continue ;; esac
            v+=("${base[i]}" "${base[i + 1]}")
        done
        # shellcheck disable=SC2206
        b+=(${extra//@F/$f.base}); v+=(${extra//@F/$f} $words)
        local bst="$d/base$k.st"
        [ -z "$extra" ] && bst="$d/base.st"
        if [ "$cmd" = train ]; then
            b+=(--json --save "$bst"); v+=(--json --save "$d/var.st")
        else
            b+=(--json); v+=(--json)
        fi
        local brc bo="$d/bo$k" be="$d/be$k"
        if [ -z "$extra" ]; then
            bo="$d/bo"; be="$d/be"
            if [ "$brc0" = -1 ]; then
                "$bin" "$cmd" "${b[@]}" >"$bo" 2>"$be" </dev/null
                brc0=$?
            fi
            brc=$brc0
        else
            "$bin" "$cmd" "${b[@]}" >"$bo" 2>"$be" </dev/null
            brc=$?
        fi
        rm -f "$d/var.st"
        "$bin" "$cmd" "${v[@]}" >"$d/vo" 2>"$d/ve" </dev/null
        local vrc=$?
        if [ "$brc" -ne 0 ] && [ "$want" = 1 ]; then
            echo "FAIL|$tag|$combo|the baseline failed (exit $brc): $(head -c 200 "$be" | tr '|\n' '/ ')"
            continue
        fi
        if [ "$want" = 0 ]; then
            # with --json a refusal after parsing also ends stdout with the JSON error line
            if [ "$vrc" -eq 2 ] && [ "$(wc -l <"$d/ve")" -eq 1 ] && grep -q '^mnemo: ' "$d/ve" \
                && { [ ! -s "$d/vo" ] || { [ "$(wc -l <"$d/vo")" -eq 1 ] \
                     && grep -q '^{"command":.*"error":.*"exit_code":2' "$d/vo"; }; }; then
                echo "PASS|$tag|$combo|refused"
            else
                echo "FAIL|$tag|$combo|should be refused (exit 2, one line), got exit $vrc: $(tail -c 300 "$d/ve" | tr '|\n' '/ ')"
            fi
            continue
        fi
        if [ "$vrc" -ne 0 ]; then
            echo "FAIL|$tag|$combo|should apply, got exit $vrc: $(tail -c 300 "$d/ve" | tr '|\n' '/ ')"
            continue
        fi
        local bw vw changed=0
        if [ "$cmd" = train ]; then
            if [ -n "$extra" ]; then bw=$(weights "$bst")
            else [ -n "$bw0" ] || bw0=$(weights "$bst"); bw=$bw0; fi
            vw=$(weights "$d/var.st")
        else
            bw=$(measured "$bo"); vw=$(measured "$d/vo")
        fi
        case $obs in
            w) [ "$bw" != "$vw" ] && changed=1 ;;
            same) [ "$bw" = "$vw" ] && changed=1 ;;
            threads) [ "$bw" = "$vw" ] && [ -n "$(json_get "$d/vo" threads)" ] \
                && [ "$(json_get "$bo" threads)" != "$(json_get "$d/vo" threads)" ] && changed=1 ;;
            json:*) [ -n "$(json_get "$d/vo" "${obs#json:}")" ] \
                && [ "$(json_get "$bo" "${obs#json:}")" != "$(json_get "$d/vo" "${obs#json:}")" ] \
                && changed=1 ;;
            err:*) [ "$(grep -c -- "${obs#err:}" "$be")" != "$(grep -c -- "${obs#err:}" "$d/ve")" ] \
                && changed=1 ;;
            file) [ -s "$f" ] && changed=1 ;;
            svg) [ -s "$f.svg" ] && ! cmp -s "$f.base.svg" "$f.svg" && changed=1 ;;
        esac
        if [ "$changed" = 1 ]; then
            echo "PASS|$tag|$combo|$obs"
        else
            echo "FAIL|$tag|$combo|accepted, but changed nothing ($obs)"
        fi
    done
}

# ------------------------------------------------------------------ coverage
# Every option --help lists is in the table (or is the harness's): a new option without a
# row fails here until its row says where it applies.
covered() {
    local cmd=$1; shift
    local listed name missing=""
    listed=$("$bin" "$cmd" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p')
    for name in $listed; do
        local found=0 row
        for row in "$@"; do
            case " ${row%%|*} " in *" $name "*) found=1 ;; esac
        done
        case " $HARNESS " in *" $name "*) found=1 ;; esac
        [ "$found" = 1 ] || missing="$missing $name"
    done
    if [ -z "$missing" ] && [ -n "$listed" ]; then
        ok "$cmd: every option of --help ($(echo $listed | wc -w)) has a row in the table"
    else bad "$cmd: options without a row:$missing"; fi
}
covered train "${ROWS[@]}"
covered diagnose "${ROWS[@]}" "${DIAGNOSE_ROWS[@]}"

# ------------------------------------------------------------------ the walk
results="$tmp/results"
: >"$results"
jobs_run=0
start=$(date +%s)
for m in "${MODELS[@]}"; do
    IFS='|' read -r mname margs traits <<<"$m"
    for opt in adam adamw sgd; do
        for sched in constant cosine; do
            jobs_run=$((jobs_run + 1))
            walk train "$jobs_run" "$margs" "$traits" "$opt" "$sched" "${ROWS[@]}" \
                >"$results.$jobs_run" &
            [ "$(jobs -rp | wc -l)" -ge 2 ] && wait -n
        done
    done
done
# diagnose: its training options share train's table and checks; walk them on fewer
# combinations, with diagnose's own options, on every model
diag_rows=()
for row in "${ROWS[@]}"; do
    case ${row%%|*} in --checkpoint-every*) continue ;; esac   # train's own
    diag_rows+=("$row")
done
for m in "${MODELS[@]}"; do
    IFS='|' read -r mname margs traits <<<"$m"
    case $mname in lstm|gru|rnn\ block|ff,layernorm) ;; *) continue ;; esac
    for c in "adam constant" "sgd cosine"; do
        jobs_run=$((jobs_run + 1))
        # shellcheck disable=SC2086
        walk diagnose "$jobs_run" "$margs" "$traits" $c "${diag_rows[@]}" "${DIAGNOSE_ROWS[@]}" \
            >"$results.$jobs_run" &
        [ "$(jobs -rp | wc -l)" -ge 2 ] && wait -n
    done
done
wait
for ((i = 1; i <= jobs_run; i++)); do cat "$results.$i" >>"$results"; done

# one line per row: where it changed the result, where it was refused, or what failed
total=$(wc -l <"$results")
while IFS= read -r tag; do
    n_ok=$(grep -cF "PASS|$tag|" "$results")
    n_ref=$(grep -F "PASS|$tag|" "$results" | grep -c '|refused$')
    fails=$(grep -F "FAIL|$tag|" "$results")
    if [ -z "$fails" ]; then
        ok "$tag: applied in $((n_ok - n_ref)), refused in $n_ref combinations"
    else
        bad "$tag: $(printf '%s\n' "$fails" | wc -l) combinations wrong" \
            "$(printf '%s\n' "$fails" | cut -d'|' -f3- | head -n 6)"
    fi
done < <(cut -d'|' -f2 "$results" | awk '!seen[$0]++')
[ "$total" -gt 2000 ] && ok "walked $total combinations of option, model, optimizer and schedule in $(( $(date +%s) - start ))s" \
    || bad "walked only $total combinations"

# ------------------------------------------------------------------ the cases one by one
T=(train "${BASE_TRAIN[@]}" --json)

# --weight-decay under each optimizer says what it does, and the record holds it
run "${T[@]}" --model lstm --hidden 8 --weight-decay 0.1
if [ "$rc" -eq 0 ] && grep -q 'weight decay 0.1 as L2 in the gradient (torch.optim.Adam)' "$tmp/out" \
    && [ "$(json_get "$tmp/out" weight_decay)" = 0.1 ]; then
    ok "--weight-decay 0.1 with adam: stated as L2 in the gradient, recorded in JSON"
else bad "--weight-decay with adam" "$(show)"; fi
run "${T[@]}" --model lstm --hidden 8 --optimizer adamw
if [ "$rc" -eq 0 ] && grep -q 'weight decay 0.01, decoupled (torch.optim.AdamW)' "$tmp/out" \
    && [ "$(json_get "$tmp/out" weight_decay)" = 0.01 ]; then
    ok "adamw: torch.optim.AdamW's default decay 0.01, decoupled, stated and recorded"
else bad "adamw default decay" "$(show)"; fi
run "${T[@]}" --model lstm --hidden 8 --optimizer sgd --weight-decay 0.1
if [ "$rc" -eq 0 ] && grep -q 'sgd: momentum 0.9; weight decay 0.1 as L2 in the gradient (torch.optim.SGD)' "$tmp/out" \
    && [ "$(json_get "$tmp/out" momentum)" = 0.9 ] && [ -z "$(json_get "$tmp/out" beta1)" ]; then
    ok "sgd: momentum and L2 decay stated; JSON has momentum and no betas"
else bad "sgd record" "$(show)"; fi
run train --help
if grep -q -- '--weight-decay X .*adam adds X\*w to the gradient.*adamw shrinks w by lr\*X.*sgd adds X\*w' "$tmp/out" \
    && grep -q -- '--min-lr-ratio R .*CosineAnnealingLR ends at 0.*default: 0.1' "$tmp/out"; then
    ok "train --help says what --weight-decay does under each optimizer, and --min-lr-ratio's default 0.1"
else bad "train --help" "$(grep -E 'weight-decay|min-lr' "$tmp/out")"; fi

# --forget-bias 5: chrono steps aside, the bias is 5, and the file records what was used
F=(--model lstm --hidden 8 --save "$tmp/fb")
run "${T[@]}" "${F[@]}5.st" --forget-bias 5
run "${T[@]}" "${F[@]}1.st" --forget-bias 1
run "${T[@]}" "${F[@]}nc.st" --forget-bias 5 --no-chrono
if [ "$(weights "$tmp/fb5.st")" != "$(weights "$tmp/fb1.st")" ] \
    && [ "$(weights "$tmp/fb5.st")" = "$(weights "$tmp/fbnc.st")" ]; then
    ok "--forget-bias 5 changes the weights (and equals --no-chrono --forget-bias 5)"
else bad "--forget-bias 5 had no effect"; fi
if [ "$have_python" = 1 ]; then
    if msg=$(python3 - "$tmp/fb5.st" <<'EOF' 2>&1
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
h = json.loads(f.read(n)); data = f.read(); meta = h.pop("__metadata__")
assert meta.get("model.forget_bias") == "5", meta.get("model.forget_bias")
assert "model.chrono_tmax" not in meta, "chrono_tmax recorded but not used"
t = h["rnn.bias_ih_l0"]; a, b = t["data_offsets"]
v = struct.unpack("<%df" % ((b - a) // 4), data[a:b]); H = len(v) // 4
t = h["rnn.bias_hh_l0"]; a, b = t["data_offsets"]
w = struct.unpack("<%df" % ((b - a) // 4), data[a:b])
f_gate = [v[H + j] + w[H + j] for j in range(H)]
# three Adam steps of lr 0.005 move each of the two bias vectors by about 0.015 at most
assert all(abs(x - 5) < 0.04 for x in f_gate), f_gate
EOF
    ); then ok "--forget-bias 5: the forget gate's b_ih + b_hh is 5 (after 3 steps), metadata forget_bias 5, no chrono_tmax"
    else bad "--forget-bias 5 in the file" "$msg"; fi
fi
run "${T[@]}" --model lstm --hidden 8 --save "$tmp/ch.st"
if [ "$have_python" = 1 ] && python3 - "$tmp/ch.st" <<'EOF'
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
meta = json.loads(f.read(n))["__metadata__"]
assert meta.get("model.chrono_tmax") == "6" and "model.forget_bias" not in meta, meta
EOF
then ok "chrono init (the default): metadata chrono_tmax 6 and no forget_bias, which it overwrote"
elif [ "$have_python" = 1 ]; then bad "chrono metadata"; fi
expect_usage "--forget-bias 5 with --model gru (no forget gate)" "${T[@]}" --model gru --forget-bias 5
expect_usage "--forget-bias 5 with --model rnn" "${T[@]}" --model rnn --forget-bias 5
expect_usage "--forget-bias 5 with --chrono" "${T[@]}" --model lstm --chrono --forget-bias 5
expect_usage "--blocks rnn:8 --chrono, like --model rnn --chrono" "${T[@]}" --blocks rnn:8 --chrono
grep -q 'keep gate' "$tmp/err" && ok "... naming what --chrono needs" || bad "--chrono message" "$(show)"

# schedules: a 5-step cosine resumed with --steps 12 is refused with the choice spelled out;
# keeping the schedule gives the bits of a run that never stopped
C=(train --task adding --length 6 --batch 4 --eval-size 8 --threads 1 --model lstm --hidden 8
   --schedule cosine --lr 0.02)
run "${C[@]}" --steps 5 --save "$tmp/c5.st"
run "${C[@]}" --steps 12 --resume "$tmp/c5.st" --save "$tmp/c12.st"
if [ "$rc" -eq 2 ] && grep -q 'cosine schedule over 5 steps' "$tmp/err" \
    && grep -q -- '--schedule-steps 5' "$tmp/err" && grep -q 'new run' "$tmp/err"; then
    ok "cosine resumed with --steps 12 after 5: refused, naming --schedule-steps 5 and a new run"
else bad "cosine resume with another --steps" "$(show)"; fi
run "${C[@]}" --steps 12 --schedule-steps 5 --resume "$tmp/c5.st" --save "$tmp/c12.st" --json
if [ "$rc" -eq 0 ] && grep -q 'steps 6 to 12 stay at its floor, lr 0.002' "$tmp/err" \
    && [ "$(grep -c 'lr 2.0e-03' "$tmp/err")" -ge 7 ] && [ "$(json_get "$tmp/out" last_lr)" = 0.002 ]; then
    ok "--schedule-steps 5: resumed, says steps 6 to 12 stay at the floor, and they do (lr 0.002)"
else bad "resume keeping the schedule" "$(show)"; fi
run "${C[@]}" --steps 12 --schedule-steps 5 --save "$tmp/w12.st"
if [ -n "$(weights "$tmp/c12.st")" ] && [ "$(weights "$tmp/c12.st")" = "$(weights "$tmp/w12.st")" ]; then
    ok "5 steps, resume, 7 steps: the same weights as 12 steps under --schedule-steps 5"
else bad "resumed cosine differs from the uninterrupted run"; fi
run "${C[@]}" --steps 3 --schedule-steps 6
if [ "$rc" -eq 0 ] && grep -q 'stops at step 3 of its 6-step cosine schedule' "$tmp/err"; then
    ok "a run shorter than its schedule says where it stops"
else bad "run shorter than its schedule" "$(show)"; fi
expect_usage "a warmup longer than the run"         "${T[@]}" --model lstm --warmup 4
grep -q 'never reach' "$tmp/err" && ok "... saying the learning rate would never be reached" \
    || bad "warmup message" "$(show)"
expect_usage "a cosine warmup that leaves nothing to decay" "${T[@]}" --model lstm --schedule cosine --warmup 2

# diagnose --load: the file is the model and nothing is trained, so every option of the
# model or of training is refused; what a loaded diagnosis reads (the task or data, the
# batch, the seed) is accepted
run "${T[@]}" --model lstm --hidden 8 --save "$tmp/d.st"
Dl=(diagnose --task adding --length 6 --load "$tmp/d.st" --threads 1)
bad_load=""
for row in "${ROWS[@]}"; do
    words=${row%%|*}
    case $words in --task*|--length*|--batch*|--seed*|--threads*|--data*|--valid-*|--tokenizer*) continue ;; esac
    words=${words//@M/gru}; words=${words//@O/sgd}; words=${words//@S/cosine}; words=${words//@F/$tmp/x}
    case $words in --checkpoint-every*) continue ;; esac
    # shellcheck disable=SC2086
    "$bin" "${Dl[@]}" $words >"$tmp/out" 2>"$tmp/err" </dev/null
    if [ $? -ne 2 ] || ! grep -q 'does not apply with --load' "$tmp/err"; then bad_load="$bad_load [$words]"; fi
done
[ -z "$bad_load" ] && ok "diagnose --load refuses every option of the model and of training" \
    || bad "diagnose --load accepted:$bad_load"
run "${Dl[@]}" --batch 3 --seed 2 --threshold 0.01 --sequences 2 --batches 2 --json
[ "$rc" -eq 0 ] && ok "diagnose --load takes --batch, --seed, --threshold, --sequences, --batches" \
    || bad "diagnose --load with its own options" "$(show)"
expect_usage "diagnose --sequences without a recurrence" diagnose "${BASE_TRAIN[@]}" --blocks ff:8 --sequences 2

# ------------------------------------------------------------------ lab
# `mnemo lab` shares one option set among its experiments; --help lists the options each
# experiment reads, and every other option is refused there. Rows: the option as given |
# an experiment that reads it, with small settings both runs get | the JSON figure it must
# change. Every option of `lab --help` needs a row; each row's option must change its
# figure where it applies and be refused (exit 2, one line) by every experiment that does
# not list it.
LAB_ROWS=(
    "--radius 0.8|vanishing --length 20 --hidden 8|theory"
    "--length 30|vanishing --hidden 8|theory"
    "--hidden 16|gru-params|lstm_params"
    "--forget 0.9|lstm-highway --length 20 --hidden 8|theory"
    "--clip 0.5|exploding --length 20 --hidden 8|clipped_update_norm"
    "--tbptt 5|tbptt --length 20 --hidden 8|last_chunk"
    "--forget-bias 0,2|forget-bias --length 10 --hidden 4|half_life_theory_1"
    "--lengths 4,8|adding-sweep --steps 2 --batch 4 --hidden 4|rnn_T4_mse"
    "--steps 3|layernorm-saturation --length 10 --hidden 4 --batch 4|lstm_last_loss"
    "--batch 4|adam-vanishing --length 10 --hidden 4|sgd_norm_w_ih"
    "--depth 4|residual --hidden 16|theory"
    "--cut 0.5|forget-product --length 20 --hidden 4|theory"
    "--seeds 3|small-data --length 5 --hidden 4 --steps 2 --batch 8 --train-size 8|lstm_test_mean"
    "--target 100|sample-complexity --lengths 4,8 --steps 30 --batch 4 --hidden 4 --seeds 1|rnn_T4_samples"
    "--train-size 16|small-data --length 5 --hidden 4 --steps 4 --batch 8 --seeds 2|lstm_test_mean"
    "--scale 10|layernorm-saturation --length 10 --hidden 4 --steps 2 --batch 4|lstm_saturated"
    "--text README.md|bpe-distance|all_chars"
    "--seed 2|adam-vanishing --length 10 --hidden 4 --batch 4|sgd_norm_w_ih"
    "--threads 3|gru-params|threads"
)
run lab --help
cp "$tmp/out" "$tmp/lab_help"
# "experiment|--a --b" per experiment, from the help's "(--a, --b)" lines
awk '/^  [a-z0-9-]+( |$)/ { name = $1 } /^ +\(--.*\)$/ { gsub(/[(),]/, ""); sub(/^ +/, "");
     print name "|" $0 }' "$tmp/lab_help" >"$tmp/lab_reads"
lab_listed=$(sed -n '/^options/,$ s/^  \(--[a-z0-9-]*\).*/\1/p' "$tmp/lab_help")
missing=""
for name in $lab_listed; do
    found=0
    for row in "${LAB_ROWS[@]}"; do case " ${row%%|*} " in *" $name "*) found=1 ;; esac; done
    [ "$name" = --json ] && found=1
    [ "$found" = 1 ] || missing="$missing $name"
done
if [ -z "$missing" ] && [ "$(wc -l <"$tmp/lab_reads")" -ge 21 ]; then
    ok "lab: every option of --help ($(echo $lab_listed | wc -w)) has a row; $(wc -l <"$tmp/lab_reads") experiments list what they read"
else bad "lab: options without a row:$missing (or the experiments' option lines were not found)"; fi
for row in "${LAB_ROWS[@]}"; do
    IFS='|' read -r words base key <<<"$row"
    opt=${words%% *}
    # shellcheck disable=SC2086
    "$bin" lab $base --json --threads 1 >"$tmp/lb" 2>"$tmp/lbe" </dev/null
    brc=$?
    # shellcheck disable=SC2086
    v=($base --json --threads 1)
    [ "$opt" = --threads ] && v=($base --json)
    # shellcheck disable=SC2086
    "$bin" lab "${v[@]}" $words >"$tmp/lv" 2>"$tmp/lve" </dev/null
    vrc=$?
    bv=$(json_get "$tmp/lb" "$key"); vv=$(json_get "$tmp/lv" "$key")
    if [ "$brc" -eq 0 ] && [ "$vrc" -eq 0 ] && [ -n "$vv" ] && [ "$bv" != "$vv" ]; then
        applied="changes $key ($bv -> $vv) on ${base%% *}"
    else
        bad "lab $words on ${base%% *}: exit $brc/$vrc, $key '$bv' -> '$vv'" "$(tail -c 300 "$tmp/lve")"
        continue
    fi
    wrong=""; refused=0
    while IFS='|' read -r exp reads; do
        [ "$opt" = --threads ] && break
        case " $reads " in *" $opt "*) continue ;; esac
        # shellcheck disable=SC2086
        "$bin" lab "$exp" $words >"$tmp/lr" 2>"$tmp/lre" </dev/null
        if [ $? -eq 2 ] && [ "$(wc -l <"$tmp/lre")" -eq 1 ] && grep -q 'does not apply' "$tmp/lre" \
            && [ ! -s "$tmp/lr" ]; then refused=$((refused + 1)); else wrong="$wrong $exp"; fi
    done <"$tmp/lab_reads"
    if [ -z "$wrong" ]; then ok "lab $words: $applied; refused by the $refused experiments that do not read it"
    else bad "lab $words: accepted (or refused badly) by:$wrong"; fi
done

cli_finish
