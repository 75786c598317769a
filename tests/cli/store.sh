#!/bin/sh
# tests/cli/store.sh — the PostgreSQL store end to end, on a real
# PostgreSQL 15 started on loopback (scripts/pg.sh): --store and
# TOKMETER_STORE, migrate, `copy` SQLite → PostgreSQL → SQLite with equal
# report totals, keys, users and alerts, `retention --keep` on both
# backends, one event id sent by two processes at once stored once, and
# three daemons on one PostgreSQL, one SIGKILLed mid-load: every
# acknowledged event stored exactly once, every daemon's queries fresh.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
W=$(mktemp -d /tmp/tmstore.XXXXXX)
PG=$(mktemp -d /tmp/tmstore-pg.XXXXXX) # its own directory: the server runs as postgres
trap 'kill -KILL $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null; sh scripts/pg.sh stop "$PG"; rm -rf "$W"' EXIT
URL=$(sh scripts/pg.sh start "$PG") || { echo "store.sh: PostgreSQL did not start" >&2; exit 1; }
unset TOKMETER_DB TOKMETER_STORE
S1="$URL?schema=s1"

# --- events over 30 months, with users, latencies and costs --------------
python3 - "$W/ev.ndjson" <<'PY'
import sys, datetime
now = datetime.datetime.now(datetime.timezone.utc)
start = datetime.datetime(now.year - 3, now.month, 15, 12, tzinfo=datetime.timezone.utc)
provs = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini")]
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        t = start + datetime.timedelta(hours=9 * i)
        if t > now:
            break
        p, m = provs[i % 3]
        lat = ',"latency_ms":%d.%d' % (i % 900, i % 10) if i % 4 else ""
        cost = ',"cost_usd":"0.%06d"' % (i * 7 % 999999) if i % 11 == 0 else ""
        f.write('{"id":"c-%d","timestamp":"%s","provider":"%s","model":"%s","user_id":"u%d","input_tokens":%d,'
                '"output_tokens":%d%s%s}\n' % (i, t.strftime("%Y-%m-%dT%H:%M:%SZ"), p, m, i % 5,
                                               i * 13 % 5000, i % 700, lat, cost))
PY
N=$(wc -l < "$W/ev.ndjson")
A="sqlite:$W/a.db"
out=$($TM --store "$A" ingest --json "$W/ev.ndjson"); rc=$?
check "ingest into SQLite" eq "$out/$rc" "{\"accepted\": $N, \"duplicates\": 0, \"rejected\": []}/0"
cat > "$W/cfg.json" <<'JSON'
{"tiers": {"basic": {"period": "month", "limits": {"requests": 10}}}, "default_tier": "basic",
 "alerts": {"rules": [{"name": "any-cost", "metric": "cost_usd", "window": "day", "op": ">", "threshold": "0"}]}}
JSON
$TM --store "$A" --config "$W/cfg.json" users set-tier u1 basic --limits '{"requests": 7}' >/dev/null
check "users set-tier" eq "$?" 0
$TM --store "$A" keys create --scope read --user u2 --name r2 >/dev/null; check "keys create" eq "$?" 0
$TM --store "$A" keys create --scope admin --name adm >/dev/null
kid=$($TM --store "$A" keys list --json | head -1 | jget 'd["id"]')
$TM --store "$A" keys revoke "$kid" >/dev/null; check "keys revoke" eq "$?" 0
last=$(tail -1 "$W/ev.ndjson" | jget 'd["timestamp"]')
$TM --store "$A" --config "$W/cfg.json" alerts check --no-deliver --at "$last" >/dev/null 2>&1
check "alerts check" eq "$?" 0

