#!/usr/bin/env bash
# Checks of the mnemo command-line contract (DESIGN.md, "CLI contract").
#   bash tests/cli_test.sh [build/mnemo]
# Each check prints "ok - ..." or "FAIL - ..."; the last line is "N passed, N failed" and the
# exit status is non-zero when a check failed. Needs only bash and coreutils; when python3 is
# present it is also used (standard library only) to validate the JSON output strictly.
set -u

source "$(dirname "$0")/cli_lib.sh"


T=(train --task adding --length 10 --model lstm --hidden 8 --batch 4 --steps 20 --eval-size 64)

# ------------------------------------------------------------- version and help
run --version
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "mnemo 0.1.0" ]; then ok "--version prints 'mnemo 0.1.0'"
else bad "--version" "$(show)"; fi

run --help
if [ "$rc" -eq 0 ] && grep -q train "$tmp/out" && grep -q eval "$tmp/out" && grep -q bench "$tmp/out"; then
    ok "--help lists train, eval, bench"
else bad "--help" "$(show)"; fi

run help
if [ "$rc" -eq 0 ] && grep -q train "$tmp/out"; then ok "'help' works like --help"; else bad "help" "$(show)"; fi

for c in train eval bench; do
    run "$c" --help
    if [ "$rc" -eq 0 ] && grep -q -- '--threads' "$tmp/out" && grep -q -- '--seed' "$tmp/out" \
        && grep -q 'default' "$tmp/out"; then
        ok "$c --help lists its options with defaults"
    else bad "$c --help" "$(show)"; fi
done
run train --help
if grep -q -- '--length' "$tmp/out" && grep -q -- '--hidden H .*default: 128' "$tmp/out"; then
    ok "train --help shows --length and the default hidden size 128"
else bad "train --help content" "$(show)"; fi
run train --length 12x --help
[ "$rc" -eq 0 ] && ok "--help wins over a bad value" || bad "--help with a bad value" "$(show)"

# ------------------------------------------------------------- bad usage: exit 2, one line
expect_usage "no command"                  
expect_usage "unknown command"              frobnicate
expect_usage "unknown option before command" --frobnicate
expect_usage "unknown option"              "${T[@]}" --frobnicate 3
expect_usage "single-dash option"          "${T[@]}" -x
expect_usage "stray positional argument"   "${T[@]}" extra
expect_usage "missing value at the end"    train --task adding --model lstm --length
expect_usage "missing value before option" train --task adding --model lstm --length --steps 10
expect_usage "missing required --task"     train --length 10 --model lstm
expect_usage "missing required --model"    train --task adding --length 10
expect_usage "option given twice"          "${T[@]}" --steps 5
expect_usage "flag given a value"          "${T[@]}" --json=yes
expect_usage "non-numeric --length 12x"    train --task adding --model lstm --length 12x
expect_usage "empty --length"              train --task adding --model lstm --length ''
expect_usage "hex --length 0x10"           train --task adding --model lstm --length 0x10
expect_usage "fractional --length 1.5"     train --task adding --model lstm --length 1.5
expect_usage "negative --length -5"        train --task adding --model lstm --length -5
expect_usage "zero --length"               train --task adding --model lstm --length 0
expect_usage "overflowing --length"        train --task adding --model lstm --length 99999999999999
expect_usage "--length above 1000000"      train --task adding --model lstm --length 1000001
expect_usage "huge --length 1e30 digits"   train --task adding --model lstm --length 1000000000000000000000000000000
expect_usage "zero --hidden"               train --task adding --length 10 --model lstm --hidden 0
expect_usage "--hidden above limit"        train --task adding --length 10 --model lstm --hidden 65537
expect_usage "zero --batch"                train --task adding --length 10 --model lstm --batch 0
expect_usage "zero --steps"                train --task adding --length 10 --model lstm --steps 0
expect_usage "--layers 65"                 train --task adding --length 10 --model lstm --layers 65
expect_usage "non-numeric --lr abc"        train --task adding --length 10 --model lstm --lr abc
expect_usage "--lr nan"                    train --task adding --length 10 --model lstm --lr nan
expect_usage "--lr inf"                    train --task adding --length 10 --model lstm --lr inf
expect_usage "--lr 1e999 (overflow)"       train --task adding --length 10 --model lstm --lr 1e999
expect_usage "negative --lr"               train --task adding --length 10 --model lstm --lr -0.001
expect_usage "zero --lr"                   train --task adding --length 10 --model lstm --lr 0
expect_usage "negative --clip"             train --task adding --length 10 --model lstm --clip -1
expect_usage "--momentum 2"                train --task adding --length 10 --model lstm --momentum 2
expect_usage "zero --threads"              train --task adding --length 10 --model lstm --threads 0
expect_usage "negative --seed"             train --task adding --length 10 --model lstm --seed -1
expect_usage "non-numeric --seed"          train --task adding --length 10 --model lstm --seed abc
expect_usage "unknown task"                train --task nosuch --length 10 --model lstm
expect_usage "unknown model"               train --task adding --length 10 --model transformerx
expect_usage "unknown optimizer"           train --task adding --length 10 --model lstm --optimizer adagrad
expect_usage "unknown schedule"            train --task adding --length 10 --model lstm --schedule linear
expect_usage "--chrono on a gateless rnn"  train --task adding --length 10 --model rnn --chrono
expect_usage "unknown init"                train --task adding --length 10 --model lstm --init xavier
expect_usage "--save in a missing folder"  "${T[@]}" --save "$tmp/no/such/dir/m.safetensors"
expect_usage "--save names a folder"       "${T[@]}" --save "$tmp"
expect_usage "--metrics in a missing folder" "${T[@]}" --metrics "$tmp/no/such/dir/m.jsonl"
expect_usage "too much memory for training" train --task adding --length 1000000 --model lstm --hidden 65536 --batch 65536
expect_usage "bench: missing --hidden"     bench --model lstm --length 10 --batch 2 --input-size 3
expect_usage "bench: unknown --mode"       bench --model lstm --length 10 --batch 2 --input-size 3 --hidden 4 --mode fast
expect_usage "bench: zero --input-size"    bench --model lstm --length 10 --batch 2 --input-size 0 --hidden 4
expect_usage "bench: too much memory"      bench --model lstm --length 1000000 --batch 65536 --input-size 1 --hidden 65536
expect_usage "eval: missing --load"        eval --task adding --length 10
expect_usage "eval: --load file missing"   eval --load "$tmp/missing.safetensors" --task adding --length 10
printf 'this is not a safetensors file' >"$tmp/garbage.safetensors"
expect_usage "eval: --load of a garbage file" eval --load "$tmp/garbage.safetensors" --task adding --length 10
printf '\377\377\377\377\377\377\377\177{' >"$tmp/huge-header.safetensors"
expect_usage "eval: --load with an absurd header length" eval --load "$tmp/huge-header.safetensors" --task adding --length 10

