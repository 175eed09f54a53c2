#!/usr/bin/env bash
# Checks of 'mnemo lab': help, every fast experiment PASSes with its defaults, the JSON line,
# and bad usage (exit 2, one line).
#   bash tests/cli_lab_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

# ------------------------------------------------------------- help
run lab --help
if [ "$rc" -eq 0 ] && grep -q vanishing "$tmp/out" && grep -q adding-sweep "$tmp/out" \
    && grep -q -- '--radius' "$tmp/out" && grep -q 'FAIL is a measurement' "$tmp/out"; then
    ok "lab --help lists the experiments, the options and the exit-code rule"
else bad "lab --help" "$(show)"; fi
n=$(grep -cE '^  (vanishing|exploding|lstm-highway|orthogonal|tbptt|forget-bias|activations|gru-params|adding-sweep|residual|prenorm|gated-residual|receptive-field|s4-cost|s4-equivalence|selectivity|output-gate|forget-product|input-gate|euler|adjoint|adam-vanishing|sample-complexity|small-data|layernorm-saturation|bpe-distance)( |$)' "$tmp/out")
[ "$n" -eq 26 ] && ok "lab --help has one line per experiment (26)" || bad "experiment lines: $n" "$(show)"
run help lab
[ "$rc" -eq 0 ] && grep -q vanishing "$tmp/out" && ok "'help lab' works" || bad "help lab" "$(show)"
run lab tbptt --help
[ "$rc" -eq 0 ] && grep -q -- '--tbptt, --length, --hidden, --seed' "$tmp/out" && ok "lab NAME --help shows what it reads" \
    || bad "lab tbptt --help" "$(show)"

# ------------------------------------------------------------- every fast experiment passes
for e in vanishing exploding lstm-highway orthogonal tbptt forget-bias activations gru-params residual \
    prenorm gated-residual receptive-field s4-equivalence output-gate forget-product input-gate euler \
    adjoint; do
    run lab "$e" --json --threads 1
    if [ "$rc" -ne 0 ]; then bad "lab $e (exit $rc)" "$(show)"; continue; fi
    if ! msg=$(json_check "$tmp/out" command experiment claim theory measured pass applies); then
        bad "lab $e --json keys" "$msg"; continue
    fi
    if [ "$(json_get "$tmp/out" pass)" = true ] && grep -q '^result     PASS$' "$tmp/out" \
        && grep -q '^claim ' "$tmp/out" && grep -q '^theory ' "$tmp/out" && grep -q '^measured ' "$tmp/out"; then
        ok "lab $e: PASS with its defaults ($(json_get "$tmp/out" theory) vs $(json_get "$tmp/out" measured))"
    else bad "lab $e did not PASS with its defaults" "$(show)"; fi
done

# The issue's acceptance line: within 5% of 0.9^99.
# selectivity trains two models: with a tiny budget it runs and reports its figures (the
# default budget's verdict is a measurement: see tests/test_lab_select.c)
run lab selectivity --length 20 --hidden 8 --steps 2 --json --threads 1
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" command experiment theory measured pass \
    mamba_b0_ratio mamba_b0_delta_data mamba_b0_delta_noise s4d_b0_delta mamba_accuracy \
    s4d_accuracy mamba_b0_channel_p90) && grep -q 'p90 init' "$tmp/out"; then
    ok "lab selectivity --steps 2: runs, ratio $(json_get "$tmp/out" measured), accuracies $(json_get "$tmp/out" mamba_accuracy) / $(json_get "$tmp/out" s4d_accuracy)"
else bad "lab selectivity with a tiny budget" "${msg:-}$(show)"; fi
run lab selectivity --radius 0.5
[ "$rc" -eq 2 ] && grep -q 'does not apply' "$tmp/err" && ok "lab selectivity refuses --radius" \
    || bad "lab selectivity --radius" "$(show)"

run lab vanishing --radius 0.9 --length 100 --json
m=$(json_get "$tmp/out" measured)
if [ "$rc" -eq 0 ] && awk -v m="$m" 'BEGIN { t = 0.9 ^ 99; exit !(m > 0.95 * t && m < 1.05 * t) }'; then
    ok "vanishing --radius 0.9 --length 100: measured $m within 5% of 0.9^99"
