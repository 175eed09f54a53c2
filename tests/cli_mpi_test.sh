#!/usr/bin/env bash
# Data-parallel training under mpirun (make MPI=1): two ranks train the model one process
# trains with the same global batch, over shared memory and over TCP on loopback (standing
# in for two machines); checkpoints written by ranks resume under mpirun and in one
# process; a batch that does not split, a rank that fails alone and a rank that dies end
# the job with a non-zero exit and a line naming the rank. Without mpirun or an MPI build
# every check is reported as skipped.
set -u
source "$(dirname "$0")/cli_lib.sh"

checks="the 2-rank runs (shared memory, TCP), resume, and failure checks"
if ! command -v mpirun >/dev/null 2>&1; then
    skip "$checks: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev, then make MPI=1 test)"
    cli_finish; exit
fi
if ! { ldd "$bin" 2>/dev/null | grep -q 'libmpi'; }; then
    skip "$checks: $bin was built without MPI (make MPI=1 builds build/mpi/mnemo; make MPI=1 test runs these)"
    cli_finish; exit
fi

# a sanitizer build: Open MPI keeps allocations it never frees, which would read as leaks
if nm "$bin" 2>/dev/null | grep -q '__asan_'; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
mpirun_args=(--oversubscribe)
[ "$(id -u)" = 0 ] && mpirun_args+=(--allow-run-as-root)
# containers often forbid the cross-memory attach Open MPI's shared memory uses by default
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# mpi NAME RANKS ARGS...: mpirun -np RANKS over the transport NAME (shm: the default, tcp:
# TCP on the loopback interface only); stdout in $tmp/out, stderr in $tmp/err, status in $rc.
mpi() {
    local how=$1 np=$2; shift 2
    local extra=()
    [ "$how" = tcp ] && extra=(--mca btl tcp,self --mca btl_tcp_if_include lo)
    timeout 300 mpirun "${mpirun_args[@]}" ${extra[@]+"${extra[@]}"} -np "$np" "$bin" "$@" \
        >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}

# The floats of a safetensors file's data (parameters and optimizer state, in the same
# order in any two checkpoints of one model and trainer), one per line.
st_floats() {
    local n
    n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    od -An -v -tf4 -w4 -j $((8 + n)) "$1"
}
st_data() { local n; n=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +$((9 + n)) "$1"; }
# The largest |a - b| / max(1, |a|) over two checkpoints' floats.
max_rel_diff() {
    paste <(st_floats "$1") <(st_floats "$2") | awk '
        NF != 2 { bad = 1 }
        { d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (m < 1) m = 1
          if (d / m > w) w = d / m }
        END { if (bad || NR == 0) print "mismatch"; else printf "%.3g\n", w + 0 }'
}
# The bound: the ranks sum their gradients in another order than one process does (each
# rank's GEMMs over its own rows, then the sum of the two), so weights differ by float32
# rounding that Adam carries along; after these 30 steps it measures ~1e-7..1e-6 of a
# weight. 1e-4 (relative, absolute below 1) leaves room for other kernels while a wrong
# share, a sequence counted twice or a wrong 1/items scaling move weights by 1e-3 and more.
bound=1e-4
within() { awk -v d="$1" -v b="$bound" 'BEGIN { exit !(d != "mismatch" && d + 0 <= b + 0) }'; }

# with OPT VALUE: the lstm command with OPT's value replaced, in the array $cmd
with() {
    cmd=("${lstm[@]}")
    local i
    for i in "${!cmd[@]}"; do [ "${cmd[$i]}" = "$1" ] && cmd[$((i + 1))]=$2; done
}

lstm=(train --task adding --length 20 --model lstm --hidden 16 --steps 30 --batch 8 --lr 5e-3
      --eval-size 40 --eval-every 10 --threads 1)

# one process, the reference (the MPI binary started without mpirun is one process)
run "${lstm[@]}" --save "$tmp/one.safetensors" --metrics "$tmp/one.jsonl" --json
if [ "$rc" -eq 0 ]; then ok "one process trains (reference)"; else bad "one-process reference" "$(show)"; fi
one_json=$(tail -n 1 "$tmp/out")

for how in shm tcp; do
    mpi $how 2 "${lstm[@]}" --save "$tmp/$how.safetensors" --metrics "$tmp/$how.jsonl" --json
    d=$(max_rel_diff "$tmp/one.safetensors" "$tmp/$how.safetensors")
    # not 0 either: ranks that each trained on the whole batch would match one process
    # bit for bit, while split sums round differently
    if [ "$rc" -eq 0 ] && within "$d" && [ "$d" != 0 ]; then
        ok "2 ranks over $how end within $bound of one process (max relative difference $d)"
    else
        bad "2 ranks over $how (exit $rc, max relative difference $d, bound $bound)" "$(show)"
    fi
    # rank 0 alone prints and writes: one summary, one JSON line, one metrics file's lines
    if [ "$(grep -c '^mnemo train:' "$tmp/out")" = 1 ] && [ "$(json_get "$tmp/out" ranks)" = 2 ] &&
       [ "$(grep -c '^{' "$tmp/out")" = 1 ] &&
       [ "$(wc -l <"$tmp/$how.jsonl")" = "$(wc -l <"$tmp/one.jsonl")" ]; then
        ok "over $how rank 0 alone prints (one summary, one JSON line with ranks 2) and writes --metrics"
    else
        bad "output of 2 ranks over $how" "$(show; echo; wc -l "$tmp/$how.jsonl" "$tmp/one.jsonl")"
    fi
