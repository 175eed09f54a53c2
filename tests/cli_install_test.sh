#!/usr/bin/env bash
# make install into a staging folder (DESTDIR) and a temporary prefix; the installed files
# and links, the SONAME, the exported symbols (mn_ only), the man page; the examples built
# with pkg-config against the staged prefix and run; make uninstall removes exactly what
# install wrote. Also every example built against the build tree and run.
set -u
source "$(dirname "$0")/cli_lib.sh"
build=$(dirname "$bin")
root=$PWD

# the library's objects may carry the sanitizers (make sanitize): link the examples alike
san=""
if nm "$build/libmnemo.a" 2>/dev/null | grep -q '__asan_'; then san="-fsanitize=address,undefined"; fi

# an MPI build (make MPI=1, build/mpi) installs as one: make must compile it alike
mpi=()
if ldd "$bin" 2>/dev/null | grep -q libmpi; then mpi=(MPI=1); fi

stage=$tmp/stage
prefix=/opt/mnemo-test
if make -s -C "$root" ${mpi[@]+"${mpi[@]}"} BUILD="$build" DESTDIR="$stage" PREFIX="$prefix" install >"$tmp/inst" 2>&1; then
    ok "make install DESTDIR=... PREFIX=$prefix"
else
    bad "make install" "$(cat "$tmp/inst")"
fi
lib=$stage$prefix/lib
want="bin/mnemo lib/libmnemo.a lib/libmnemo.so lib/pkgconfig/mnemo.pc include/mnemo.h share/man/man1/mnemo.1"
missing=""
for f in $want; do [ -e "$stage$prefix/$f" ] || missing="$missing $f"; done
real=$(cd "$lib" && ls libmnemo.so.*.* 2>/dev/null)
if [ -z "$missing" ] && [ -n "$real" ]; then ok "installed files present ($real)"; else bad "missing:$missing"; fi

soname=$(readelf -d "$lib/$real" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
if [ -n "$soname" ] && [ "$(readlink "$lib/$soname")" = "$real" ] &&
   [ "$(readlink "$lib/libmnemo.so")" = "$soname" ]; then
    ok "SONAME $soname; libmnemo.so -> $soname -> $real"
else
    bad "SONAME and links" "soname '$soname'; $(ls -l "$lib")"
fi

if command -v nm >/dev/null 2>&1; then
    others=$(nm -D --defined-only "$lib/$real" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^mn_' || true)
    if [ -z "$others" ]; then ok "the shared library exports only mn_ symbols"
    else bad "symbols outside mn_ exported" "$others"; fi
fi

man=$stage$prefix/share/man/man1/mnemo.1
if head -n 1 "$man" | grep -q '^\.TH MNEMO 1' && grep -q '^\.SH COMMAND: TRAIN' "$man" &&
   grep -q -- '--hidden' "$man"; then
    ok "man page from the --help texts"
else
    bad "man page" "$(head -n 5 "$man")"
fi

# the examples against the staged prefix, through pkg-config (its sysroot variable maps
# the staged /opt/... paths into the staging folder)
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
    flags=$(pkg-config --cflags --libs mnemo 2>&1)
    # each example as its header comment builds it: the pkg-config flags, and -lm where it
    # calls the math library itself; run with a short argument, it must say its last line
    for ex in train_adding:'held-out MSE' arrays:'' stream:'whole sequence'; do
        name=${ex%%:*} want=${ex#*:}
        cmd=$(sed -n 's/^ \*   cc \([a-z_]*\.c\) \$(pkg-config --cflags --libs mnemo) \(.*\) *-o [a-z_]*.*/\2/p' \
              "examples/$name.c" | xargs)
        if cc -std=c11 -Wall -Wextra -Werror $san "examples/$name.c" $flags $cmd \
               -o "$tmp/$name" >"$tmp/cc" 2>&1; then
            ok "examples/$name.c builds as its header says (pkg-config's flags${cmd:+ and $cmd})"
        else
            bad "building examples/$name.c with pkg-config" "$(cat "$tmp/cc")"
            continue
        fi
        [ -n "$want" ] || continue
        if LD_LIBRARY_PATH=$lib "$tmp/$name" 40 >"$tmp/ex" 2>&1 && grep -q "$want" "$tmp/ex"; then
            ok "$name runs on the installed shared library: $(tail -n 1 "$tmp/ex")"
        else
            bad "$name against the installed library" "$(cat "$tmp/ex")"
        fi
    done
else
    skip "the pkg-config build of the examples (pkg-config is not installed; apt-get install pkgconf)"
fi

if make -s -C "$root" ${mpi[@]+"${mpi[@]}"} BUILD="$build" DESTDIR="$stage" PREFIX="$prefix" uninstall >"$tmp/un" 2>&1 &&
   [ -z "$(find "$stage" -type f -o -type l)" ]; then
    ok "make uninstall removes every installed file"
else
    bad "make uninstall left files" "$(find "$stage" -type f -o -type l; cat "$tmp/un")"
fi

# every example against the build tree (static library), run
for src in examples/*.c; do
    name=$(basename "$src" .c)
    if cc -std=c11 -Wall -Wextra -Werror $san -Iinclude "$src" "$build/libmnemo.a" -lm -fopenmp \
          -o "$tmp/$name" >"$tmp/cc" 2>&1; then
        case $name in
            arrays) args="$tmp/model.safetensors 60" ;;
            train_adding) args=40 ;;
            stream) args=40 ;;
            *) args="" ;;
        esac
        if (cd "$tmp" && "./$name" $args) >"$tmp/ex" 2>&1; then
            ok "examples/$name.c builds and runs: $(head -n 1 "$tmp/ex")"
        else
            bad "examples/$name.c run" "$(cat "$tmp/ex")"
        fi
    else
        bad "examples/$name.c does not build" "$(cat "$tmp/cc")"
    fi
done
cli_finish
