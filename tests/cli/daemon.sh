#!/bin/sh
# tests/cli/daemon.sh — the daemon, end to end: every route, API keys and
# scopes, bad input, limits, config reload, concurrent clients killed with
# SIGKILL, slow clients, and the examples of docs/api.md.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmd.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
port() { free_port; }

start() { # start NAME DB PORT [ARGS...]
    name=$1 db=$2 p=$3; shift 3
    $TMSAN --db "$db" serve --listen "127.0.0.1:$p" "$@" 2>"$W/$name.log" &
    echo $! > "$W/$name.pid"
    i=0; until curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
}
stop() { kill -TERM "$(cat "$W/$1.pid")"; wait "$(cat "$W/$1.pid")"; rc=$?; rm -f "$W/$1.pid"; return $rc; }
code() { curl -s -o "$W/body" -w '%{http_code}' "$@"; }

# --- the documented examples ----------------------------------------------
P=$(port 1)
start docs "$W/docs.db" "$P"
out=$(python3 tests/cli/doccheck.py docs/api.md "$P"); rc=$?
echo "  $out" >&2
check "docs/api.md examples" eq "$rc" 0
out=$(python3 tests/cli/openapi.py src/server/routes.c docs/openapi.yaml "$P"); rc=$?
echo "  $out" >&2
check "openapi.yaml: the routes the daemon registers, served" eq "$rc" 0
stop docs; check "docs daemon exits 0" eq "$?" 0
# libmicrohttpd writes to stderr on its own when an option comes before its
# logger: a daemon's stderr must hold only its own log lines.
check "docs daemon: stderr holds only log lines" eq "$(grep -v '^ts=' "$W/docs.log" | head -3)" ""

# --- routes and shapes, no keys ----------------------------------------------
P=$(port 2); U="http://127.0.0.1:$P"; DB="$W/routes.db"
cat > "$W/cfg.json" <<JSON
{"listen": "127.0.0.1:$P", "limits": {"max_events_per_request": 5, "max_body_bytes": 65536,
 "request_timeout_s": 2, "idle_timeout_s": 2, "max_connections_per_ip": 20},
 "log": {"format": "json", "level": "info"}, "tiers": {}}