else bad "vanishing measured $m" "$(show)"; fi
[ "$(json_get "$tmp/out" command)" = '"lab"' ] && [ "$(json_get "$tmp/out" experiment)" = '"vanishing"' ] \
    && ok "JSON names the command and experiment" || bad "JSON command/experiment" "$(tail -n 1 "$tmp/out")"

# A setting where the claim cannot be checked is reported, exit 0, pass false.
run lab vanishing --radius 0.1 --length 300 --json
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" pass)" = false ] && [ "$(json_get "$tmp/out" applies)" = false ] \
    && grep -q '^result     N/A' "$tmp/out"; then
    ok "an underflowing ratio is reported N/A with pass false, exit 0"
else bad "underflow case" "$(show)"; fi

# residual: no skip within 5% of rho^L, the skip never below 0.95; the table in the report.
run lab residual --depth 24 --radius 0.8 --json
m=$(json_get "$tmp/out" measured); q=$(json_get "$tmp/out" skip_min_ratio)
if [ "$rc" -eq 0 ] && grep -q '^result     PASS$' "$tmp/out" && grep -q 'with skip' "$tmp/out" \
    && awk -v m="$m" -v q="$q" 'BEGIN { t = 0.8 ^ 24; exit !(m > 0.95 * t && m < 1.05 * t && q >= 0.95) }'; then
    ok "residual --depth 24 --radius 0.8: PASS, no skip $m (0.8^24), skip at least $q"
else bad "residual: measured $m, skip min $q" "$(show)"; fi

# prenorm: pre-norm within 10% of sqrt(1 + L v), v = (2H+5)/(36H); post-norm within 25% of
# sqrt(1 - 2/H); the per-block table in the report.
run lab prenorm --depth 24 --hidden 32 --json
m=$(json_get "$tmp/out" measured); q=$(json_get "$tmp/out" post_ratio)
if [ "$rc" -eq 0 ] && grep -q '^result     PASS$' "$tmp/out" && grep -q 'post-norm' "$tmp/out" \
    && awk -v m="$m" -v q="$q" 'BEGIN { v = 69 / 1152; t = sqrt(1 + 24 * v); p = sqrt(1 - 2 / 32)
        exit !(m > 0.9 * t && m < 1.1 * t && q > 0.75 * p && q < 1.25 * p) }'; then
    ok "prenorm --depth 24 --hidden 32: PASS, pre-norm $m (sqrt(1 + 24 v)), post-norm $q"
else bad "prenorm: measured $m, post $q" "$(show)"; fi

# gated-residual: with W_hh = 0 the ratio is the product of the keep gates, to 1%.
run lab gated-residual --forget 0.9 --length 50 --json
m=$(json_get "$tmp/out" measured); t=$(json_get "$tmp/out" theory)
if [ "$rc" -eq 0 ] && grep -q '^result     PASS$' "$tmp/out" && grep -q 'prod alpha' "$tmp/out" \
    && awk -v m="$m" -v t="$t" 'BEGIN { exit !(t > 0 && m > 0.99 * t && m < 1.01 * t) }'; then
    ok "gated-residual --forget 0.9 --length 50: PASS, $m vs product of alpha $t"
else bad "gated-residual: measured $m theory $t" "$(show)"; fi

# forget-product: one forget value of 0.5 among 0.9s, T = 30: the ratio is 0.9^28 * 0.5.
run lab forget-product --forget 0.9 --cut 0.5 --length 30 --json
m=$(json_get "$tmp/out" measured)
if [ "$rc" -eq 0 ] && grep -q '^result     PASS$' "$tmp/out" && grep -q 'crosses the cut' "$tmp/out" \
    && awk -v m="$m" 'BEGIN { t = 0.9 ^ 28 * 0.5; exit !(m > 0.9999 * t && m < 1.0001 * t) }'; then
    ok "forget-product --forget 0.9 --cut 0.5 --length 30: PASS, $m = 0.9^28 * 0.5"
else bad "forget-product: measured $m" "$(show)"; fi

# euler: the measured threshold is 2/|lambda| = 2; past float32's range it is N/A.
run lab euler --length 50 --hidden 8 --json
m=$(json_get "$tmp/out" measured)
if [ "$rc" -eq 0 ] && grep -q '^result     PASS$' "$tmp/out" \
    && awk -v m="$m" 'BEGIN { exit !(m > 1.9999 && m < 2.0001) }'; then
    ok "euler --length 50 --hidden 8: PASS, threshold $m"