# --- migrate, and bad stores ---------------------------------------------
out=$($TM --store "$S1" migrate); rc=$?
check "migrate a new store: created" eq "$out/$rc" "store $S1: created/0"
out=$($TM --store "$S1" migrate); rc=$?
check "migrate twice: up to date" eq "$out/$rc" "store $S1: schema up to date/0"
out=$($TM --store "$S1" migrate --json); rc=$?
check "migrate --json" eq "$out/$rc" "{\"store\": \"$S1\", \"created\": false}/0"
out=$($TM --db "$W/new-mig.db" migrate --json); rc=$?
check "migrate --json of a new SQLite store" eq "$out/$rc" "{\"store\": \"$W/new-mig.db\", \"created\": true}/0"
# A password in the URL is never shown: not by migrate, verify, a failed
# open or the daemon's log (the server's trust authentication ignores it).
PW=$(echo "$URL?schema=s1" | sed 's#://postgres@#://postgres:s3cret@#')
PWSHOWN=$(echo "$PW" | sed 's#:s3cret@#:***@#')
out=$($TM --store "$PW" migrate); rc=$?
check "migrate: the password as ***" eq "$out/$rc" "store $PWSHOWN: schema up to date/0"
out=$($TM --store "$PW&password=s3cret" verify 2>&1); rc=$?
check "verify: neither password shown" eq "$(echo "$out" | tail -1)/$rc" "store $PWSHOWN&password=***: 0 events, all checks passed/0"
out=$($TM --store "$(echo "$PW" | sed 's#@127.0.0.1:[0-9]*/#@127.0.0.1:1/#')" report 2>&1)
check "a failed open: the password as ***" has "$out" "cannot open store postgres://postgres:***@127.0.0.1:1/"
$TM --store "$PW" serve --listen 127.0.0.1:0 2>"$W/pw.log" & echo $! > "$W/pw.pid"
i=0; until grep -q 'tokmeter serving' "$W/pw.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM "$(cat "$W/pw.pid")"; wait "$(cat "$W/pw.pid")"; rm -f "$W/pw.pid"
check "serve: the store logged as ***" has "$(cat "$W/pw.log")" "store=\"$PWSHOWN\""
check "serve: no password in its log" eq "$(grep -c s3cret "$W/pw.log")" 0
# The config file's "store" (a URL) or "db" (a path) is the daemon's store
# (it was emptied on the way, and the daemon ran on a temporary store).
for st in "$URL?schema=cfgstore" "$W/cfgdb.db"; do
    case $st in /*) key=db ;; *) key=store ;; esac
    printf '{"%s": "%s"}\n' "$key" "$st" > "$W/storecfg.json"
    $TM --config "$W/storecfg.json" serve --listen 127.0.0.1:0 2>"$W/sc.log" & echo $! > "$W/sc.pid"
    i=0; until grep -q 'tokmeter serving' "$W/sc.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
    port=$(sed -n 's/.* port=\([0-9]*\) .*/\1/p' "$W/sc.log")
    curl -s "http://127.0.0.1:$port/v1/events" -d '{"id": "cfg-1", "provider": "openai", "input_tokens": 5}' >/dev/null
    kill -TERM "$(cat "$W/sc.pid")"; wait "$(cat "$W/sc.pid")"; rm -f "$W/sc.pid"
    check "config $key: the daemon logs its store" has "$(cat "$W/sc.log")" "$st"
    check "config $key: the event is in $st" eq "$($TM --store "$st" events --json --all | grep -c '"cfg-1"')" 1
    check "config $key: other commands read it too" eq "$(TOKMETER_STORE= TOKMETER_DB="$W/not-this.db" $TM --config "$W/storecfg.json" events --json --all | grep -c '"cfg-1"')" 1
done
check "the environment's store was not used" eq "$(ls "$W/not-this.db" 2>/dev/null)" ""
out=$($TM --store sqlite: report 2>&1); rc=$?
check "an empty store path refused" eq "$out/$rc" "tokmeter report: cannot open store sqlite:: store: the path is empty/1"
for i in 1 2 3 4; do $TM --store "$URL?schema=race" migrate >/dev/null 2>"$W/m$i.err" & eval "m$i=\$!"; done
rcs=""; for i in 1 2 3 4; do eval "wait \$m$i"; rcs="$rcs$?"; done
check "four processes migrating a new schema together" eq "$rcs/$(cat "$W"/m?.err)" "0000/"
out=$($TM --store "$URL?schema=Bad-Name" migrate 2>&1); rc=$?
check "bad schema name refused" eq "$rc" 1
check "bad schema name message" has "$out" "schema must be"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$($TM --store "postgres://postgres@127.0.0.1:$port/postgres" report 2>&1); rc=$?
check "unreachable server: exit 1" eq "$rc" 1
check "unreachable server: says connect" has "$out" "connect"