# ------------------------------------------------------------- a tiny training run
run "${T[@]}" --json
if [ "$rc" -eq 0 ]; then
    ok "tiny train run succeeds"
    if msg=$(json_check "$tmp/out" command task model length hidden layers steps train_loss \
        test_loss baseline_loss tokens_per_s seconds threads seed); then
        ok "train --json: last stdout line is JSON with the required keys"
    else bad "train --json summary" "$msg"; fi
    [ "$(json_get "$tmp/out" command)" = '"train"' ] && ok "train --json: command is \"train\"" \
        || bad "train --json command" "$(tail -n 1 "$tmp/out")"
    [ "$(json_get "$tmp/out" steps)" = 20 ] && [ "$(json_get "$tmp/out" hidden)" = 8 ] \
        && ok "train --json: steps 20 and hidden 8 as asked" \
        || bad "train --json steps/hidden" "$(tail -n 1 "$tmp/out")"
    grep -q 'test loss' "$tmp/out" && grep -q 'baseline' "$tmp/out" \
        && ok "train prints a human summary (test loss, baseline)" || bad "train summary" "$(show)"
    n=$(grep -c '^step ' "$tmp/err")
    [ "$n" -ge 10 ] && [ "$n" -le 25 ] && ok "train progress: $n step lines on a non-terminal stderr" \
        || bad "train progress lines ($n)" "$(show)"
    grep -q '^eval ' "$tmp/err" && ok "train progress: evaluation lines" || bad "eval lines" "$(show)"
    grep -q $'\r' "$tmp/err" && bad "no carriage returns when stderr is not a terminal" "$(show)" \
        || ok "no carriage returns when stderr is not a terminal"
else
    bad "tiny train run" "$(show)"
fi

run train --task copy --length 5 --model gru --hidden 8 --batch 4 --steps 6 --eval-size 16 --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" test_loss baseline_loss test_accuracy); then
    ok "copy task with gru: JSON has test_accuracy"
else bad "copy task run" "$(show) ${msg:-}"; fi

# ------------------------------------------------------------- metrics file
run "${T[@]}" --log-every 5 --eval-every 10 --metrics "$tmp/m.jsonl"
if [ "$rc" -eq 0 ] && [ -f "$tmp/m.jsonl" ]; then
    ntrain=$(grep -c '"type":"train"' "$tmp/m.jsonl")
    neval=$(grep -c '"type":"eval"' "$tmp/m.jsonl")
    total=$(wc -l <"$tmp/m.jsonl" | tr -d ' ')
    [ "$ntrain" -eq 4 ] && [ "$neval" -eq 2 ] && [ "$total" -eq 6 ] \
        && ok "--metrics: 4 train lines (every 5 of 20 steps) and 2 eval lines" \
        || bad "--metrics line counts: train $ntrain, eval $neval, total $total" "$(cat "$tmp/m.jsonl")"
    good=1
    while IFS= read -r l; do
        printf '%s\n' "$l" >"$tmp/line"
        case $l in *'"type":"train"'*) keys="type step loss grad_norm lr tokens_per_s" ;;
                   *) keys="type step test_loss baseline_loss test_accuracy" ;; esac
        # shellcheck disable=SC2086
        json_check "$tmp/line" $keys >/dev/null || { good=0; bad "--metrics line: $l"; }
    done <"$tmp/m.jsonl"
    [ "$good" = 1 ] && ok "--metrics: every line is a JSON object with its keys"
    run "${T[@]}" --log-every 10 --metrics "$tmp/m.jsonl"
    total2=$(wc -l <"$tmp/m.jsonl" | tr -d ' ')
    [ "$rc" -eq 0 ] && [ "$total2" -gt "$total" ] && ok "--metrics appends to an existing file" \
        || bad "--metrics append ($total -> $total2)" "$(show)"
