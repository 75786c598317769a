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
port() { free_port; }

# start NAME DB PORT [ARGS...]: the daemon on a free port (the machine is
# shared: a fixed one may be taken), which then is $P, and $U its address.
start() {
    name=$1 db=$2; shift 3
    $TMSAN --db "$db" serve --listen "127.0.0.1:0" "$@" 2>"$W/$name.log" &
    echo $! > "$W/$name.pid"
    i=0; P=; until [ -n "$P" ] || [ $i -ge 200 ]; do
        sleep 0.05; i=$((i + 1))
        P=$(sed -n 's/.*msg="tokmeter serving".* port=\([0-9]*\).*/\1/p' "$W/$name.log" | head -1)
    done
    U="http://127.0.0.1:$P"
    i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
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

# --- 2: revoking the last key does not open the daemon --------------------------
P=$(port 3); U="http://127.0.0.1:$P"; DB="$W/auth.db"
start auth "$DB" "$P"
check "never a key: anonymous reads on loopback" eq "$(code "$U/v1/usage")" 200
K=$($TM --db "$DB" keys create --scope admin | head -1)
sleep 1.2 # "no key exists" is trusted for a second
check "a key exists: anonymous 401" eq "$(code "$U/v1/usage")" 401
check "  the key works" eq "$(code -H "$(A "$K")" "$U/v1/usage")" 200
$TM --db "$DB" keys revoke "$K" >/dev/null
sleep 1.2
check "last key revoked: anonymous read 401" eq "$(code "$U/v1/usage")" 401
check "last key revoked: anonymous PUT user 401" eq "$(code -X PUT "$U/v1/users/x" -d '{"tier": null}')" 401
check "last key revoked: anonymous events 401" eq "$(code "$U/v1/events" -d '{}')" 401
check "last key revoked: anonymous metrics 401" eq "$(code "$U/metrics")" 401
check "last key revoked: the revoked key 401" eq "$(code -H "$(A "$K")" "$U/v1/usage")" 401
check "last key revoked: /healthz still answers" eq "$(code "$U/healthz")" 200
# The gateway asks the same question before it forwards anything.
check "last key revoked: a gateway call without a key 401" eq "$(code "$U/openai/v1/chat/completions" -H 'Content-Type: application/json' -d '{"model": "m", "messages": []}')" 401
stop auth; check "auth daemon exits 0" eq "$?" 0
start auth "$DB" "$P"
check "restarted with only revoked keys: anonymous 401" eq "$(code "$U/v1/usage")" 401
check "  and it says so in its log" has "$(cat "$W/auth.log")" "every API key is revoked"
K2=$($TM --db "$DB" keys create --scope read | head -1)
check "a new key works at once" eq "$(code -H "$(A "$K2")" "$U/v1/usage")" 200
stop auth
# On an address that is not loopback: never served without a key.
P=$(port 4); U="http://127.0.0.1:$P"
$TMSAN --db "$DB" serve --listen "0.0.0.0:$P" 2>"$W/pub.log" & echo $! > "$W/pub.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
check "public: the key works" eq "$(code -H "$(A "$K2")" "$U/v1/usage")" 200
$TM --db "$DB" keys revoke "$K2" >/dev/null
sleep 1.2
check "public, every key revoked: anonymous 401" eq "$(code "$U/v1/usage")" 401
check "public, every key revoked: events 401" eq "$(code "$U/v1/events" -d '{}')" 401
stop pub; check "public daemon exits 0" eq "$?" 0
$TM --db "$DB" serve --listen "0.0.0.0:$P" 2>"$W/err"; rc=$?
check "public, no active key: refused at start" eq "$rc" 1
check "  the refusal says why" has "$(cat "$W/err")" "no API key exists"

# --- 8: too many query arguments get 414, not a hang ----------------------------
P=$(port 5); U="http://127.0.0.1:$P"
start args "$W/args.db" "$P"
# args N [ARG]: GET /v1/usage with N arguments; prints the status and the
# error code, or "no answer" when none comes within 5 s.
args() {
    python3 - "$P" "$1" "${2:-where=provider:abcdefghijklmnopqrstuvwxyz}" <<'PY'
import json, socket, sys
port, n, arg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(5)
s.sendall(b"GET /v1/usage?" + b"&".join([arg] * n) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except OSError:
    print("no answer")
    sys.exit(0)
head, _, body = data.partition(b"\r\n\r\n")
code = json.loads(body).get("error", {}).get("code", "-") if body.startswith(b"{") else "-"
print(head.split(b" ")[1].decode(), code)
PY
}
check "255 query arguments are served" eq "$(args 255)" "200 -"
check "256 query arguments are served" eq "$(args 256)" "200 -"
check "257 query arguments: 414" eq "$(args 257)" "414 too_many_query_arguments"
check "492 query arguments: 414" eq "$(args 492)" "414 too_many_query_arguments"
check "5000 short arguments: 414" eq "$(args 5000 a=1)" "414 too_many_query_arguments"
check "256 unknown arguments: the usual 400" eq "$(args 256 a=1)" "400 invalid_query"
check "the refusal is logged" has "$(cat "$W/args.log")" 'level=warn msg="refused: too many query arguments" method=GET path=/v1/usage arguments=492'
check "414 is counted in the metrics" has "$(curl -s "$U/metrics")" 'tokmeter_http_requests_total{route="unknown",status="414"} 3'
check "the daemon still serves" eq "$(code "$U/v1/usage")" 200
stop args; check "args daemon exits 0" eq "$?" 0

# --- 3: slow clients ------------------------------------------------------------
# A body declared as 100,000 bytes, sent a byte every 2 s, gets its 408 at
# request_timeout_s (5 s), while it is still arriving.
P=$(port 6); U="http://127.0.0.1:$P"
echo '{"limits": {"request_timeout_s": 5, "idle_timeout_s": 30}}' > "$W/slowcfg.json"
start slowbody "$W/slow.db" "$P" --config "$W/slowcfg.json"
python3 - "$P" > "$W/drip" <<'PY'
import select, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n[")
data = b""
while time.time() - t0 < 12 and b"\r\n\r\n" not in data:
    if select.select([s], [], [], 2)[0]:
        d = s.recv(4096)
        if not d:
            break
        data += d
    else:
        try:
            s.sendall(b" ")
        except OSError:
            break
print("%.1f" % (time.time() - t0), data.split(b"\r\n")[0].decode() if data else "nothing")
PY
read after proto st reason < "$W/drip"
echo "  a body dripped a byte every 2 s: '$proto $st $reason' after ${after}s (request_timeout_s 5)" >&2
check "dripped body: 408 while it is still arriving" eq "$st" 408
check "dripped body: answered at the 5 s deadline" python3 -c "import sys; sys.exit(0 if 5.0 <= float('$after') < 6.5 else 1)"
check "dripped body: the 408 is logged" has "$(cat "$W/slowbody.log")" 'path=/v1/events status=408'
stop slowbody; check "slow-body daemon exits 0" eq "$?" 0

# Header lines dripped a line a second: closed at the header deadline
# (idle_timeout_s 3 here), although no second passes without a byte.
P=$(port 7); U="http://127.0.0.1:$P"
echo '{"limits": {"request_timeout_s": 10, "idle_timeout_s": 3}}' > "$W/slowcfg.json"
start slowhead "$W/slow.db" "$P" --config "$W/slowcfg.json"
python3 - "$P" > "$W/heads" <<'PY'
import select, socket, sys, time
socks = {}
for i in range(5):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /v1/usage HTTP/1.1\r\n")
    socks[s] = time.time()
closed, t0 = [], time.time()
while socks and time.time() - t0 < 8:
    for s in select.select(list(socks), [], [], 1)[0]:
        if not s.recv(4096):
            closed.append(time.time() - socks.pop(s))
    for s in list(socks):
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed.append(time.time() - socks.pop(s))
print(len(closed), "%.1f" % max(closed or [99]))
PY
read nclosed longest < "$W/heads"
echo "  5 clients dripping a header line a second: $nclosed closed, the last after ${longest}s (idle_timeout_s 3)" >&2
check "dripped headers: all 5 closed" eq "$nclosed" 5
check "dripped headers: closed at the 3 s deadline" python3 -c "import sys; sys.exit(0 if 3.0 <= float('$longest') < 4.5 else 1)"
stop slowhead; check "slow-header daemon exits 0" eq "$?" 0

# 100 idle connections from one address (over its limit of 20, and the
# global limit of 60): a normal client from that address, and one from
# another, are still served, 15 times of 15.
P=$(port 8); U="http://127.0.0.1:$P"
echo '{"limits": {"max_connections_per_ip": 20, "max_connections": 60}}' > "$W/limcfg.json"
start limits "$W/slow.db" "$P" --config "$W/limcfg.json"
# hold SRC N SECONDS: N idle connections from SRC held open.
hold() {
    python3 - "$P" "$1" "$2" "$3" <<'PY' &
import socket, sys, time
port, src, n, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        pass
time.sleep(secs)
PY
}
served() { # served SRC: of 15 requests from SRC, how many got 200
    n=0; for i in $(seq 15); do
        [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' --interface "$1" "$U/v1/usage")" = 200 ] && n=$((n + 1))
    done; echo $n
}
# The per-address limit at 19, 20 and 21 connections: only the 21st makes
# room, by closing the longest waiting (the first).
out=$(python3 - "$P" <<'PY'
import socket, sys, time
socks, got = [], []
def closed():
    out = []
    for i, s in enumerate(socks):
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                out.append(i)
        except BlockingIOError:
            pass
        except OSError:
            out.append(i)
    return out
for n in (19, 20, 21):
    while len(socks) < n:
        s = socket.socket()
        s.bind(("127.0.0.8", 0))
        s.connect(("127.0.0.1", int(sys.argv[1])))
        socks.append(s)
        time.sleep(0.02)
    time.sleep(0.5)
    got.append("%d:%s" % (n, ",".join(map(str, closed())) or "-"))
print(" ".join(got))
PY
)
check "per-address limit 20: 19 and 20 kept, the 21st closes the first" eq "$out" "19:- 20:- 21:0"
hold 127.0.0.2 100 6; H=$!
sleep 1
check "per-address limit: a normal client from the same address is served" eq "$(served 127.0.0.2)" 15
check "per-address limit: a client from another address is served" eq "$(served 127.0.0.1)" 15
kill $H 2>/dev/null; wait $H 2>/dev/null
HS=; for src in 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6; do hold $src 20 6; HS="$HS $!"; done
sleep 1
check "global limit: a new client is served" eq "$(served 127.0.0.7)" 15
check "the limits are logged" has "$(cat "$W/limits.log")" 'msg="connection limit reached" limit=max_connections'
wait $HS
check "limits daemon is alive" alive limits
stop limits; check "limits daemon exits 0" eq "$?" 0

# --- 10: a read's cost is bounded (limits.max_query_rows) -----------------------
# Grouped by project, a query reads events, one row each: 999, 1000 and
# 1001 events in one hour against a limit of 1000.
P=$(port 9); U="http://127.0.0.1:$P"; DB="$W/cost.db"
echo '{"limits": {"max_query_rows": 1000}}' > "$W/costcfg.json"
python3 -c '
import json
for i in range(999):
    print(json.dumps({"id": "c%d" % i, "timestamp": "2026-10-01T10:%02d:%02dZ" % (i // 60 % 60, i % 60), "provider": "p", "project": "x"}))' > "$W/999.ndjson"
$TM --db "$DB" ingest "$W/999.ndjson" >/dev/null
start cost "$DB" "$P" --config "$W/costcfg.json"
Q="$U/v1/usage?from=2026-10-01T10:00:00Z&to=2026-10-01T11:00:00Z&group_by=project"
ev() { curl -s "$U/v1/events" -d "{\"id\": \"$1\", \"timestamp\": \"2026-10-01T10:59:00Z\", \"provider\": \"p\", \"project\": \"x\"}" >/dev/null; }
check "999 rows read, limit 1000: served" eq "$(code "$Q")" 200
check "  all 999 counted" has "$(cat "$W/body")" '"totals": {"events": 999'
ev d1000
check "1000 rows read, limit 1000: served" eq "$(code "$Q")" 200
ev d1001
check "1001 rows read, limit 1000: 400" eq "$(code "$Q")" 400
check "  query_too_expensive, naming the limit" has "$(cat "$W/body")" '{"error":{"code":"query_too_expensive","message":"query: reads more than 1000 rows (limits.max_query_rows)'
check "a narrower query is still served" eq "$(code "$U/v1/usage?from=2026-10-01T10:00:00Z&to=2026-10-01T10:30:00Z&group_by=project")" 200
check "ingest is unaffected" eq "$(code "$U/v1/events" -d '{"provider": "p"}')" 200
sed -i 's/1000/2000/' "$W/costcfg.json"
hup cost
check "the limit reloads on SIGHUP" eq "$(code "$Q")" 200
stop cost; check "cost daemon exits 0" eq "$?" 0

# --- a reload warns of a restart-only change only when the file made one ------
# (--listen and --db on the command line are not a change of the file)
echo '{"limits": {"max_events_per_request": 5}}' > "$W/rs.json"
start restart "$W/restart.db" 0 --config "$W/rs.json"
hup restart
n=$(grep -c 'change only on restart' "$W/restart.log")
check "unchanged file with --listen and --db: no restart warning" eq "$n" 0
echo '{"listen": "127.0.0.1:1", "limits": {"max_events_per_request": 5}}' > "$W/rs.json"
hup restart
n=$(grep -c 'change only on restart' "$W/restart.log")
check "a new listen in the file: warned once" eq "$n" 1
stop restart; check "restart daemon exits 0" eq "$?" 0

finish
