# tests/cli/lib.sh — what every end-to-end test script shares, sourced after
# it cd's to the repository root: the pass/fail tally and the checks.
#
#   check NAME CMD...   counts CMD's success as a pass, else prints FAIL: NAME
#   eq GOT WANT         equal strings (prints both when not)
#   has TEXT PART       TEXT contains PART
#   num GOT OP WANT     GOT is a number (decimals too) and GOT OP WANT; OP is
#                       < <= > >= (quote it)
#   greps FILE RE       FILE has a line matching the grep RE (prints its tail when not)
#   jget EXPR           evaluates the Python EXPR over the JSON on stdin (as d)
#   finish              prints "N passed, N failed"; fails if any failed
#   free_port           a free TCP port on 127.0.0.1
#   redis_start [ARG..] a redis-server on a free loopback port (on $RP when
#                       set), without persistence, its files in $W, with
#                       ARGs added: sets RP, writes $W/redis.pid, checks that
#                       it answers (with $REDISCLI_AUTH when it needs one)
#   st NAME             the store named NAME for --store: a SQLite file in $W,
#                       or with TM_TEST_PG set (tests/cli/on_pg.sh) the schema
#                       NAME of that PostgreSQL
#
# A sanitizer finding exits 99/98, never 1 or 2, so it cannot pass for an
# ordinary error.
export ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=exitcode=98:halt_on_error=1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { name=$1; shift; if "$@"; then ok; else bad "$name"; fi; }
eq() { [ "$1" = "$2" ] || { printf '  got:  %s\n  want: %s\n' "$1" "$2" >&2; return 1; }; }
has() { case "$1" in *"$2"*) return 0;; esac; printf '  in: %s\n  no: %s\n' "$1" "$2" >&2; return 1; }
num() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a !~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/) exit 1
        a += 0; b += 0; exit !(op == "<" ? a < b : op == "<=" ? a <= b : op == ">" ? a > b : op == ">=" ? a >= b : 0) }' ||
        { printf '  got:  %s\n  want: %s %s\n' "$1" "$2" "$3" >&2; return 1; }; }
greps() { grep -q -- "$2" "$1" 2>/dev/null ||
        { printf '  no line matching: %s\n  in %s, ending:\n' "$2" "$1" >&2; tail -5 "$1" 2>&1 | sed 's/^/    /' >&2; return 1; }; }
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_start() {
    RP=${RP:-$(free_port)}
    redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$W" "$@" >>"$W/redis.log" 2>&1 &
    echo $! > "$W/redis.pid"
    i=0; until redis-cli -p "$RP" ping >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
    check "redis-server started" eq "$(redis-cli -p "$RP" ping)" PONG
}
st() { if [ -n "${TM_TEST_PG:-}" ]; then echo "$TM_TEST_PG?schema=$1"; else echo "$W/$1.db"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
