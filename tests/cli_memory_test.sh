#!/usr/bin/env bash
# Checks of `mnemo memory`: the JSON summary, that the longest length and largest batch it
# reports fit the budget (and one more does not), agreement with the peak `mnemo bench`
# measures in a fresh process, the budget forms, and bad usage.
#   bash tests/cli_memory_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

KEYS=(command model length batch params_bytes grads_bytes optimizer_bytes activation_bytes
      workspace_bytes total_bytes)
M=(memory --model lstm --hidden 64 --input-size 32 --batch 16 --length 100)

# ------------------------------------------------------------- the summary
run "${M[@]}" --json
if [ "$rc" -eq 0 ] && msg=$(json_check "$tmp/out" "${KEYS[@]}" data_bytes scratch_bytes); then
    ok "memory --json: the last line holds ${KEYS[*]}"
else bad "memory --json keys" "$(show; echo; echo "${msg:-}")"; fi

sum=$(( $(json_get "$tmp/out" params_bytes) + $(json_get "$tmp/out" grads_bytes) \
      + $(json_get "$tmp/out" optimizer_bytes) + $(json_get "$tmp/out" activation_bytes) \
      + $(json_get "$tmp/out" data_bytes) + $(json_get "$tmp/out" workspace_bytes) ))
total=$(json_get "$tmp/out" total_bytes)
[ "$sum" -eq "$total" ] && ok "the roles add up to total_bytes ($total)" \
    || bad "roles sum to $sum, total_bytes is $total" "$(show)"
grep -q 'activations' "$tmp/out" && grep -q 'MiB' "$tmp/out" \
    && ok "the table names the roles in human units" || bad "table" "$(show)"

run memory --model lstm --hidden 64 --input-size 32 --batch 16 --length 100 --mode infer --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" optimizer_bytes)" = 0 ] \
    && [ "$(json_get "$tmp/out" total_bytes)" -lt "$total" ] \
    && ok "--mode infer: no optimizer state, less than training" || bad "--mode infer" "$(show)"

# ------------------------------------------------------------- against the measured peak
B=(--model gru --hidden 48 --input-size 16 --batch 8 --length 60 --layers 2 --bidirectional)
run memory "${B[@]}" --threads 1 --json
est=$(json_get "$tmp/out" total_bytes)
run bench "${B[@]}" --threads 1 --iterations 1 --warmup 0 --json
peak=$(json_get "$tmp/out" peak_bytes)
if [ -n "$est" ] && [ -n "$peak" ] && [ "$peak" -gt 0 ] \
    && [ $(( (est - peak) * 100 / peak )) -le 10 ] && [ $(( (peak - est) * 100 / peak )) -le 10 ]; then
    ok "estimate $est is within 10% of the peak mnemo bench measured ($peak)"
else bad "estimate $est vs bench peak $peak" "$(show)"; fi

# ------------------------------------------------------------- the budget
# fits LEN BATCH ARGS...: 0 when `mnemo memory` at that length and batch fits $budget.
fits() {
    local len=$1 b=$2; shift 2
    run "$@" --batch "$b" --length "$len" --json
    [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" total_bytes)" -le "$budget" ]
}
check_budget() {
    local desc=$1; shift
    run "$@" --batch 16 --length 100 --budget 48MiB --json
    if [ "$rc" -ne 0 ] || ! msg=$(json_check "$tmp/out" "${KEYS[@]}" budget_bytes max_length max_batch); then
        bad "$desc: --budget --json" "$(show; echo; echo "${msg:-}")"; return
    fi
    budget=$(json_get "$tmp/out" budget_bytes)
    local T Bmax
    T=$(json_get "$tmp/out" max_length); Bmax=$(json_get "$tmp/out" max_batch)
    [ "$budget" -eq $((48 * 1048576)) ] && ok "$desc: 48MiB is $budget bytes" || bad "$desc: budget_bytes $budget"
    if [ "$T" -gt 0 ] && fits "$T" 16 "$@" && ! fits $((T + 1)) 16 "$@"; then
        ok "$desc: max_length $T fits 48MiB at batch 16 and $((T + 1)) does not"
    else bad "$desc: max_length $T" "$(show)"; fi
    if [ "$Bmax" -gt 0 ] && fits 100 "$Bmax" "$@" && ! fits 100 $((Bmax + 1)) "$@"; then
        ok "$desc: max_batch $Bmax fits 48MiB at length 100 and $((Bmax + 1)) does not"
    else bad "$desc: max_batch $Bmax" "$(show)"; fi
}
check_budget "dense lstm" memory --model lstm --hidden 64 --input-size 32
check_budget "copy task (tokens, T+20 steps)" memory --model gru --hidden 64 --task copy

