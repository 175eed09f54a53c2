#!/usr/bin/env bash
# The main job (`make run`): an LSTM and a tanh RNN learn the adding problem at T=100, side by
# side (two processes, one thread each), then a table compares their test MSE with the
# input-blind baseline 1/6. Finishes in under 2 minutes on 2 cores.
#   bash tools/run_main_job.sh [build/mnemo]
# Environment overrides (for experiments): STEPS, HIDDEN, BATCH, LR, LENGTH, SEED.
#
# Settings: both models get the same budget (hidden 64, batch 32, Adam at lr 5e-3, global-norm
# clipping at the library's default, 2000 steps). The LSTM's gate biases use chrono init
# (b_f ~ log U[1, T-1], b_i = -b_f), the initialization meant for dependencies of up to T steps:
# measured on seeds 1-5 it leaves the 1/6 plateau by step 750-1250 and ends near MSE 3e-4
# (ratio ~0.002), where the default init needs 2000-3500 steps (too long for a 2-minute job).
# The tanh RNN has no gates to initialize; it stays at the baseline at any of these budgets.
set -u

bin=${1:-build/mnemo}
if [ ! -x "$bin" ]; then
    echo "run_main_job: $bin is not an executable; build it with make" >&2
    exit 2
fi

T=${LENGTH:-100}
steps=${STEPS:-2000}
hidden=${HIDDEN:-64}
batch=${BATCH:-32}
seed=${SEED:-1}
lr=${LR:-0.005}
every=$((steps / 5 > 0 ? steps / 5 : 1))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mnemo-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "Adding problem, T=$T: two numbers marked among $T must be summed at the end."
echo "Training an LSTM (chrono init) and a tanh RNN side by side: hidden $hidden, batch $batch,"
echo "$steps steps of Adam at lr $lr, 1 thread each."
echo

# train NAME MODEL [OPTIONS]: runs in the background; progress lines are prefixed with the name,
# the JSON summary goes to $tmp/NAME.out, the exit status to $tmp/NAME.rc.
train() {
    local name=$1 model=$2
    shift 2
    (
        "$bin" train --task adding --length "$T" --model "$model" --hidden "$hidden" \
            --batch "$batch" --steps "$steps" --lr "$lr" --seed "$seed" --threads 1 --eval-every "$every" \
            --log-every "$every" --json "$@" 2>&1 >"$tmp/$name.out" |
            while IFS= read -r line; do printf '  %-5s %s\n' "$name" "$line"; done
        echo "${PIPESTATUS[0]}" >"$tmp/$name.rc"
    ) &
}

start=$(date +%s)
train lstm lstm --chrono
train rnn rnn
wait
elapsed=$(($(date +%s) - start))

failed=0
for name in lstm rnn; do
    rc=$(cat "$tmp/$name.rc" 2>/dev/null || echo "?")
    if [ "$rc" != 0 ]; then
        echo "run_main_job: the $name run failed (exit $rc)" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1

# The value of a key on the last line of a JSON summary.
get() { tail -n 1 "$tmp/$1.out" | sed -n 's/.*"'"$2"'":\([^,}]*\).*/\1/p'; }

echo
printf '%-6s %12s %12s %10s %9s  %s\n' model "test MSE" "baseline" ratio seconds verdict
solved_lstm=0
solved_rnn=0
for name in lstm rnn; do
    mse=$(get "$name" test_loss)
    base=$(get "$name" baseline_loss)
    secs=$(get "$name" seconds)
    row=$(awk -v n="$name" -v m="$mse" -v b="$base" -v s="$secs" 'BEGIN {
        if (m == "" || m == "null" || b == "" || b == "null") { print "?"; exit }
        r = m / b
        printf "%-6s %12.6g %12.6f %10.3g %9.1f  %s", n, m, b, r, s, (m < b / 10) ? "solved" : "not solved"
    }')
    if [ "$row" = "?" ]; then
        echo "run_main_job: the $name run printed no test loss" >&2
        exit 1
    fi
    echo "$row"
    case $row in *"not solved") ;; *solved) eval "solved_$name=1" ;; esac
done
echo

if [ "$solved_lstm" = 1 ] && [ "$solved_rnn" = 0 ]; then
    echo "Lesson: the LSTM's gated, additive cell state (its forget gates initialized to remember about T steps) carries the marked values across $T steps, while the tanh RNN's gradient is multiplied by W_hh and tanh' at every step and vanishes, so it never gets far below the input-blind baseline."
elif [ "$solved_lstm" = 1 ] && [ "$solved_rnn" = 1 ]; then
    echo "Lesson: at T=$T both models solved it this time; the vanilla RNN's vanishing gradient bites harder as T grows (try LENGTH=200)."
elif [ "$solved_lstm" = 0 ] && [ "$solved_rnn" = 0 ]; then
    echo "Lesson: neither model beat the baseline by 10x in $steps steps; long dependencies need more training (try STEPS=$((steps * 2)))."
else
    echo "Lesson: unexpectedly the tanh RNN solved it and the LSTM did not; try another SEED."
fi
echo "(wall time ${elapsed}s)"
