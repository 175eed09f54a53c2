#!/usr/bin/env bash
# The Python binding (python/mnemo, ctypes over libmnemo.so): tests/python/test_mnemo.py
# against this build's library and binary. Skipped, with a "skipped - ..." line the suite
# counts, where no python3 has NumPy or where the library carries the sanitizers (a
# ctypes load of an ASan library needs libasan preloaded into the interpreter).
set -u
source "$(dirname "$0")/cli_lib.sh"
build=$(dirname "$bin")

py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then
        py=$p
        break
    fi
done

if [ ! -f "$build/libmnemo.so" ]; then
    bad "python binding: $build/libmnemo.so is missing (build it with make)"
elif nm -D "$build/libmnemo.so" 2>/dev/null | grep -q '__asan'; then
    skip "python binding: $build/libmnemo.so is built with AddressSanitizer, which ctypes cannot load into python without LD_PRELOAD of libasan; make test runs it"
elif [ -z "$py" ]; then
    skip "python binding: no python3 with NumPy here (apt-get install python3-numpy)"
else
    MNEMO_LIBRARY=$build MNEMO_BIN=$bin "$py" tests/python/test_mnemo.py >"$tmp/py" 2>&1
    prc=$?
    grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/py"
    pass=$((pass + $(grep -c '^ok - ' "$tmp/py")))
    fail=$((fail + $(grep -c '^FAIL - ' "$tmp/py")))
    if [ "$prc" -ne 0 ] && ! grep -q '^FAIL - ' "$tmp/py"; then
        bad "python binding: $py tests/python/test_mnemo.py exited with $prc (its output is above)"
    fi
fi
cli_finish
