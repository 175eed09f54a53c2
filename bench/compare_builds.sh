#!/usr/bin/env bash
# Two mnemo builds side by side in one run: each shape is timed by both binaries in turn,
# ROUNDS times, and the median ms per step of each is printed (a refactor must leave the
# speed where it was; alternating rounds keep a busy machine from favouring either one).
#   bash bench/compare_builds.sh OLD/mnemo NEW/mnemo [ROUNDS] [THREADS]
set -eu
old=$1 new=$2 rounds=${3:-5} threads=${4:-2}
shapes=("lstm 200 32 256 train" "gru 200 32 256 train" "lstm 1000 1 128 train"
        "rnn 1000 32 128 train" "lstm 200 32 256 infer")
ms() {   # binary model T B H mode -> ms per step
    "$1" bench --model "$2" --length "$3" --batch "$4" --input-size "$5" --hidden "$5" \
        --mode "$6" --iterations 5 --warmup 2 --threads "$threads" --json | tail -n 1 |
        sed -n 's/.*"ms_per_step":\([^,}]*\).*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-26s %12s %12s %8s\n' "shape (T x B x I=H)" "old ms" "new ms" "new/old"
for s in "${shapes[@]}"; do
    set -- $s
    o=() n=()
    for ((r = 0; r < rounds; r++)); do
        o+=("$(ms "$old" "$@")"); n+=("$(ms "$new" "$@")")
    done
    mo=$(printf '%s\n' "${o[@]}" | median); mn=$(printf '%s\n' "${n[@]}" | median)
    printf '%-26s %12.2f %12.2f %8.3f\n' "$1 $2x$3x$4 $5" "$mo" "$mn" "$(awk -v a="$mn" -v b="$mo" 'BEGIN {print a / b}')"
done
