#!/bin/sh
# tests/fault/faults.sh — faults injected into a running daemon with libfiu
# (Debian's fiu-utils: fiu-run's POSIX preload, switched at run time with
# fiu-ctrl): ENOSPC and EIO on write and pwrite, EIO on fdatasync and fsync,
# ENOMEM on malloc, each at several probabilities so that the failing call
# falls at different steps of a commit (the log's writes, its sync, the
# checkpoint). While a fault is on, events are sent; then it is cleared.
#
# Checked: the daemon never crashes or hangs; a request that failed is
# answered with a JSON error that names the cause (not a 200; under ENOMEM
# libmicrohttpd may have no memory for an answer and close); the first
# request after the fault clears is stored (recovery); at the end every
# event answered 200 is in the store and `tokmeter verify` passes.
# (Whether an acknowledged event survives a power cut after such faults is
# tests/fault/powercut.sh's --faults run.) Last, tests/fault/nomem.c fails
# each allocation of an ingest in turn.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
W=$(mktemp -d /tmp/tmfault.XXXXXX)
trap '[ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$W"' EXIT
P=$(free_port); U="http://127.0.0.1:$P"
DB="$W/f.db"
: > "$W/acked"
n=0

fiu-run -x -f "$W/ctl" ./build/tokmeter --db "$DB" serve --listen "127.0.0.1:$P" --log-level warn \
    2>"$W/serve.log" &
pid=$!
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
check "daemon up under fiu-run" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")" 200

# send ID... : one request with these events (a JSON array, or one object);
# prints the status; appends the ids to acked on 200.
send() {
    body=
    for id in "$@"; do
        body="$body${body:+,}{\"id\":\"$id\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4\",\"user_id\":\"u1\",\"input_tokens\":100,\"output_tokens\":20}"
    done
    [ $# -gt 1 ] && body="[$body]"
    rm -f "$W/body"
    code=$(printf '%s' "$body" | curl -s -m 30 -o "$W/body" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @- "$U/v1/events")
    if [ "$code" = 200 ]; then for id in "$@"; do echo "$id" >> "$W/acked"; done; fi
    echo "$code"
}

# scenario POINT ERRNO PROBABILITY ERROR_TEXT
scenario() {
    point=$1 errno=$2 prob=$3 text=$4
    name="$point errno $errno p=$prob"
    fiu-ctrl -f "$W/ctl" -c "enable_random name=$point,probability=$prob,failinfo=$errno" "$pid"
    codes="" unclear=""
    for r in 1 2 3 4 5 6 7 8; do
        n=$((n + 1))
        if [ $((r % 2)) = 0 ]; then code=$(send "f$n"); else code=$(send "f$n-a" "f$n-b" "f$n-c"); fi
        codes="$codes $code"
        case $code in
        200) ;;
        500|503) grep -q "$text" "$W/body" || unclear="$unclear $(cat "$W/body")" ;;
        000) [ "$errno" = 12 ] || unclear="$unclear [no answer]" ;; # no memory for an answer
        *) unclear="$unclear [$code: $(cat "$W/body" 2>/dev/null)]" ;;
        esac
    done
    fiu-ctrl -f "$W/ctl" -c "disable name=$point" "$pid"
    check "$name: every answer a 200 or an error naming '$text'" eq "${unclear:-none}" none
    n=$((n + 1))
    code=$(send "f$n-after")
    check "$name: recovered once cleared (answers:$codes)" eq "$code" 200
    kill -0 "$pid" 2>/dev/null; check "$name: daemon alive" eq "$?" 0
}

for p in 1 0.5 0.2; do
    scenario posix/io/rw/pwrite 28 $p "disk full"
    scenario posix/io/rw/pwrite 5 $p "I/O error"
    scenario posix/io/rw/write 28 $p "disk full"
    scenario posix/io/rw/write 5 $p "I/O error"
    scenario posix/io/sync/fdatasync 5 $p "I/O error"
    scenario posix/io/sync/fsync 5 $p "I/O error"
done
for p in 0.02 0.005; do
    scenario libc/mm/malloc 12 $p "memory"
done

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check "daemon exits 0 on SIGTERM after the faults" eq "$rc" 0
[ "$rc" -eq 0 ] || tail -20 "$W/serve.log" >&2
./build/tokmeter --db "$DB" events --all --json > "$W/events.json" 2>"$W/events.err"
check "events readable after the faults" eq "$?" 0
missing=$(python3 -c 'import json,sys
have={e["id"] for e in json.load(open(sys.argv[1]))}
acked=[l.strip() for l in open(sys.argv[2]) if l.strip()]
print(len(acked), [a for a in acked if a not in have][:10])' "$W/events.json" "$W/acked")
check "every acknowledged event stored (acked, missing)" eq "${missing#* }" "[]"
echo "faults: ${missing%% *} events acknowledged"
./build/tokmeter --db "$DB" verify > "$W/verify" 2>&1
check "verify passes after the faults" eq "$?" 0

# ENOMEM at each allocation of an ingest in turn (tests/fault/nomem.c).
mkdir "$W/nomem"
out=$(LD_PRELOAD=/usr/lib/fiu/fiu_posix_preload.so ./build/tm_nomem "$W/nomem" 2>"$W/nomem.err"); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || head -20 "$W/nomem.err" >&2
check "ENOMEM at every allocation of an ingest: exit 0" eq "$rc" 0
check "ENOMEM at every allocation: no problem" has "$out" ", 0 problems"
finish