JSON
start routes "$DB" "$P" --config "$W/cfg.json"
now=$(date -u +%Y-%m-%dT%H:00:00Z)
curl -s "$U/v1/events" -d "[{\"id\":\"a\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"user_id\":\"u1\",\"endpoint\":\"/chat\",\"input_tokens\":1000,\"latency_ms\":500},
  {\"id\":\"b\",\"provider\":\"anthropic\",\"model\":\"claude-haiku-4-5\",\"user_id\":\"u2\",\"endpoint\":\"/sum\",\"output_tokens\":100,\"success\":false,\"latency_ms\":900}]" >/dev/null
m='{"metric_type":"m"}'
check "five events fit" eq "$(code "$U/v1/events" -d "[$m,$m,$m,$m,$m]")" 200
check "six events are too many" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 413
check "too many: the code" eq "$(grep -o '"code":"[a-z_]*"' "$W/body")" '"code":"too_many_events"'
check "malformed JSON 400" eq "$(code "$U/v1/events" -d '{"a":')" 400
check "wrong types: per item" eq "$(curl -s "$U/v1/events" -d '{"input_tokens":"x"}')" '{"accepted":0,"duplicates":0,"rejected":[{"index":0,"error":"input_tokens: must be a non-negative integer"}]}'
head -c 70000 /dev/zero | tr '\0' ' ' > "$W/big"
check "oversized body 413" eq "$(code "$U/v1/events" --data-binary @"$W/big")" 413
check "unknown route 404" eq "$(code "$U/v2/nothing")" 404
check "wrong method 405" eq "$(code -X DELETE "$U/v1/events")" 405
check "GET on a POST route 405" eq "$(code "$U/api/usage/track")" 405
check "unsupported type 415" eq "$(code -H 'Content-Type: application/xml' "$U/v1/events" -d '<a/>')" 415
check "bad query 400" eq "$(code "$U/v1/usage?interval=fortnight")" 400
check "unknown query parameter 400" eq "$(code "$U/v1/usage?colour=red")" 400
check "bad days 400" eq "$(code "$U/api/usage/costs/by-provider?days=0")" 400
out=$(curl -s "$U/v1/usage?group_by=provider&order_by=events&tz=UTC" | grep -c '"provider": "openai"')
check "GET /v1/usage" eq "$out" 1
out=$(curl -s "$U/api/usage/metrics/realtime" | grep -o '"total_requests": [0-9]*')
check "realtime counts the last 24h" eq "$out" '"total_requests": 7'

out=$(curl -s "$U/api/usage/costs/by-provider" | grep -o '"by_provider": {[^}]*}')
check "costs by provider" eq "$out" '"by_provider": {"": 0, "anthropic": 0.0005, "openai": 0.0025}'
out=$(curl -s "$U/api/usage/performance/latency?days=1" | grep -o '"success_rate_percent": [0-9.]*')
check "success rate" eq "$out" '"success_rate_percent": 85.7143'
out=$(curl -s "$U/api/usage/performance/latency?days=1&provider=openai" | grep -o '"p50": [0-9.]*')
check "latency for one provider" eq "$out" '"p50": 497.779'
out=$(curl -s "$U/api/usage/metrics/aggregates?days=1&interval=hour" | grep -o '"success": true')
check "aggregates envelope" eq "$out" '"success": true'
out=$(curl -s "$U/v1/users/u1/usage" | grep -o '"current_period": {"requests": 1')
check "user usage" eq "$out" '"current_period": {"requests": 1'
out=$(curl -s "$U/api/usage/u2" | grep -o '"success": true, "data": {"user_id": "u2"')
check "seed user usage" eq "$out" '"success": true, "data": {"user_id": "u2"'
out=$(curl -s "$U/metrics" | grep '^tokmeter_events_total{result="accepted"}')
check "metrics: events" eq "$out" 'tokmeter_events_total{result="accepted"} 7'
out=$(curl -s "$U/metrics" | grep -c '^tokmeter_cost_usd_total{provider="openai"} 0.0025$')
check "metrics: spend by provider" eq "$out" 1
check "JSON request logs" greps "$W/routes.log" '"msg":"request"'
curl -s "$U/v1/events" -d '{"id":"q\"uote","provider":"we\"ird","cost_usd":"0.001"}' >/dev/null
out=$(curl -s "$U/api/usage/costs/by-provider" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["by_provider"]["we\"ird"])')
check "provider names are escaped" eq "$out" "0.001"

# A slow body is cut off at the request deadline (2 s here).
python3 - "$P" > "$W/slowbody" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
try:
    for _ in range(3):  # never idle for the 2 s idle timeout, but over the 2 s deadline
        time.sleep(0.9)
        s.sendall(b" ")
    s.sendall(b'"a": 1' + b" " * 90)
    s.settimeout(5)
    print(s.recv(100).split(b"\r\n")[0].decode())
except OSError as e:
    print("closed")
PY
check "request deadline 408" eq "$(cat "$W/slowbody")" "HTTP/1.1 408 Request Timeout"

# Slow and idle clients do not stop a normal client, and are closed. 60
# connections from 127.0.0.2 drip a header byte every half second for 4 s:
# past the limit of 20 per address each new one closes the longest waiting,
# and the header deadline (2 s here) closes the rest, however they drip.
python3 tests/cli/slow.py 127.0.0.1 "$P" 60 4 > "$W/slow" &
SLOW=$!
sleep 0.5
read st t <<EOF
$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$U/v1/usage")
EOF
read st2 t2 <<EOF
$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --interface 127.0.0.2 "$U/v1/usage")
EOF
wait $SLOW
read closed still longest < "$W/slow"
echo "  slow clients: normal requests took ${t}s and ${t2}s (from the slow clients' address) with 60 slow connections open; server closed $closed of them, $still still open after 4 s, the longest open ${longest}s" >&2
check "served beside slow clients" eq "$st" 200
check "served promptly beside slow clients" num "$t" "<" 1.0
check "served from the slow clients' address" eq "$st2" 200
check "served promptly from the slow clients' address" num "$t2" "<" 1.0
check "every slow client was closed" eq "$closed $still" "60 0"
check "none stayed open much past the 2 s header deadline" num "$longest" "<" 3.0