done
# two ranks add two gradients, a+b, the same on either transport: the same bits
if cmp -s <(st_data "$tmp/shm.safetensors") <(st_data "$tmp/tcp.safetensors"); then
    ok "shared memory and TCP give the same weights, bit for bit"
else
    bad "shared memory and TCP runs differ"
fi

# Your own data (--data text:): each rank reads its share of every global batch of windows
# (the windows depend only on the seed and how many were drawn), so 2 ranks end where one
# process does, and the evaluation over the held-out bytes is reduced to the same loss.
awk 'BEGIN { for (i = 0; i < 400; i++) printf "the cat sat on the mat %d times; ", i % 7 }' >"$tmp/t.txt"
txt=(train --data "text:$tmp/t.txt" --length 16 --model gru --hidden 16 --steps 20 --batch 8
     --lr 5e-3 --eval-size 20 --threads 1)
run "${txt[@]}" --save "$tmp/txt1.safetensors" --json
bpc1=$(json_get "$tmp/out" bits_per_char)
mpi shm 2 "${txt[@]}" --save "$tmp/txt2.safetensors" --json
d=$(max_rel_diff "$tmp/txt1.safetensors" "$tmp/txt2.safetensors")
bpc2=$(json_get "$tmp/out" bits_per_char)
if [ "$rc" -eq 0 ] && within "$d" && [ -n "$bpc1" ] &&
   awk -v a="$bpc1" -v b="$bpc2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (a > 1 ? a : 1)) }'; then
    ok "--data text: on 2 ranks ends within $bound of one process ($d); bits per char $bpc2 vs $bpc1"
else
    bad "--data text: on 2 ranks (exit $rc, difference $d, bits per char $bpc2 vs $bpc1)" "$(show)"
fi

# A Transformer on tokens, cross-entropy at every step, evaluation batches split unevenly.
# With SGD: the attention's key bias has a zero gradient in exact arithmetic (a softmax
# does not change when one number is added to all of a query's scores), so Adam, which
# divides by sqrt(v), turns the rounding noise of its gradient into steps of +-lr that
# differ with the order of any sum: that weight would differ by ~lr per step between the
# runs while changing no output. SGD keeps every weight's difference at rounding size.
tf=(train --task copy --length 10 --model transformer --hidden 16 --layers 1 --heads 2
    --steps 12 --batch 6 --optimizer sgd --lr 0.1 --eval-size 10 --eval-every 100 --threads 1)
run "${tf[@]}" --save "$tmp/tf1.safetensors" --json
tf1=$(json_get "$tmp/out" test_loss)
mpi shm 3 "${tf[@]}" --save "$tmp/tf3.safetensors" --json
d=$(max_rel_diff "$tmp/tf1.safetensors" "$tmp/tf3.safetensors")
tf3=$(json_get "$tmp/out" test_loss)
if [ "$rc" -eq 0 ] && within "$d" &&
   awk -v a="$tf1" -v b="$tf3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (a > 1 ? a : 1)) }'; then
    ok "a Transformer on 3 ranks ends within $bound of one process ($d); test loss $tf3 vs $tf1"
else
    bad "Transformer on 3 ranks (exit $rc, difference $d, test loss $tf3 vs $tf1)" "$(show)"
fi

# a checkpoint written by ranks resumes under mpirun (the uninterrupted run, bit for bit)
# and in one process (within the bound of the one-process run)
with --steps 15
mpi shm 2 "${cmd[@]}" --save "$tmp/half.safetensors"
if [ "$rc" -eq 0 ]; then ok "2 ranks write a checkpoint at step 15"; else bad "checkpoint under mpirun" "$(show)"; fi
mpi shm 2 "${lstm[@]}" --resume "$tmp/half.safetensors" --save "$tmp/resumed2.safetensors"
if [ "$rc" -eq 0 ] && cmp -s <(st_data "$tmp/shm.safetensors") <(st_data "$tmp/resumed2.safetensors"); then
    ok "resumed under mpirun, it ends where the uninterrupted 2-rank run does, bit for bit"
else
    bad "resume under mpirun (exit $rc)" "$(show)"
fi
run "${lstm[@]}" --resume "$tmp/half.safetensors" --save "$tmp/resumed1.safetensors"
d=$(max_rel_diff "$tmp/one.safetensors" "$tmp/resumed1.safetensors")
if [ "$rc" -eq 0 ] && within "$d"; then
    ok "resumed in one process, it ends within $bound of the one-process run ($d)"
else
    bad "resume in one process (exit $rc, difference $d)" "$(show)"
fi