else bad "euler: threshold $m" "$(show)"; fi
run lab euler --length 400 --hidden 4 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" applies)" = false ] && grep -q '^result     N/A' "$tmp/out" \
    && ok "euler over 400 steps is N/A (2^399 beyond float32)" || bad "euler T 400" "$(show)"

# The sweep at a tiny size: runs, reports every run, JSON keys.
run lab adding-sweep --lengths 4,6 --steps 3 --batch 4 --hidden 4 --json --threads 1
if [ "$rc" -eq 0 ] && json_check "$tmp/out" command experiment theory measured pass rnn_T4_mse gru_T6_horizon >/dev/null \
    && [ "$(grep -c '^adding-sweep: length' "$tmp/err")" -eq 6 ]; then
    ok "adding-sweep at a tiny size: 6 runs, progress on stderr, JSON figures"
else bad "tiny adding-sweep" "$(show)"; fi

# ------------------------------------------------------------- the training experiments
# adam-vanishing, sample-complexity, small-data, layernorm-saturation: listed with their
# options, run small, JSON figures, progress on stderr.
run lab --help
n=$(grep -cE '^  (adam-vanishing|sample-complexity|small-data|layernorm-saturation)( |$)' "$tmp/out")
if [ "$n" -eq 4 ] && grep -q -- '--scale, --length, --steps, --batch, --hidden, --seed' "$tmp/out" \
    && grep -q -- '--train-size N' "$tmp/out" && grep -q -- '--seeds N' "$tmp/out" \
    && grep -q -- '--target L' "$tmp/out"; then
    ok "lab --help lists the four training experiments and --seeds, --target, --train-size, --scale"
else bad "lab --help: training experiments ($n)" "$(show)"; fi
run lab adam-vanishing --json --threads 1
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" pass)" = true ] && grep -q 'starts to matter' "$tmp/out" \
    && json_check "$tmp/out" sgd_slope adam_ratio_k6 eps_matters_from_k >/dev/null; then
    ok "lab adam-vanishing: PASS with its defaults (SGD slope $(json_get "$tmp/out" sgd_slope), Adam at k=6 $(json_get "$tmp/out" adam_ratio_k6))"
else bad "lab adam-vanishing" "$(show)"; fi
run lab layernorm-saturation --length 20 --hidden 8 --steps 10 --batch 8 --json --threads 1
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" pass)" = true ] \
    && json_check "$tmp/out" lstm_saturated ln_lstm_saturated lstm_init_scale_1000 >/dev/null \
    && [ "$(grep -c '^layernorm-saturation: ' "$tmp/err")" -eq 2 ]; then
    ok "lab layernorm-saturation, small: PASS (LSTM $(json_get "$tmp/out" lstm_saturated), LN-LSTM $(json_get "$tmp/out" ln_lstm_saturated))"
else bad "lab layernorm-saturation, small" "$(show)"; fi
run lab layernorm-saturation --length 20 --hidden 8 --steps 10 --batch 8 --scale 1 --json --threads 1
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" pass)" = false ] && [ "$(json_get "$tmp/out" scale)" = 1 ]; then
    ok "lab layernorm-saturation --scale 1: no PASS at the task's own scale ($(json_get "$tmp/out" result))"
else bad "lab layernorm-saturation --scale 1" "$(show)"; fi
run lab sample-complexity --lengths 4,8 --steps 30 --batch 4 --hidden 4 --seeds 1 --target 1e-9 --json --threads 1
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" applies)" = false ] && grep -q '>120' "$tmp/out" \
    && grep -q 'lower bound' "$tmp/out" && [ "$(grep -c '^sample-complexity: length' "$tmp/err")" -eq 4 ]; then
    ok "lab sample-complexity, unreachable target: every run '>120' sequences, N/A as a lower bound"
else bad "lab sample-complexity, unreachable target" "$(show)"; fi
run lab small-data --length 5 --hidden 4 --steps 6 --batch 8 --train-size 16 --seeds 2 --json --threads 1
if [ "$rc" -eq 0 ] && json_check "$tmp/out" lstm_test_mean gru_test_ci95 param_ratio gru_better >/dev/null \
    && grep -q '^  verdict: ' "$tmp/out" && [ "$(grep -c '^small-data: ' "$tmp/err")" -eq 4 ]; then
    ok "lab small-data, small: 4 runs, intervals and a verdict ($(json_get "$tmp/out" result))"
else bad "lab small-data, small" "$(show)"; fi

