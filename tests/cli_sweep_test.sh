#!/usr/bin/env bash
# mnemo sweep: every model at every length with one budget, one table, JSON and a plot;
# each run is what `mnemo train` gives with the same options; options checked up front.
#   bash tests/cli_sweep_test.sh [build/mnemo]
set -u

source "$(dirname "$0")/cli_lib.sh"

A=(--task adding --steps 30 --batch 16 --hidden 8 --eval-size 64 --threads 1)

run sweep "${A[@]}" --models rnn,lstm --lengths 10,20 --plot "$tmp/s.svg" --json
rows=$(grep -cE '^  (rnn|lstm) +(10|20) ' "$tmp/out")
if [ "$rc" -eq 0 ] && [ "$rows" -eq 4 ] && json_check "$tmp/out" runs models lengths >/dev/null \
    && [ "$(tail -n 1 "$tmp/out" | grep -o '"test_loss":' | wc -l)" -eq 4 ] \
    && grep -q '<svg' "$tmp/s.svg" && [ "$(grep -c '<circle' "$tmp/s.svg")" -ge 1 ] \
    && grep -q '>lstm</text>' "$tmp/s.svg"; then
    ok "sweep of 2 models x 2 lengths: 4 table rows, 4 JSON runs, a plot"
else bad "sweep of 2 models x 2 lengths" "$(show)"; fi
sweep_loss=$(tail -n 1 "$tmp/out" | sed -n 's/.*{"model":"lstm","length":20,[^}]*"test_loss":\([^,]*\).*/\1/p')

# the same run through train gives the same number
run train "${A[@]}" --model lstm --length 20 --json
if [ "$rc" -eq 0 ] && [ -n "$sweep_loss" ] && [ "$(json_get "$tmp/out" test_loss)" = "$sweep_loss" ]; then
    ok "sweep's lstm at 20 equals mnemo train's run: test loss $sweep_loss"
else bad "sweep's lstm at 20 ($sweep_loss) differs from train's" "$(show)"; fi

# a family option reaches only its family
run sweep "${A[@]}" --models lstm,transformer --lengths 10 --heads 2 --json
if [ "$rc" -eq 0 ] && grep -q '^  transformer ' "$tmp/out" && grep -q '^  lstm ' "$tmp/out"; then
    ok "--heads reaches the transformer and not the lstm"
else bad "--heads in a mixed sweep" "$(show)"; fi

# a run that cannot start is marked, the others run, the exit code is that run's
run sweep "${A[@]}" --models lstm --lengths 10,40 --tbptt 20 --json
if [ "$rc" -eq 2 ] && grep -q '^  lstm  *10   failed: .*tbptt' "$tmp/out" \
    && grep -qE '^  lstm +40 ' "$tmp/out" && tail -n 1 "$tmp/out" | grep -q '"exit_code":2'; then
    ok "a run refused at length 10 is marked failed; length 40 still trains; exit 2"
else bad "a failing run inside a sweep" "$(show)"; fi

expect_usage "no --models" sweep "${A[@]}" --lengths 10
expect_usage "no --lengths" sweep "${A[@]}" --models lstm
expect_usage "lengths not increasing" sweep "${A[@]}" --models lstm --lengths 20,10
expect_usage "a length that is no number" sweep "${A[@]}" --models lstm --lengths 10,x
expect_usage "an empty model name" sweep "${A[@]}" --models lstm,,rnn --lengths 10
expect_usage "a model twice" sweep "${A[@]}" --models lstm,lstm --lengths 10
expect_usage "an unknown model, before anything trains" sweep "${A[@]}" --models lstm,nope --lengths 10
expect_usage "--model instead of --models" sweep "${A[@]}" --model lstm --lengths 10
expect_usage "--heads with no transformer" sweep "${A[@]}" --models lstm,gru --lengths 10 --heads 2
expect_usage "--plot into a missing folder" sweep "${A[@]}" --models lstm --lengths 10 --plot "$tmp/no/s.svg"

cli_finish