else
    bad "train with --metrics" "$(show)"
fi

# ------------------------------------------------------------- save, then eval --load
run "${T[@]}" --json --save "$tmp/model.safetensors"
if [ "$rc" -eq 0 ] && [ -s "$tmp/model.safetensors" ]; then
    ok "--save writes a file"
    train_loss=$(json_get "$tmp/out" test_loss)
    run eval --load "$tmp/model.safetensors" --task adding --length 10 --eval-size 64 --json
    if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command task model length test_loss baseline_loss \
        seconds threads seed); then
        ok "eval --load --json gives test_loss $(json_get "$tmp/out" test_loss)"
        [ "$(json_get "$tmp/out" command)" = '"eval"' ] && ok "eval --json: command is \"eval\"" \
            || bad "eval --json command" "$(tail -n 1 "$tmp/out")"
        [ "$(json_get "$tmp/out" test_loss)" = "$train_loss" ] \
            && ok "eval reproduces the test loss of training ($train_loss) on the same held-out set" \
            || bad "eval test_loss $(json_get "$tmp/out" test_loss) differs from train's $train_loss"
    else bad "eval --load" "$(show) ${msg:-}"; fi
    expect_success "eval takes --task/--length from the file" eval --load "$tmp/model.safetensors" --eval-size 16
    expect_success "eval at another length (generalization)" eval --load "$tmp/model.safetensors" --task adding --length 20 --eval-size 16
    expect_usage "eval: model does not fit the task" eval --load "$tmp/model.safetensors" --task copy --length 10
    expect_usage "eval: bad --eval-size" eval --load "$tmp/model.safetensors" --eval-size 0
    # a file whose task metadata holds a control character (same header length, so the file
    # stays valid): the refusal names it escaped, and no control byte reaches the terminal
    sed 's/"task":"adding"/"task":"\\u001b"/' "$tmp/model.safetensors" >"$tmp/ctl.safetensors"
    expect_usage "eval: a task name with a control character" eval --load "$tmp/ctl.safetensors" --eval-size 8
    grep -qF 'unknown task "\x1b"' "$tmp/err" && ! LC_ALL=C grep -q "$(printf '\033')" "$tmp/err" \
        && ok "the file's task name is escaped in the message" || bad "task name escaping" "$(show)"
else
    bad "train --save" "$(show)"
fi

# ------------------------------------------------------------- bench
run bench --model lstm --length 8 --batch 2 --input-size 3 --hidden 4 --iterations 2 --warmup 1 --threads 1 --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command model length batch input_size hidden layers \
    mode threads kernel ms_per_step tokens_per_s gflops peak_bytes model_bytes); then
    ok "bench --json: small shape, all keys"
else bad "bench --json" "$(show) ${msg:-}"; fi
case "$(json_get "$tmp/out" kernel)" in
    '"avx512"' | '"avx2"' | '"portable"') ok "bench --json: names the CPU kernel" ;;
    *) bad "bench kernel" "kernel field: $(json_get "$tmp/out" kernel)" ;;
esac
expect_success "bench --mode infer, gru, bidirectional, 2 layers" bench --model gru --length 6 \
    --batch 2 --input-size 3 --hidden 4 --layers 2 --bidirectional --mode infer --iterations 2 --threads 1

# ------------------------------------------------------------- robustness
# An exploding ReLU RNN: steps with NaN/Inf are reported as skipped, and after several in a
# row the library stops training with MN_E_NUMERIC -> exit 1 and one "mnemo: " line.
run train --task adding --length 50 --model rnn-relu --hidden 16 --batch 4 --steps 30 --eval-size 16 \
    --init identity --init-gain 3 --lr 50 --clip 0 --optimizer sgd
if [ "$rc" -eq 1 ] && grep -q 'skipped' "$tmp/err" && tail -n 1 "$tmp/err" | grep -q '^mnemo: .*NaN'; then
    ok "diverging run: skipped steps reported, then exit 1 with the library's message"
elif [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
    ok "diverging run: exit $rc, no crash"
else bad "diverging run (want exit 1 with a 'mnemo: ' line, or 0)" "$(show)"; fi

cli_finish