run "${M[@]}" --budget 1GiB
if [ "$rc" -eq 0 ] && grep -q 'longest length at batch 16' "$tmp/out" && grep -q 'trade-off' "$tmp/out"; then
    ok "--budget prints the longest length and the batch x length trade-off"
else bad "--budget table" "$(show)"; fi

run "${M[@]}" --budget 1000 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" max_length)" = 0 ] && ok "a 1000-byte budget fits nothing" \
    || bad "tiny budget" "$(show)"

for form in 1000000:1000000 512MiB:536870912 1.5GB:1500000000 8GiB:8589934592 64kB:64000 2KiB:2048; do
    run "${M[@]}" --budget "${form%%:*}" --json
    got=$(json_get "$tmp/out" budget_bytes)
    [ "$rc" -eq 0 ] && [ "$got" = "${form##*:}" ] && ok "--budget ${form%%:*} is $got bytes" \
        || bad "--budget ${form%%:*} gave '$got'" "$(show)"
done

run memory --model lstm --task adding --length 200 --batch 32 --json
[ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" steps)" = 200 ] && ok "--task adding --length 200: 200 steps" \
    || bad "--task adding" "$(show)"
run memory --help
[ "$rc" -eq 0 ] && grep -q -- '--budget' "$tmp/out" && ok "memory --help lists --budget" \
    || bad "memory --help" "$(show)"

# ------------------------------------------------------------- the commands' own checks
# train refuses a run the machine cannot hold with the library's figure (mnemo memory's
# total for the same model, steps and batch), not with a formula of its own; the held-out
# evaluation runs batches of min(batch, eval size), not of 128 or more.
R=(--model gru --task copy --length 2000 --hidden 65536 --layers 8 --batch 8)
run memory "${R[@]}" --json
total=$(json_get "$tmp/out" total_bytes)
want=$(awk -v b="${total:-0}" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); k = 1
    while (b >= 1024 && k < 5) { b /= 1024; k++ }
    if (k == 1) printf "%.0f %s", b, u[k]; else printf "%.1f %s", b, u[k] }')
run train "${R[@]}" --eval-size 1000
if [ "$rc" -eq 2 ] && [ -n "$total" ] && grep -q "training needs at least $want of memory" "$tmp/err"; then
    ok "train's memory check gives mnemo memory's figure ($want)"
else bad "train's memory check: expected \"needs at least $want\"" "$(show)"; fi
run train --model gru --task copy --length 1000000 --hidden 4096 --batch 65536
[ "$rc" -eq 2 ] && grep -q 'rows, more than' "$tmp/err" \
    && ok "train refuses T*B past what a pass holds with the library's reason" \
    || bad "train with T*B past INT_MAX" "$(show)"

# ------------------------------------------------------------- bad usage
expect_usage "unknown budget unit"         "${M[@]}" --budget 8XB
expect_usage "budget without a number"     "${M[@]}" --budget GiB
expect_usage "zero budget"                 "${M[@]}" --budget 0
expect_usage "zero batch"                  memory --model lstm --input-size 32 --batch 0 --length 100
expect_usage "missing --length"            memory --model lstm --input-size 32 --batch 16
expect_usage "missing --batch"             memory --model lstm --input-size 32 --length 100
expect_usage "neither --input-size nor --task" memory --model lstm --batch 16 --length 100
expect_usage "both --input-size and --task" memory --model lstm --input-size 2 --task adding --batch 16 --length 100
expect_usage "--output-size with a task"   memory --model lstm --task adding --output-size 3 --batch 16 --length 100
expect_usage "unknown task"                memory --model lstm --task nope --batch 16 --length 100
expect_usage "length the task rejects"     memory --model lstm --task adding --batch 16 --length 1
expect_usage "unknown model"               memory --model lstmx --input-size 32 --batch 16 --length 100
expect_usage "unknown mode"                "${M[@]}" --mode fast
run "${M[@]}" --budget 8XB
grep -q 'GiB' "$tmp/err" && grep -q '1000000' "$tmp/err" && ok "the budget error names the accepted forms" \
    || bad "budget error text" "$(show)"

cli_finish