# SIGHUP: a new limit and new prices, without a restart.
cat > "$W/prices.json" <<'JSON'
{"models": [{"provider": "openai", "model": "gpt-4o", "input_usd_per_mtok": "100"}]}
JSON
sed -i 's/"max_events_per_request": 5/"max_events_per_request": 7/' "$W/cfg.json"
sed -i "s|\"tiers\": {}|\"tiers\": {}, \"prices\": \"$W/prices.json\"|" "$W/cfg.json"
kill -HUP "$(cat "$W/routes.pid")"; sleep 0.3
check "reloaded limit" eq "$(code "$U/v1/events" -d '[{},{},{},{},{},{}]')" 200
curl -s "$U/v1/events" -d '{"id":"after","provider":"openai","model":"gpt-4o","input_tokens":1000}' >/dev/null
check "reloaded prices" eq "$(sqlite3 "$DB" "SELECT cost_pusd FROM events WHERE id='after'")" 100000000000
stop routes; check "routes daemon exits 0" eq "$?" 0

# --- API keys --------------------------------------------------------------
P=$(port 3); U="http://127.0.0.1:$P"; DB="$W/keys.db"
$TM --db "$DB" ingest /dev/stdin >/dev/null <<'NDJ'
{"id":"k1","timestamp":"2026-10-01T10:00:00Z","provider":"openai","user_id":"u1","input_tokens":10}
{"id":"k2","timestamp":"2026-10-01T11:00:00Z","provider":"openai","user_id":"u2","input_tokens":20}
NDJ
ADMIN=$($TM --db "$DB" keys create --scope admin --name ops | head -1)
INGEST=$($TM --db "$DB" keys create --scope ingest | head -1)
READ=$($TM --db "$DB" keys create --scope read | head -1)
U1=$($TM --db "$DB" keys create --scope read --user u1 --json | sed 's/.*"key": "\([^"]*\)".*/\1/')
start keys "$DB" "$P"
A() { echo "Authorization: Bearer $1"; }
check "no key 401" eq "$(code "$U/v1/usage")" 401
check "bad key 401" eq "$(code -H "$(A tmk_nope)" "$U/v1/usage")" 401
check "health needs no key" eq "$(code "$U/healthz")" 200
check "admin reads" eq "$(code -H "$(A "$ADMIN")" "$U/v1/usage")" 200
check "admin writes" eq "$(code -H "$(A "$ADMIN")" "$U/v1/events" -d '{"provider":"x"}')" 200
check "ingest writes" eq "$(code -H "$(A "$INGEST")" "$U/v1/events" -d '{"provider":"x"}')" 200
check "ingest may not read 403" eq "$(code -H "$(A "$INGEST")" "$U/v1/usage")" 403
check "read may not write 403" eq "$(code -H "$(A "$READ")" "$U/v1/events" -d '{}')" 403
check "read reads aggregates" eq "$(code -H "$(A "$READ")" "$U/api/usage/costs/by-provider")" 200
check "read reads metrics" eq "$(code -H "$(A "$READ")" "$U/metrics")" 200
check "user key: own usage" eq "$(code -H "$(A "$U1")" "$U/v1/users/u1/usage?period=2026-10")" 200
check "user key: another user 403" eq "$(code -H "$(A "$U1")" "$U/v1/users/u2/usage")" 403
check "user key: seed route other user 403" eq "$(code -H "$(A "$U1")" "$U/api/usage/u2")" 403
check "user key: unfiltered aggregate 403" eq "$(code -H "$(A "$U1")" "$U/v1/usage")" 403
check "user key: two users 403" eq "$(code -H "$(A "$U1")" "$U/v1/usage?where=user_id:u1,u2")" 403
check "user key: seed aggregate 403" eq "$(code -H "$(A "$U1")" "$U/api/usage/metrics/realtime")" 403
check "user key: metrics 403" eq "$(code -H "$(A "$U1")" "$U/metrics")" 403
out=$(curl -s -H "$(A "$U1")" "$U/v1/usage?where=user_id:u1&from=2026-10-01&to=2026-10-02" | grep -o '"totals": {"events": [0-9]*')
check "user key: own filter" eq "$out" '"totals": {"events": 1'
$TM --db "$DB" keys revoke "$READ" >/dev/null
check "revoked key 401" eq "$(code -H "$(A "$READ")" "$U/v1/usage")" 401
out=$($TM --db "$DB" keys list --json | grep -c '"revoked": "')
check "keys list shows the revocation" eq "$out" 1
sqlite3 "$DB" "SELECT hash FROM keys" | grep -q "$ADMIN"; check "keys are stored only hashed" eq "$?" 1
stop keys; check "keys daemon exits 0" eq "$?" 0
$TM --db "$DB" serve --listen 0.0.0.0:0 --quiet 2>/dev/null & KP=$!; sleep 0.5
kill -0 $KP 2>/dev/null; check "with keys, a public address is allowed" eq "$?" 0
kill -TERM $KP; wait $KP; check "public-address daemon exits 0 (it ran throughout)" eq "$?" 0
$TM --db "$W/nokeys.db" serve --listen 0.0.0.0:0 2>"$W/err"; rc=$?
check "without keys, a public address is refused" eq "$rc" 1
check "the refusal says why" greps "$W/err" "no API key exists"

