# Shared by the CLI check scripts (tests/cli_*test.sh): the binary, a scratch folder,
# ok/bad counters, run/show/expect_* helpers and JSON checks. Source it after set -u;
# end the script with cli_finish.

bin=${1:-build/mnemo}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
cd "$(dirname "$0")/.." || exit 1
if [ ! -x "$bin" ]; then
    echo "FAIL - $bin is not an executable (build it with make)"
    echo "0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mnemo-cli-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

pass=0
fail=0
# skip DESCRIPTION: a check that cannot run here (a missing optional tool); the suite runner
# counts these lines and prints the total, so a skip is never silent.
skip() { echo "skipped - $1"; }
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() {
    fail=$((fail + 1)); echo "FAIL - $1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | head -n 12 | sed 's/^/    | /'; fi
}

have_python=0
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' >/dev/null 2>&1; then
    have_python=1
fi

# run ARGS...: runs the binary, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
rc=0
run() {
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}
err_lines() { wc -l <"$tmp/err" | tr -d ' '; }
show() { printf 'exit %s; stderr:\n%s\nstdout:\n%s' "$rc" "$(head -c 2000 "$tmp/err")" "$(head -c 1000 "$tmp/out")"; }

# expect_usage DESCRIPTION ARGS...: exit 2, exactly one stderr line "mnemo: ...", no stdout.
expect_usage() {
    local desc=$1 json_line=0; shift
    run "$@"
    # with --json, a refusal after the command line was read also ends stdout with one
    # JSON line holding the error
    case " $* " in *" --json "*)
        [ "$(wc -l <"$tmp/out")" -eq 1 ] && grep -q '^{.*"error":.*"exit_code":2' "$tmp/out" \
            && json_line=1 ;;
    esac
    if [ "$rc" -eq 2 ] && [ "$(err_lines)" -eq 1 ] && head -n 1 "$tmp/err" | grep -q '^mnemo: ' \
        && { [ ! -s "$tmp/out" ] || [ "$json_line" = 1 ]; }; then
        ok "$desc -> exit 2: $(cut -c1-110 "$tmp/err")"
    else
        bad "$desc (want exit 2, one 'mnemo: ' line on stderr, nothing on stdout)" "$(show)"
    fi
}

# expect_success DESCRIPTION ARGS...
expect_success() {
    local desc=$1; shift
    run "$@"
    if [ "$rc" -eq 0 ]; then ok "$desc"; else bad "$desc (want exit 0)" "$(show)"; fi
}

# json_check FILE KEYS...: the last line of FILE is one JSON object holding every key.
json_check() {
    local file=$1; shift
    local line
    line=$(tail -n 1 "$file")
    if [ "$have_python" = 1 ]; then
        printf '%s\n' "$line" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
assert isinstance(d, dict), "not an object"
missing = [k for k in sys.argv[1:] if k not in d]
assert not missing, "missing keys: %s" % missing
' "$@" 2>&1
        return $?
    fi
    case $line in "{"*"}") ;; *) echo "last line is not a JSON object: $line"; return 1 ;; esac
    # a value follows a colon: messages may still say "NaN/Inf" in words
    case $line in *:NaN*|*:-NaN*|*:nan*|*:-nan*|*:Infinity*|*:-Infinity*|*:inf*|*:-inf*)
        echo "non-JSON number in: $line"; return 1 ;; esac
    local k
    for k in "$@"; do
        case $line in *"\"$k\":"*) ;; *) echo "missing key $k in: $line"; return 1 ;; esac
    done
}

# json_get FILE KEY: the value of KEY on the last line of FILE (numbers, true/false, null).
json_get() { tail -n 1 "$1" | sed -n 's/.*"'"$2"'":\([^,}]*\).*/\1/p'; }

# cli_finish: the summary line the suite runner adds up; non-zero when a check failed.
cli_finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