# --- copy SQLite → PostgreSQL → SQLite -----------------------------------
rep() { $TM --store "$1" report --json --from 2000-01-01 --to 2100-01-01 --group-by provider,model,user_id --tz UTC; }
keys() { $TM --store "$1" keys list --json; }
alerts() { $TM --store "$1" alerts list --json --limit 1000; }
out=$($TM --store "$S1" copy --from "$A" --to "$URL?schema=s2" --json); rc=$?
nalerts=$(alerts "$A" | wc -l)
check "copy to PostgreSQL" eq "$out/$rc" "{\"events\":$N,\"keys\":2,\"users\":1,\"alerts\":$nalerts}/0"
check "some alerts to copy" test "$nalerts" -gt 0
P="$URL?schema=s2"
check "report equal on PostgreSQL" eq "$(rep "$P")" "$(rep "$A")"
check "keys equal on PostgreSQL" eq "$(keys "$P")" "$(keys "$A")"
check "alerts equal on PostgreSQL" eq "$(alerts "$P")" "$(alerts "$A")"
$TM --store "$P" verify >/dev/null; check "verify PostgreSQL" eq "$?" 0
out=$(TOKMETER_STORE="$P" $TM events --json --all | grep -c '"id"')
check "TOKMETER_STORE: every event listed" eq "$out" "$N"
out=$($TM copy --from "$P" --to "sqlite:$W/b.db" --json); rc=$?
check "copy back to SQLite" eq "$out/$rc" "{\"events\":$N,\"keys\":2,\"users\":1,\"alerts\":$nalerts}/0"
B="sqlite:$W/b.db"
check "report equal after the round trip" eq "$(rep "$B")" "$(rep "$A")"
check "keys equal after the round trip" eq "$(keys "$B")" "$(keys "$A")"
check "alerts equal after the round trip" eq "$(alerts "$B")" "$(alerts "$A")"
out=$(sqlite3 "$W/a.db" "SELECT id, tier, overrides, updated FROM users")
check "users equal after the round trip" eq "$(sqlite3 "$W/b.db" "SELECT id, tier, overrides, updated FROM users")" "$out"
$TM --store "$B" verify >/dev/null; check "verify the copy" eq "$?" 0
out=$($TM copy --from "$A" --to "$P" 2>&1); rc=$?
check "copy into a non-empty store refused" eq "$rc" 64
check "copy refusal says why" has "$out" "not empty"
check "refused copy changed nothing" eq "$(rep "$P")" "$(rep "$A")"
out=$($TM copy --from "$A" 2>&1); check "copy without --to" eq "$?" 64
# A mistyped --from is not copied as an empty store: a missing SQLite file is
# refused before anything is created, an empty store (a new schema) before
# the destination is opened; a store holding one key alone is copied.
out=$($TM copy --from "$W/typo.db" --to "$W/c.db" 2>&1); rc=$?
check "copy from a missing file refused" eq "$rc" 64
check "copy from a missing file says so" has "$out" "the source $W/typo.db does not exist"
check "copy from a missing file creates neither" eq "$(ls "$W/typo.db" "$W/c.db" 2>/dev/null)" ""
out=$($TM copy --from "$URL?schema=typo" --to "$W/c.db" 2>&1); rc=$?
check "copy from a schema that does not exist refused" eq "$rc" 64
check "copy from a schema that does not exist says so" has "$out" "schema=typo holds no tokmeter store"
check "copy from a schema that does not exist creates it not" eq "$(psql "$URL" -Atc "SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'typo'")" 0
$TM --store "$URL?schema=empty1" migrate >/dev/null
out=$($TM copy --from "$URL?schema=empty1" --to "$W/c.db" 2>&1); rc=$?
check "copy from an empty schema refused" eq "$rc" 64
check "copy from an empty schema says so" has "$out" "schema=empty1 is empty"
check "copy from an empty schema creates no destination" eq "$(ls "$W/c.db" 2>/dev/null)" ""
$TM --db "$W/onekey.db" keys create --scope read >/dev/null
out=$($TM copy --from "$W/onekey.db" --to "$W/c.db" --json); rc=$?
check "copy of a store holding one key" eq "$out/$rc" '{"events":0,"keys":1,"users":0,"alerts":0}/0'