# --- quotas, the check, user tiers -----------------------------------------------
P=$(port 6); U="http://127.0.0.1:$P"; DB="$W/quota.db"
cat > "$W/qcfg.json" <<'JSON'
{"tiers": {"free": {"period": "month", "limits": {"requests": 2}},
           "pro": {"period": "month", "anchor_day": 15, "limits": {"requests": 1000, "cost_usd": {"limit": "1", "soft": true}}}},
 "default_tier": "free",
 "rate_limits": [{"scope": "user_operation", "operation": "chat", "requests_per_minute": 3}]}
JSON
start quota "$DB" "$P" --config "$W/qcfg.json"
curl -s "$U/v1/events" -d '[{"user_id":"q1","provider":"openai"},{"user_id":"q1","provider":"openai"}]' >/dev/null
out=$(curl -s "$U/v1/users/q1/quota" | grep -o '"requests": {[^}]*}')
check "quota over HTTP" eq "$out" '"requests": {"limit": 2, "used": 2, "remaining": 0}'
out=$(curl -s "$U/v1/check" -d '{"user_id":"q1","operation":"chat","estimated_tokens":10}' | grep -o '"allowed": [a-z]*, "reason": "[^"]*"')
check "check: hard quota denies" eq "$out" '"allowed": false, "reason": "quota: requests would be 3 of 2 this period"'
out=$(curl -s -X PUT "$U/v1/users/q1" -d '{"tier": "pro"}' | grep -o '"tier": "[a-z]*"')
check "PUT /v1/users/{id}" eq "$out" '"tier": "pro"'
check "PUT an unknown tier 400" eq "$(code -X PUT "$U/v1/users/q1" -d '{"tier": "gold"}')" 400
for i in 1 2 3; do curl -s "$U/v1/check" -d '{"user_id":"q1","operation":"chat"}' >/dev/null; done
out=$(curl -s "$U/v1/check" -d '{"user_id":"q1","operation":"chat"}' | grep -o '"allowed": false, "reason": "rate limit[^"]*"')
check "check: rate limit per user and operation" eq "$out" '"allowed": false, "reason": "rate limit: per user and operation 3 requests per minute"'
out=$(curl -s "$U/v1/check" -d '{"user_id":"q1","operation":"embed"}' | grep -o '"allowed": [a-z]*')
check "check: other operations unaffected" eq "$out" '"allowed": true'
out=$(curl -s "$U/v1/check" -d '{"user_id":"q1","operation":"chat"}' | grep -o '"retry_after_s": [0-9.]*')
check "check: retry_after_s over 19 s" num "${out##* }" ">" 19
check "check: retry_after_s at most 20 s" num "${out##* }" "<=" 20.001
out=$(curl -s "$U/api/usage/q1" | grep -o '"limit": [0-9a-z]*')
check "usage shows the tier's limit" eq "$out" '"limit": 1000'
check "check needs a user 400" eq "$(code "$U/v1/check" -d '{}')" 400
stop quota; check "quota daemon exits 0" eq "$?" 0
out=$($TM --db "$DB" --config "$W/qcfg.json" quota q1 --json | grep -o '"tier": "[a-z]*"')
check "CLI quota sees the tier set over HTTP" eq "$out" '"tier": "pro"'

