#!/bin/sh
# tests/cli/limits.sh — large requests at every internal boundary.
#
# The writer takes events in chunks of 4,096 and the daemon allows 10,000
# events per request. A JSON array or NDJSON body of 1, 4,095, 4,096, 4,097,
# 10,000 and 10,001 events goes through the CLI and the daemon (both the
# ASan+UBSan build); each accepted count is checked in the store, and the one
# over the limit must change nothing. Ids vary in length so a read of freed
# memory shows as wrong data, not only under the sanitizer.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmlim.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
P=$(free_port); U="http://127.0.0.1:$P"

gen() { # gen N FORMAT PREFIX: N events as a JSON array or NDJSON
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
n, fmt, pre = int(sys.argv[1]), sys.argv[2], sys.argv[3]
evs = [{"id": f"{pre}-{i}" + "x" * (i % 37), "provider": "p", "model": "m",
        "user_id": f"u{i % 5}", "input_tokens": i} for i in range(n)]
if fmt == "array":
    print(json.dumps(evs))
else:
    print("\n".join(json.dumps(e) for e in evs))
PY
}
stored() { # stored DB PREFIX: count, distinct ids and token sum with that prefix
    sqlite3 "$1" "SELECT COUNT(*), COUNT(DISTINCT id), COALESCE(SUM(input_tokens),0) FROM events WHERE id LIKE '$2-%'"
}
want() { echo "$1|$1|$(($1 * ($1 - 1) / 2))"; }

# --- the CLI ---------------------------------------------------------------
DB="$W/cli.db"
for fmt in array ndjson; do
    for n in 1 4095 4096 4097 10000 10001; do
        gen $n $fmt "c$fmt$n" > "$W/in"
        out=$($TMSAN --db "$DB" ingest --json "$W/in" 2>"$W/err"); rc=$?
        check "cli $fmt $n: exit" eq "$rc" 0
        check "cli $fmt $n: answer" eq "$out" "{\"accepted\": $n, \"duplicates\": 0, \"rejected\": []}"
        check "cli $fmt $n: stored" eq "$(stored "$DB" "c$fmt$n")" "$(want $n)"
        out=$($TMSAN --db "$DB" ingest --json "$W/in" 2>>"$W/err"); rc=$?
        check "cli $fmt $n: again, all duplicates" eq "$out/$rc" "{\"accepted\": 0, \"duplicates\": $n, \"rejected\": []}/0"
    done
done
$TMSAN --db "$DB" verify >/dev/null 2>&1; check "cli store verifies" eq "$?" 0

# --- timestamps at both ends of the range --------------------------------------
# The rollups' hour index was dense from the first event's hour to the last:
# one event in 1970 and one in 9999 made any report allocate 4.4 GB (found by
# fuzz/http). Under a 1 GB address-space cap the release build must answer.
DB="$W/span.db"
printf '[{"id":"s1","provider":"p","model":"m","timestamp":"1970-01-01T00:00:00Z"},{"id":"s2","provider":"p","model":"m","timestamp":"9999-12-31T23:00:00Z"}]' > "$W/span.json"
./build/tokmeter --db "$DB" ingest "$W/span.json" >/dev/null 2>&1; check "span: 2 events stored" eq "$?" 0
out=$( (ulimit -v 1000000; ./build/tokmeter --db "$DB" report --from 1970-01-01 --to 9999-12-31T23:59:59Z --interval hour --csv) 2>&1)
check "span: hourly report under 1 GB exits 0" eq "$?" 0
check "span: both hours reported" eq "$(echo "$out" | grep -c '^19700101\|^1970-01-01T00\|^9999-12-31T23')" 2

# --- the daemon --------------------------------------------------------------
DB="$W/http.db"
$TMSAN --db "$DB" serve --listen "127.0.0.1:$P" 2>"$W/serve.log" &
echo $! > "$W/serve.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
for fmt in array ndjson; do
    ct=application/json; [ $fmt = ndjson ] && ct=application/x-ndjson
    for n in 1 4095 4096 4097 10000 10001; do
        gen $n $fmt "h$fmt$n" > "$W/in"
        code=$(curl -s -o "$W/body" -w '%{http_code}' -H "Content-Type: $ct" --data-binary @"$W/in" "$U/v1/events")
        if [ $n -le 10000 ]; then
            check "http $fmt $n: 200" eq "$code" 200
            check "http $fmt $n: answer" eq "$(cat "$W/body")" "{\"accepted\":$n,\"duplicates\":0,\"rejected\":[]}"
            check "http $fmt $n: stored" eq "$(stored "$DB" "h$fmt$n")" "$(want $n)"
        else
            check "http $fmt $n: 413" eq "$code" 413
            check "http $fmt $n: names the limit" has "$(cat "$W/body")" "more than the limit of 10000"
            check "http $fmt $n: nothing stored" eq "$(stored "$DB" "h$fmt$n")" "0|0|0"
        fi
    done
done
kill -0 "$(cat "$W/serve.pid")" 2>/dev/null; check "daemon alive after large bodies" eq "$?" 0
kill -TERM "$(cat "$W/serve.pid")"; wait "$(cat "$W/serve.pid")"; rc=$?; rm -f "$W/serve.pid"
check "daemon exits 0 (no sanitizer finding)" eq "$rc" 0
[ "$rc" -eq 0 ] || tail -20 "$W/serve.log" >&2
finish
