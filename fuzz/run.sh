#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer harnesses with clang into build/fuzz/ and runs each for
# FUZZ_SECONDS (default 300) seconds, one after another, printing how many inputs each
# one executed. Never part of `make test`.
#
#   FUZZ_SECONDS=N    seconds per harness (libFuzzer's -max_total_time)
#   FUZZ_TARGETS=...  harnesses to run (default: safetensors npy args csv bpe fasta idx text)
#   FUZZ_CC=clang     the compiler (it must ship libFuzzer: -fsanitize=fuzzer)
#
# Each harness starts from its seeds in fuzz/corpus/<name>/ (read only) and keeps what it
# finds in build/fuzz/corpus/<name>/. A crash leaves its input in build/fuzz/artifacts/
# <name>/; copy it to tests/fuzz_regressions/<name>/ so the test suite replays it.
set -u
cd "$(dirname "$0")/.." || exit 1
secs=${FUZZ_SECONDS:-300}
targets=${FUZZ_TARGETS:-safetensors npy args csv bpe fasta idx text}
cc=${FUZZ_CC:-clang}
out=build/fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=all"

case $secs in ''|*[!0-9]*|0) echo "make fuzz: FUZZ_SECONDS must be a whole number of seconds >= 1, got \"$secs\""; exit 2 ;; esac
mkdir -p "$out" || exit 1
probe='#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }'
if ! printf '%s\n' "$probe" | "$cc" $san -fsanitize=fuzzer -x c - -o "$out/probe" >/dev/null 2>&1; then
    echo "make fuzz: needs $cc with libFuzzer (-fsanitize=fuzzer), which was not found; on Debian: apt-get install clang"
    exit 1
fi
rm -f "$out/probe"
# the library links zlib when the Makefile's probe finds it (idx: gzip files): so do the harnesses
zlib=$(printf '#include <zlib.h>\nint main(void){return zlibVersion()[0] == 0;}\n' |
       "$cc" -x c - -lz -o /dev/null 2>/dev/null && echo -lz)

# The library and the CLI's parsing code, instrumented for coverage (incremental).
cli_objs="$out/cli/args.o $out/cli/train_run.o $out/cli/train_loop.o $out/cli/train_record.o $out/cli/common.o $out/cli/progress.o $out/cli/signals.o $out/cli/families.o $out/cli/ranks.o"
make -s BUILD="$out" CC="$cc" OPENMP= \
    OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $san" \
    "$out/libmnemo.a" $cli_objs >"$out/build.log" 2>&1 || {
    cat "$out/build.log"; echo "make fuzz: building the instrumented library failed"; exit 1; }

flags="-std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude $(for d in src/*/; do printf -- "-I%s " "${d%/}"; done)-Icli -Wall -Wextra -O1 -g
       -fno-omit-frame-pointer -fsanitize=fuzzer $san"
failed=0
for t in $targets; do
    if [ ! -f "fuzz/fuzz_$t.c" ]; then echo "make fuzz: no harness fuzz/fuzz_$t.c"; failed=1; continue; fi
    extra=""
    [ "$t" = args ] && extra=$cli_objs
    # shellcheck disable=SC2086
    if ! "$cc" $flags "fuzz/fuzz_$t.c" $extra "$out/libmnemo.a" -lm $zlib -o "$out/fuzz_$t"; then
        echo "make fuzz: building fuzz_$t failed"; failed=1; continue
    fi
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    opts=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
          -artifact_prefix="$out/artifacts/$t/")
    [ -f "fuzz/$t.dict" ] && opts+=(-dict="fuzz/$t.dict")
    # The parser prints one line for every command line it rejects: send that to /dev/null.
    [ "$t" = args ] && opts+=(-close_fd_mask=2 -max_len=512)
    log="$out/fuzz_$t.log"
    echo "fuzz_$t: running for ${secs}s (log: $log)"
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$out/fuzz_$t" "${opts[@]}" "$out/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    corpus=$(find "$out/corpus/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$t: ${execs:-?} executions in ${took}s, no crash (corpus: $corpus inputs)"
    else
        failed=1
        echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions in ${took}s; the end of the log:"
        tail -n 40 "$log" | sed 's/^/    | /'
        echo "fuzz_$t: reproducer(s) in $out/artifacts/$t/; replay with $out/fuzz_$t FILE," \
             "then keep it in tests/fuzz_regressions/$t/"
    fi
done
exit "$failed"
