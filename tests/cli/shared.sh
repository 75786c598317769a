#!/bin/sh
# tests/cli/shared.sh — one store shared by the daemon and CLI processes:
# a reprice (--since/--until, a collected usage bucket, then everything)
# seen by reports, verify and a running daemon (usage, quota, metrics);
# CLI writers and the daemon writing at once; and the daemon's Prometheus
# values read by a strict parser (counters, histograms, label escaping).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmsh.XXXXXX)
trap '[ -f "$W/d.pid" ] && kill -9 "$(cat "$W/d.pid")" 2>/dev/null; rm -rf "$W"' EXIT
P=$(free_port); U="http://127.0.0.1:$P"
DB="$W/s.db"
export TZ=UTC

# --- prices and events ------------------------------------------------------------
# v1: $1/M input, $2/M above 200k inputs; v2: $3 and $5. Three times a
# minute apart in the current month; a request above the tier, a collected
# usage bucket (resource_type "source": per-request tiers never apply) of
# as many tokens, and two small requests.
price() { printf '{"models": [{"provider": "acme", "model": "tiered", "input_usd_per_mtok": "%s", "tiers": [{"above_input_tokens": 200000, "input_usd_per_mtok": "%s"}]}]}\n' "$1" "$2"; }
price 1 2 > "$W/v1.json"; price 3 5 > "$W/v2.json"
set -- $(python3 -c '
import datetime as d
n = d.datetime.now(d.timezone.utc).replace(microsecond=0)
print(" ".join((n - d.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in (300, 200, 100)))')
T1=$1 T2=$2 T3=$3
cat > "$W/ev.ndjson" <<NDJ
{"id":"e1","timestamp":"$T1","provider":"acme","model":"tiered","user_id":"u1","input_tokens":300000}
{"id":"b1","timestamp":"$T1","provider":"acme","model":"tiered","user_id":"u1","input_tokens":300000,"resource_type":"source","resource_id":"src"}
{"id":"e2","timestamp":"$T2","provider":"acme","model":"tiered","user_id":"u1","input_tokens":1000}
{"id":"e3","timestamp":"$T3","provider":"acme","model":"tiered","user_id":"u1","input_tokens":1000}
NDJ
$TM --db "$DB" --prices "$W/v1.json" ingest "$W/ev.ndjson" >/dev/null; check "ingest: exit 0" eq "$?" 0
costs() { sqlite3 "$DB" "SELECT id, cost_pusd FROM events WHERE id IN ('e1','b1','e2','e3') ORDER BY id" | tr '\n' ' '; }
check "v1 costs: the request tiered, the bucket not" eq "$(costs)" "b1|300000000000 e1|600000000000 e2|1000000000 e3|1000000000 "

printf '{"listen": "127.0.0.1:%s", "tiers": {"t": {"period": "month", "limits": {"cost_usd": "100"}}}, "default_tier": "t"}\n' "$P" > "$W/cfg.json"
$TMSAN --db "$DB" --prices "$W/v1.json" serve --config "$W/cfg.json" --quiet 2>"$W/d.log" &
echo $! > "$W/d.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
seen() { # what the daemon says u1 spent: usage total, quota used, metrics
    a=$(curl -s "$U/v1/usage?from=2000-01-01&where=user_id:u1" | jget 'd["totals"]["cost_usd"]')
    b=$(curl -s "$U/v1/users/u1/quota" | jget 'd["limits"]["cost_usd"]["used"]')
    c=$(curl -s "$U/metrics" | python3 tests/cli/prom.py tokmeter_cost_usd_total)
    echo "$a $b $c"
}
check "daemon sees v1" eq "$(seen)" "0.902 0.902 tokmeter_cost_usd_total{provider='acme'}=0.902"

# --- reprice ---------------------------------------------------------------------------
out=$($TM --db "$DB" --prices "$W/v2.json" reprice --since "$T2" --until "$T3" --json)
check "reprice --since T2 --until T3: e2 only" eq "$out" '{"examined": 1, "changed": 1, "delta_usd": 0.002}'
check "only e2 changed" eq "$(costs)" "b1|300000000000 e1|600000000000 e2|3000000000 e3|1000000000 "
check "daemon sees the partial reprice" eq "$(seen)" "0.904 0.904 tokmeter_cost_usd_total{provider='acme'}=0.904"
out=$($TM --db "$DB" --prices "$W/v2.json" reprice --since "$T3" --json)
check "reprice --since T3: e3 only" eq "$out" '{"examined": 1, "changed": 1, "delta_usd": 0.002}'
out=$($TM --db "$DB" --prices "$W/v2.json" reprice --until "$T2" --json)
check "reprice --until T2: e1 and the bucket" eq "$out" '{"examined": 2, "changed": 2, "delta_usd": 1.5}'
check "v2 costs: the bucket still without the tier" eq "$(costs)" "b1|900000000000 e1|1500000000000 e2|3000000000 e3|3000000000 "
out=$($TM --db "$DB" --prices "$W/v2.json" reprice --json)
check "reprice everything again: nothing changes" eq "$out" '{"examined": 4, "changed": 0, "delta_usd": 0}'
check "daemon sees the reprice" eq "$(seen)" "2.406 2.406 tokmeter_cost_usd_total{provider='acme'}=2.406"
out=$($TM --db "$DB" report --from 2000-01-01 --where provider=acme --group-by user_id --json | jget '[(r["user_id"], r["events"], r["cost_usd"]) for r in d["rows"]]')
check "report after the reprice" eq "$out" "[('u1', 4, 2.406)]"
$TM --db "$DB" verify >/dev/null; check "verify after the reprice" eq "$?" 0

# --- CLI writers and the daemon at once -------------------------------------------
for c in 1 2 3; do
    python3 -c "
import json
for i in range(3000): print(json.dumps({'id': 'c$c-%d' % i, 'provider': 'p', 'model': 'm', 'input_tokens': i}))" > "$W/c$c.ndjson"
done
python3 -c "
import json
for r in range(20):
    with open('$W/h%d.json' % r, 'w') as f: json.dump([{'id': 'h%d-%d' % (r, i), 'provider': 'p', 'model': 'm', 'input_tokens': i} for i in range(100)], f)"
pids=
for c in 1 2 3; do
    ( $TM --db "$DB" ingest "$W/c$c.ndjson" >/dev/null 2>"$W/c$c.err"; echo $? > "$W/c$c.rc" ) &
    pids="$pids $!"
done
( for r in $(seq 0 19); do curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$W/h$r.json" "$U/v1/events"; done > "$W/h.codes" ) &
wait $pids $!
check "CLI writers: each exit 0" eq "$(cat "$W/c1.rc" "$W/c2.rc" "$W/c3.rc" "$W/c1.err" "$W/c2.err" "$W/c3.err" | tr '\n' ' ')" "0 0 0 "
check "HTTP writer: each 200" eq "$(sort -u "$W/h.codes")" 200
check "every event stored once" eq "$(sqlite3 "$DB" "SELECT COUNT(*), COUNT(DISTINCT id), SUM(input_tokens) FROM events WHERE id GLOB 'c[123]-*' OR id GLOB 'h*-*'")" "11000|11000|$((3 * 2999 * 3000 / 2 + 20 * 99 * 100 / 2))"
out=$(curl -s "$U/v1/usage?from=2000-01-01&where=provider:p" | jget '(d["totals"]["events"], d["totals"]["input_tokens"])')
check "the daemon sees every writer's events" eq "$out" "(11000, $((3 * 2999 * 3000 / 2 + 20 * 99 * 100 / 2)))"
$TM --db "$DB" verify >/dev/null; check "verify after concurrent writers" eq "$?" 0

# --- Prometheus values ------------------------------------------------------------
curl -s -o /dev/null --data-binary @"$W/h0.json" "$U/v1/events"
curl -s -o /dev/null -d '[{"input_tokens":-1},{"provider":"p","input_tokens":"x"},{"id":"ok1","provider":"p"}]' "$U/v1/events"
printf '%s\n' '{"id":"esc","provider":"we\"ird\\back\nline\ttab","cost_usd":"0.001"}' > "$W/esc.json"
curl -s -o /dev/null --data-binary @"$W/esc.json" "$U/v1/events"
curl -s "$U/metrics" > "$W/metrics"
out=$(python3 tests/cli/prom.py tokmeter_events_total < "$W/metrics"); rc=$?
check "metrics: every line is Prometheus text, every histogram's +Inf equals its _count" eq "$rc" 0
check "metrics: accepted, duplicate and rejected counts" eq "$out" "tokmeter_events_total{result='accepted'}=2002
tokmeter_events_total{result='duplicate'}=100
tokmeter_events_total{result='rejected'}=2"
out=$(python3 tests/cli/prom.py tokmeter_cost_usd_total < "$W/metrics" | grep back)
check "metrics: a label with a quote, a backslash, a newline and a tab" eq "$out" "tokmeter_cost_usd_total{provider='we\"ird\\\\back\\nline\\ttab'}=0.001"
out=$(python3 tests/cli/prom.py tokmeter_http_request_duration_seconds_count tokmeter_commit_duration_seconds_count < "$W/metrics" | grep 'v1/events\|commit')
check "metrics: request and commit counts" eq "$(echo "$out" | sed 's/=[0-9.e+-]*$//' | tr '\n' ' ')" "tokmeter_http_request_duration_seconds_count{route='/v1/events'} tokmeter_commit_duration_seconds_count "
check "metrics: 23 requests to /v1/events" eq "$(echo "$out" | grep route | sed 's/.*=//')" 23

kill -TERM "$(cat "$W/d.pid")"; wait "$(cat "$W/d.pid")"; rc=$?; rm -f "$W/d.pid"
check "daemon exits 0 (it ran throughout)" eq "$rc" 0
finish