# ------------------------------------------------------------- bad usage: exit 2, one line
expect_usage "lab without a name"              lab
expect_usage "lab with an option first"        lab --radius 0.9
expect_usage "unknown experiment"              lab nosuch
expect_usage "unknown option"                  lab vanishing --frobnicate 1
expect_usage "option the experiment ignores"   lab gru-params --radius 0.9
expect_usage "zero --radius"                   lab vanishing --radius 0
expect_usage "non-numeric --radius"            lab vanishing --radius abc
expect_usage "--length 1"                      lab vanishing --length 1
expect_usage "--forget 1"                      lab lstm-highway --forget 1
expect_usage "--forget 0"                      lab lstm-highway --forget 0
expect_usage "negative --clip"                 lab exploding --clip -1
expect_usage "--tbptt 0"                       lab tbptt --tbptt 0
expect_usage "bad --forget-bias list"          lab forget-bias --forget-bias 1,,2
expect_usage "--forget-bias out of range"      lab forget-bias --forget-bias 1,99
expect_usage "bad --lengths list"              lab adding-sweep --lengths 25,x
expect_usage "--lengths 1"                     lab adding-sweep --lengths 1
expect_usage "option given twice"              lab vanishing --length 10 --length 20
expect_usage "--depth 0"                       lab residual --depth 0
expect_usage "--depth past the limit"          lab residual --depth 10001
expect_usage "zero --radius for residual"      lab residual --radius 0
expect_usage "option residual ignores"         lab residual --length 50
expect_usage "residual too large to hold"      lab residual --depth 100 --hidden 1024
expect_usage "option prenorm ignores"          lab prenorm --radius 0.9
expect_usage "--depth 0 for prenorm"           lab prenorm --depth 0
expect_usage "prenorm too large to hold"       lab prenorm --depth 100 --hidden 1024
expect_usage "option gated-residual ignores"   lab gated-residual --depth 3
expect_usage "--forget 1 for gated-residual"   lab gated-residual --forget 1
expect_usage "--length 1 for gated-residual"   lab gated-residual --length 1
expect_usage "--cut 1"                         lab forget-product --cut 1
expect_usage "--cut 0"                         lab forget-product --cut 0
expect_usage "option forget-product ignores"   lab forget-product --radius 0.9
expect_usage "option input-gate ignores"       lab input-gate --length 10
expect_usage "--cut for another experiment"    lab lstm-highway --cut 0.1
expect_usage "adjoint too wide for its Jacobians" lab adjoint --hidden 300
expect_usage "euler too wide"                  lab euler --hidden 300
expect_usage "stray argument"                  lab vanishing extra
expect_usage "--seeds 0"                       lab small-data --seeds 0
expect_usage "--seeds 1 for small-data"        lab small-data --seeds 1
expect_usage "--scale 0"                       lab layernorm-saturation --scale 0
expect_usage "--target 0"                      lab sample-complexity --target 0
expect_usage "one length for sample-complexity" lab sample-complexity --lengths 10
expect_usage "--train-size not a multiple of --batch" lab small-data --train-size 100 --batch 32
expect_usage "option adam-vanishing ignores"   lab adam-vanishing --steps 10
expect_usage "--scale where it does not apply" lab small-data --scale 10
expect_usage "--seeds where it does not apply" lab layernorm-saturation --seeds 2

# bpe-distance: the generated text and a given one
run lab bpe-distance --json --threads 1
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" result)" = '"PASS"' ] \
    && grep -q 'chars/token' "$tmp/out" \
    && ok "lab bpe-distance: PASS, token distance $(json_get "$tmp/out" all_tokens_256) -> $(json_get "$tmp/out" all_tokens_4096)" \
    || bad "lab bpe-distance" "$(show)"
printf 'one (two) one "three" two\n' >"$tmp/bpe.txt"
run lab bpe-distance --text "$tmp/bpe.txt" --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" pairs_words)" = 2 ] \
    && [ "$(json_get "$tmp/out" pairs_brackets)" = 2 ] \
    && ok "lab bpe-distance --text: 2 word repetitions, 2 bracket/quote pairs" \
    || bad "lab bpe-distance --text" "$(show)"
expect_usage "bpe-distance --text missing" lab bpe-distance --text "$tmp/none.txt"
expect_usage "--text where it does not apply" lab vanishing --text "$tmp/bpe.txt"

cli_finish
