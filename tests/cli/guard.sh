#!/bin/sh
# tests/cli/guard.sh — the daemon's guards against the attacks of issue 12:
# auth that cannot silently open (defect 2), slow clients (3), too many
# query arguments (8), who may spend rate-limit budgets (9), heavy reads
# beside ingest (10) and all-or-nothing SIGHUP reloads (13).
# TM and TMSAN may name other builds (to show a check failing before a fix).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=${TM:-./build/tokmeter}
TMSAN=${TMSAN:-./build/asan/tokmeter}
W=$(mktemp -d /tmp/tmg.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
port() { echo $((20000 + ($$ * 11 + $1) % 30000)); }

start() { # start NAME DB PORT [ARGS...]
    name=$1 db=$2 p=$3; shift 3
    $TMSAN --db "$db" serve --listen "127.0.0.1:$p" "$@" 2>"$W/$name.log" &
    echo $! > "$W/$name.pid"
    i=0; until curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
}
stop() { kill -TERM "$(cat "$W/$1.pid")"; wait "$(cat "$W/$1.pid")"; rc=$?; rm -f "$W/$1.pid"; return $rc; }
alive() { kill -0 "$(cat "$W/$1.pid")" 2>/dev/null; }
code() { curl -s -o "$W/body" -w '%{http_code}' "$@"; }
A() { echo "Authorization: Bearer $1"; }
# hup NAME: SIGHUP, then wait until the log has one more reload line.
hup() {
    n=$(grep -c 'reload' "$W/$1.log")
    kill -HUP "$(cat "$W/$1.pid")"
    i=0; until [ "$(grep -c 'reload' "$W/$1.log")" -gt "$n" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
}

# --- 13: SIGHUP is all or nothing ---------------------------------------------
P=$(port 1); U="http://127.0.0.1:$P"; DB="$W/reload.db"
cat > "$W/good.json" <<'JSON'
{"limits": {"max_events_per_request": 5},
 "tiers": {"free": {"period": "month", "limits": {"requests": 2}}}, "default_tier": "free"}
JSON
cp "$W/good.json" "$W/cfg.json"
start reload "$DB" "$P" --config "$W/cfg.json"
check "reload: 6 events over the limit of 5" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 413
# A new limit beside a tier with a bad period: nothing of it may apply.
cat > "$W/cfg.json" <<'JSON'
{"limits": {"max_events_per_request": 7},
 "tiers": {"free": {"period": "fortnight", "limits": {"requests": 9}}}, "default_tier": "free"}
JSON
hup reload
check "bad tier: the new limit is not applied" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 413
out=$(curl -s "$U/v1/users/r1/quota" | grep -o '"requests": {"limit": [0-9]*')
check "bad tier: the old tiers stay" eq "$out" '"requests": {"limit": 2'
out=$(grep 'reload' "$W/reload.log" | tail -1)
check "bad tier: logged at error level" has "$out" 'level=error msg="reload failed; keeping the running configuration whole"'
check "bad tier: the log names the field" has "$out" 'period'
check "bad tier: no 'reloaded' line" eq "$(grep -c 'msg="reloaded"' "$W/reload.log")" 0
# A bad alert rule, then a price file that does not parse: the same.
cat > "$W/cfg.json" <<'JSON'
{"limits": {"max_events_per_request": 7}, "alerts": {"rules": [{"name": "x", "metric": "nope"}]}}
JSON
hup reload
check "bad alert rule: the new limit is not applied" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 413
echo '{"models": [' > "$W/broken-prices.json"
printf '{"limits": {"max_events_per_request": 7}, "prices": "%s"}\n' "$W/broken-prices.json" > "$W/cfg.json"
hup reload
check "bad price file: the new limit is not applied" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 413
check "three failed reloads, three error lines" eq "$(grep -c 'level=error msg="reload failed' "$W/reload.log")" 3
# A good file applies whole.
sed 's/"max_events_per_request": 5/"max_events_per_request": 7/; s/"requests": 2/"requests": 3/' "$W/good.json" > "$W/cfg.json"
hup reload
check "good file: the new limit applies" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 200
out=$(curl -s "$U/v1/users/r1/quota" | grep -o '"requests": {"limit": [0-9]*')
check "good file: the new tiers apply" eq "$out" '"requests": {"limit": 3'
check "good file: logged as reloaded" eq "$(grep -c 'level=info msg="reloaded"' "$W/reload.log")" 1
stop reload; check "reload daemon exits 0" eq "$?" 0

# --- 9: a check spends rate-limit budgets, so it needs a write key -------------
P=$(port 2); U="http://127.0.0.1:$P"; DB="$W/check.db"
cat > "$W/ccfg.json" <<'JSON'
{"rate_limits": [{"scope": "global", "requests_per_minute": 3}]}
JSON
ADMIN=$($TM --db "$DB" keys create --scope admin | head -1)
INGEST=$($TM --db "$DB" keys create --scope ingest | head -1)
READ=$($TM --db "$DB" keys create --scope read | head -1)
RU1=$($TM --db "$DB" keys create --scope read --user c1 | head -1)
IU1=$($TM --db "$DB" keys create --scope ingest --user c1 | head -1)
check "an ingest key can be bound to a user" has "$IU1" "tmk_"
$TM --db "$DB" keys create --scope admin --user c1 >/dev/null 2>"$W/err"
check "an admin key cannot be bound to a user (usage error)" eq "$?" 64
check "  and says why" has "$(cat "$W/err")" "admin key cannot be bound"
start check "$DB" "$P" --config "$W/ccfg.json"
C='{"user_id": "c1", "operation": "chat"}'
for i in 1 2 3 4; do
    check "read key: check $i is 403" eq "$(code -H "$(A "$READ")" "$U/v1/check" -d "$C")" 403
    check "user-bound read key: check $i is 403" eq "$(code -H "$(A "$RU1")" "$U/v1/check" -d "$C")" 403
done
check "  the 403 names the scope" has "$(cat "$W/body")" "a read key may not use POST /v1/check"
# Eight refused checks spent nothing of the global 3 a minute.
out=$(curl -s -H "$(A "$INGEST")" "$U/v1/check" -d "$C" | grep -o '"allowed": [a-z]*')
check "ingest key: check allowed (read keys spent nothing)" eq "$out" '"allowed": true'
out=$(curl -s -H "$(A "$ADMIN")" "$U/v1/check" -d "$C" | grep -o '"allowed": [a-z]*')
check "admin key: check allowed" eq "$out" '"allowed": true'
out=$(curl -s -H "$(A "$IU1")" "$U/v1/check" -d "$C" | grep -o '"allowed": [a-z]*')
check "user-bound ingest key: own user allowed" eq "$out" '"allowed": true'
out=$(curl -s -H "$(A "$IU1")" "$U/v1/check" -d "$C" | grep -o '"allowed": [a-z]*')
check "the fourth check is over the global 3 a minute" eq "$out" '"allowed": false'
check "user-bound ingest key: another user 403" eq "$(code -H "$(A "$IU1")" "$U/v1/check" -d '{"user_id": "c2"}')" 403
check "user-bound ingest key: no events 403" eq "$(code -H "$(A "$IU1")" "$U/v1/events" -d '{"user_id": "c1"}')" 403
check "  the 403 says why" has "$(cat "$W/body")" "bound to user c1"
check "user-bound ingest key: no reads 403" eq "$(code -H "$(A "$IU1")" "$U/v1/users/c1/usage")" 403
check "unbound ingest key still stores events" eq "$(code -H "$(A "$INGEST")" "$U/v1/events" -d '{"user_id": "c1"}')" 200
stop check; check "check daemon exits 0" eq "$?" 0

finish