# the library from a program that owns MPI (examples/mpi/train_adding_mpi.c): 2 ranks end
# where examples/train_adding.c ends in one process
build=$(dirname "$bin")
san=""
if nm "$build/libmnemo.a" 2>/dev/null | grep -q '__asan_'; then san="-fsanitize=address,undefined"; fi
if ! command -v mpicc >/dev/null 2>&1; then
    skip "examples/mpi/train_adding_mpi.c: no mpicc (apt-get install libopenmpi-dev)"
elif mpicc -std=c11 -Wall -Wextra -Werror $san -Iinclude examples/mpi/train_adding_mpi.c \
         "$build/libmnemo.a" -lm -fopenmp -o "$tmp/ex_mpi" >"$tmp/cc" 2>&1 &&
     cc -std=c11 -Wall -Wextra -Werror $san -Iinclude examples/train_adding.c \
         "$build/libmnemo.a" -lm -fopenmp -o "$tmp/ex_one" >>"$tmp/cc" 2>&1; then
    timeout 300 mpirun "${mpirun_args[@]}" -np 2 "$tmp/ex_mpi" 40 >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    many=$(sed -n 's/.*held-out MSE \([0-9.]*\).*/\1/p' "$tmp/out")
    one=$(OMP_NUM_THREADS=1 "$tmp/ex_one" 40 | sed -n 's/.*held-out MSE \([0-9.]*\).*/\1/p')
    if [ "$rc" -eq 0 ] && [ "$(grep -c 'on 2 ranks' "$tmp/out")" = 1 ] && [ -n "$one" ] &&
       awk -v a="$many" -v b="$one" 'BEGIN { d = a - b; exit !(a != "" && d <= 2e-4 && d >= -2e-4) }'; then
        ok "examples/mpi/train_adding_mpi.c on 2 ranks: MSE $many (one process: $one)"
    else
        bad "examples/mpi/train_adding_mpi.c (exit $rc; MSE '$many', one process '$one')" "$(show)"
    fi
else
    bad "examples/mpi/train_adding_mpi.c does not build" "$(cat "$tmp/cc")"
fi

# failures: one line each, naming what to do or the rank
mnemo_lines() { grep -c '^mnemo: ' "$tmp/err"; }
with --batch 7
mpi shm 2 "${cmd[@]}"
if [ "$rc" -eq 2 ] && [ "$(mnemo_lines)" = 1 ] &&
   grep -q '^mnemo: --batch 7 does not split evenly over the 2 ranks' "$tmp/err"; then
    ok "--batch 7 on 2 ranks -> exit 2: $(grep '^mnemo: ' "$tmp/err" | cut -c1-90)"
else
    bad "--batch 7 on 2 ranks (want exit 2 and one line)" "$(show)"
fi
mpi shm 2 eval --load "$tmp/one.safetensors"
if [ "$rc" -eq 2 ] && [ "$(mnemo_lines)" = 1 ] && grep -q 'only train splits its work' "$tmp/err"; then
    ok "eval under mpirun -np 2 -> exit 2: one line"
else
    bad "eval under mpirun" "$(show)"
fi

# rank 1 alone cannot start (its checkpoint is missing) while rank 0 waits in the first
# step's sums: the job ends, naming rank 1 and why
with --steps 100000
long=("${cmd[@]}")
start=$(date +%s)
timeout 120 mpirun "${mpirun_args[@]}" -np 1 "$bin" "${long[@]}" : \
    -np 1 "$bin" "${long[@]}" --resume "$tmp/missing.safetensors" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
took=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
   grep -q "^mnemo: rank 1: .*missing.safetensors" "$tmp/err"; then
    ok "a rank that fails alone ends the job in ${took}s (exit $rc): $(grep '^mnemo: rank 1' "$tmp/err" | cut -c1-80)"
else
    bad "a rank failing alone (exit $rc after ${took}s)" "$(show)"
fi

# rank 1 is killed mid-run: mpirun ends the job, non-zero, naming the rank
( timeout 120 mpirun "${mpirun_args[@]}" -np 2 "$bin" "${long[@]}" --save "$tmp/killed.safetensors" \
      >"$tmp/out" 2>"$tmp/err" </dev/null; echo $? >"$tmp/killed_rc" ) &
job=$!
victim=""
for _ in $(seq 1 100); do
    for p in /proc/[0-9]*; do
        tr "\\0" "\\n" 2>/dev/null <"$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1' || continue
        grep -q "killed.safetensors" "$p/cmdline" 2>/dev/null || continue
        victim=${p#/proc/}
    done
    [ -n "$victim" ] && break
    sleep 0.1
done
sleep 1   # let it train a little
[ -n "$victim" ] && kill -9 "$victim"
wait "$job"
rc=$(cat "$tmp/killed_rc" 2>/dev/null || echo missing)
if [ -n "$victim" ] && [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qi 'rank 1' "$tmp/err"; then
    ok "rank 1 killed mid-run -> exit $rc: $(grep -i 'rank 1' "$tmp/err" | head -n 1 | cut -c1-90)"
else
    bad "killing rank 1 (pid '${victim}', exit $rc)" "$(show)"
fi

cli_finish