# --- debug logs: a line per tracked event, in logfmt --------------------------
P=$(port 5)
start dbg "$W/dbg.db" "$P" --log-level debug
curl -s "http://127.0.0.1:$P/v1/events" -d '{"id":"d1","provider":"openai","user_id":"u9"}' >/dev/null
stop dbg
grep 'level=debug msg="UsageTracker.track"' "$W/dbg.log" | grep -qF 'attrs="{\"id\":\"d1\"'; check "debug: a line per event" eq "$?" 0
check "logfmt request line" greps "$W/dbg.log" 'level=info msg="request" method=POST path=/v1/events status=200'

# --- concurrent clients, then SIGKILL ----------------------------------------
P=$(port 4); U="http://127.0.0.1:$P"; DB="$W/crash.db"
$TM --db "$DB" serve --listen "127.0.0.1:$P" --quiet 2>/dev/null & echo $! > "$W/crash.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
for c in 1 2 3 4 5 6; do
    ( n=0; while :; do
          st=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/events" -d "{\"id\":\"c$c-$n\",\"provider\":\"p\",\"input_tokens\":$n}") || break
          [ "$st" = 200 ] && echo "c$c-$n" || { [ "$st" = 000 ] && break; }
          n=$((n + 1))
      done > "$W/acked.$c" ) &
done
# Kill once enough were acknowledged (a fixed sleep acked only ~25 on a loaded machine).
i=0; until [ "$(cat "$W"/acked.* | wc -l)" -gt 60 ] || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 "$(cat "$W/crash.pid")"; rm -f "$W/crash.pid"
wait 2>/dev/null
cat "$W"/acked.* | sort > "$W/acked"
nacked=$(wc -l < "$W/acked")
sqlite3 "$DB" "SELECT id FROM events" | sort > "$W/stored"
missing=$(comm -23 "$W/acked" "$W/stored" | wc -l)
dups=$(sqlite3 "$DB" "SELECT COUNT(*) - COUNT(DISTINCT id) FROM events")
echo "  daemon SIGKILL: $nacked events got a 200 from 6 concurrent clients; $missing missing, $dups stored twice" >&2
check "clients were acknowledged" num "$nacked" ">" 50
check "every 200 is stored" eq "$missing" 0
check "nothing stored twice" eq "$dups" 0
$TM --db "$DB" verify >/dev/null; check "store verifies after SIGKILL" eq "$?" 0

finish
