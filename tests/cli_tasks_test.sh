#!/usr/bin/env bash
# The long-range tasks from the command line: each trains for a few steps and reports its
# baseline, --json names the task, the help describes every task the library lists (and
# nothing else), an induction model evaluates at another length (and a learned position
# table too short for it is refused with the reason), and too short lengths are refused.
#   bash tests/cli_tasks_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

S=(--model lstm --hidden 8 --steps 5 --batch 8 --eval-size 32 --threads 1)

for spec in selective-copy:20 induction:24 listops:40 palindrome:12; do
    task=${spec%%:*} n=${spec##*:}
    run train --task "$task" --length "$n" "${S[@]}"
    if [ "$rc" -eq 0 ] && grep -q "task $task, length $n" "$tmp/out" \
        && grep -q '^  baseline ' "$tmp/out" && grep -q '^  accuracy ' "$tmp/out"; then
        ok "train --task $task --length $n: $(grep '^  baseline ' "$tmp/out" | cut -c1-90)"
    else bad "train --task $task --length $n" "$(show)"; fi
    run train --task "$task" --length "$n" "${S[@]}" --json
    if [ "$rc" -eq 0 ] && json_check "$tmp/out" task baseline_loss test_accuracy >/dev/null \
        && grep -q "\"task\":\"$task\"" "$tmp/out"; then
        ok "--json names task $task, baseline $(json_get "$tmp/out" baseline_loss)"
    else bad "train --task $task --json" "$(show)"; fi
done

# The help's task section holds one entry per listed task, in the library's order.
run train --help
listed=$(sed -n 's/^Tasks: \(.*\)\. Models:.*/\1/p' "$tmp/out" | head -n 1 | tr -d ,)
described=$(sed -n '/^Tasks (N: --length):/,/^$/s/^  \([a-z0-9-]\{1,\}\) .*/\1/p' "$tmp/out" \
            | tr '\n' ' ')
if [ "$rc" -eq 0 ] && [ -n "$listed" ] && [ "$(echo $listed)" = "$(echo $described)" ]; then
    ok "train --help describes each task: $(echo $described)"
else bad "train --help: tasks listed '$listed', described '$described'" "$(show)"; fi
for word in "Gu & Dao 2023" "Olsson et al. 2022" "Long Range Arena" "palindrome"; do
    grep -q "$word" "$tmp/out" && ok "train --help cites '$word'" \
        || bad "train --help should cite '$word'" "$(show)"
done
run eval --help
grep -q '^  listops ' "$tmp/out" && ok "eval --help describes the tasks too" \
    || bad "eval --help describes the tasks" "$(show)"

# induction: the rule does not depend on the length, so a model evaluates at another one.
run train --task induction --length 20 "${S[@]}" --save "$tmp/ind.safetensors"
run eval --load "$tmp/ind.safetensors" --length 60 --eval-size 32 --threads 1 --json
if [ "$rc" -eq 0 ] && [ "$(json_get "$tmp/out" length)" = 60 ] \
    && grep -q '"task":"induction"' "$tmp/out"; then
    ok "an lstm trained on induction at 20 evaluates at 60"
else bad "eval --load at another length" "$(show)"; fi

run train --task induction --length 20 --blocks learned-positions:max-len=20,attention \
    --hidden 8 --steps 2 --batch 8 --eval-size 16 --threads 1 --save "$tmp/lp.safetensors"
[ "$rc" -eq 0 ] || bad "train learned positions on induction" "$(show)"
expect_usage "eval past a learned position table" eval --load "$tmp/lp.safetensors" \
    --length 60 --eval-size 16 --threads 1
grep -q "longer than the table's 20 rows" "$tmp/err" && grep -q "max-len" "$tmp/err" \
    && ok "the refusal gives the table's size and the way out" \
    || bad "the refusal should say why" "$(show)"

expect_usage "selective-copy shorter than its 16 data tokens" train --task selective-copy \
    --length 15 "${S[@]}"
expect_usage "listops shorter than [OP a b ]" train --task listops --length 3 "${S[@]}"
expect_usage "palindrome of one symbol" train --task palindrome --length 1 "${S[@]}"
expect_usage "induction of two steps" train --task induction --length 2 "${S[@]}"

cli_finish