# --- retention on both backends ------------------------------------------
cut=$(python3 -c 'import datetime; n = datetime.datetime.now(datetime.timezone.utc); m = n.year * 12 + n.month - 1 - 13; print("%04d-%02d-01" % (m // 12, m % 12 + 1))')
left=$(python3 -c 'import sys, json; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["timestamp"][:10] >= sys.argv[2]))' "$W/ev.ndjson" "$cut")
check "some events are older than the cut" test "$left" -lt "$N"
for st in "$B" "$P"; do
    out=$($TM --store "$st" retention --keep 13mo); rc=$?
    check "retention ${st%%:*}" eq "$out/$rc" "removed $((N - left)) events before $cut/0"
    n=$($TM --store "$st" report --json --from 2000-01-01 --to 2100-01-01 --tz UTC | jget 'd["totals"]["events"]')
    check "retention ${st%%:*}: report counts what is left" eq "$n" "$left"
    n=$($TM --store "$st" report --json --from 2000-01-01 --to "$cut" --tz UTC | jget 'd["totals"]["events"]')
    check "retention ${st%%:*}: nothing before the cut" eq "$n" 0
    $TM --store "$st" verify >/dev/null; check "retention ${st%%:*}: verify" eq "$?" 0
done
check "retention: both backends agree" eq "$(rep "$P")" "$(rep "$B")"
old=$(psql "$URL" -Atc "SELECT COUNT(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 's2' AND c.relname < 'events_p$(echo "$cut" | tr -d - | cut -c1-6)'")
check "retention dropped the old partitions" eq "$old" 0
out=$($TM --store "$P" retention --keep 0mo 2>&1); rc=$?
check "retention --keep 0mo refused" eq "$rc" 64
check "retention --keep message" has "$out" "--keep must be"
$TM --store "$P" retention --keep 1200mo >/dev/null; check "retention --keep 1200mo" eq "$?" 0
$TM --store "$P" retention --keep 1201mo >/dev/null 2>&1; check "retention --keep 1201mo refused" eq "$?" 64

# --- one id sent by two processes at once is stored once -----------------
S3="$URL?schema=s3"
$TM --store "$S3" migrate >/dev/null
python3 -c '
for i in range(4000):
    print("{\"id\":\"x-%d\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":%d}" % (i, i))' > "$W/x.ndjson"
$TM --store "$S3" ingest --json "$W/x.ndjson" > "$W/i1" & p1=$!
$TM --store "$S3" ingest --json "$W/x.ndjson" > "$W/i2" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check "both ingests succeed" eq "$r1/$r2" "0/0"
acc=$(( $(jget 'd["accepted"]' < "$W/i1") + $(jget 'd["accepted"]' < "$W/i2") ))
dups=$(( $(jget 'd["duplicates"]' < "$W/i1") + $(jget 'd["duplicates"]' < "$W/i2") ))
check "accepted once in all" eq "$acc/$dups" "4000/4000"
out=$(psql "$URL" -Atc "SELECT COUNT(*), COUNT(DISTINCT id), SUM(input_tokens) FROM s3.events")
check "stored once" eq "$out" "4000|4000|7998000"
$TM --store "$S3" verify >/dev/null; check "verify after concurrent ingest" eq "$?" 0

# --- three daemons on one PostgreSQL, one killed mid-load ----------------
S4="$URL?schema=s4"
$TM --store "$S4" migrate >/dev/null
ports=""
for d in 1 2 3; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    $TM --store "$S4" serve --listen "127.0.0.1:$port" --quiet 2>"$W/d$d.log" &
    echo $! > "$W/d$d.pid"
    ports="$ports${ports:+,}$port"
    i=0; until curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
