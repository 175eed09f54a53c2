#!/usr/bin/env bash
# Writes the mnemo(1) man page to stdout from the binary's own --help texts, so the page
# can never drift from what the program says. Usage: tools/gen_man.sh build/mnemo > mnemo.1
set -euo pipefail
bin=${1:?usage: gen_man.sh PATH/TO/mnemo}

# roff: a backslash is \e; a line starting with . or ' would be read as a request
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

version=$("$bin" --version 2>/dev/null | head -n 1 | awk '{print $NF}')
commands=$("$bin" --help | awk '/^commands:/{on=1; next} on && /^$/{exit} on {print $1}' |
           grep -v '^help$')

cat <<HEAD
.TH MNEMO 1 "" "mnemo $version" "User Commands"
.SH NAME
mnemo \\- train sequence models and see how far back they learn
.SH SYNOPSIS
.B mnemo
.I COMMAND
[options]
.SH DESCRIPTION
.nf
HEAD
"$bin" --help | esc
echo ".fi"
for c in $commands; do
    echo ".SH COMMAND: ${c^^}"
    echo ".nf"
    "$bin" "$c" --help | esc
    echo ".fi"
done
cat <<'TAIL'
.SH FILES
Models and checkpoints are safetensors files; arrays are NumPy .npy files.
.SH SEE ALSO
The README and DESIGN.md of the mnemo sources; the library interface in mnemo.h
(pkg-config --cflags --libs mnemo).
TAIL