done
python3 tests/cli/multi_load.py "$ports" "$W/load.json" 3000 6 6 0 - 2 "kill -KILL $(cat "$W/d2.pid")" 6 true
check "load ran" eq "$?" 0
set -- $(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write("".join("m-%d\n" % k for k in d["acked"]))
print(d["sent"], len(d["acked"]), d["failed"])' "$W/load.json" "$W/acked")
echo "three daemons: $1 batches of 40 sent, $2 distinct ids acknowledged, daemon 2 killed at 2 s"
check "every batch acknowledged by a live daemon" eq "$3" 0
check "daemon 2 was killed" sh -c "! kill -0 $(cat "$W/d2.pid") 2>/dev/null"
psql "$URL" -Atc "SELECT id FROM s4.events ORDER BY id" > "$W/stored"
out=$(psql "$URL" -Atc "SELECT COUNT(*) - COUNT(DISTINCT id), SUM(input_tokens) - SUM(substr(id, 3)::bigint) FROM s4.events")
check "no id stored twice, each with its own tokens" eq "$out" "0|0"
missing=$(sort "$W/acked" | comm -23 - "$(sort "$W/stored" > "$W/stored.s"; echo "$W/stored.s")" | wc -l)
check "every acknowledged event stored" eq "$missing" 0
check "acknowledged events: $(wc -l < "$W/acked")" test "$(wc -l < "$W/acked")" -gt 1000
n=$(wc -l < "$W/stored")
p1=$(echo "$ports" | cut -d, -f1); p3=$(echo "$ports" | cut -d, -f3)
for p in $p1 $p3; do
    out=$(curl -s "http://127.0.0.1:$p/v1/usage?from=2000-01-01&to=2100-01-01&tz=UTC" | jget 'd["totals"]["events"]')
    check "daemon on $p sees every event of all three" eq "$out" "$n"
done
kill -TERM "$(cat "$W/d1.pid")" "$(cat "$W/d3.pid")"; wait "$(cat "$W/d1.pid")" "$(cat "$W/d3.pid")" 2>/dev/null
$TM --store "$S4" verify >/dev/null; check "verify after the kill" eq "$?" 0

# --- PostgreSQL stopped under a running daemon --------------------------------
# A key the store cannot check is a store error worth retrying (503), never
# "not valid" (401), which a client would take for a bad key.
S5="$URL?schema=s5"
K=$($TM --store "$S5" keys create --scope admin | head -1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$TM --store "$S5" serve --listen "127.0.0.1:$port" --quiet 2>"$W/d5.log" & echo $! > "$W/d5.pid"
i=0; until curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
code() { curl -s -o "$W/body" -w '%{http_code}' "$@"; }
check "store up: a keyed read" eq "$(code "http://127.0.0.1:$port/v1/me" -H "Authorization: Bearer $K")" 200
sh scripts/pg.sh halt "$PG"
out=$(code "http://127.0.0.1:$port/v1/me" -H "Authorization: Bearer $K")/$(jget 'd["error"]["code"]' < "$W/body")
check "store down: a key check is 503 store_error" eq "$out" "503/store_error"
check "store down: /readyz is 503" eq "$(code "http://127.0.0.1:$port/readyz")" 503
check "store down: /healthz is 200" eq "$(code "http://127.0.0.1:$port/healthz")" 200
out=$(code "http://127.0.0.1:$port/v1/events" -H "Authorization: Bearer $K" -d '{"id": "down-1", "provider": "openai", "input_tokens": 3}')
check "store down: an event is not acknowledged, 503" eq "$out" 503
sh scripts/pg.sh resume "$PG"
# The server is back: the daemon's connections are opened again at their
# next use (a restart, a failover), with no restart of the daemon.
check "store back: /readyz is 200" eq "$(code "http://127.0.0.1:$port/readyz")" 200
check "store back: a keyed read" eq "$(code "http://127.0.0.1:$port/v1/me" -H "Authorization: Bearer $K")" 200
out=$(code "http://127.0.0.1:$port/v1/events" -H "Authorization: Bearer $K" -d '{"id": "down-1", "provider": "openai", "input_tokens": 3}')
check "store back: the event stored" eq "$out/$(jget 'd["accepted"]' < "$W/body")" "200/1"
out=$(curl -s "http://127.0.0.1:$port/v1/usage?from=2000-01-01&to=2100-01-01" -H "Authorization: Bearer $K" | jget 'd["totals"]["input_tokens"]')
check "store back: the daemon's query sees it" eq "$out" 3
check "store back: set a user's tier" eq "$(code -X PUT "http://127.0.0.1:$port/v1/users/u1" -H "Authorization: Bearer $K" -d '{}')" 200
kill -TERM "$(cat "$W/d5.pid")"; wait "$(cat "$W/d5.pid")"; rc=$?; rm -f "$W/d5.pid"
check "store back: the daemon exits 0" eq "$rc" 0
$TM --store "$S5" verify >/dev/null; check "verify after the restart" eq "$?" 0

finish
