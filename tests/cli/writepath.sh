#!/bin/sh
# tests/cli/writepath.sh — the daemon's write path (a storing request's
# connection is suspended while its events commit): SIGKILL under load from
# many clients (every 200 stored once, nothing twice, all of them duplicates
# when sent again after the restart), refused bodies answered at once,
# clients that leave while suspended, and SIGTERM with requests suspended.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmw.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start() { # start NAME BIN DB PORT
    $2 --db "$3" serve --listen "127.0.0.1:$4" --quiet --log-level warn 2>"$W/$1.log" &
    echo $! > "$W/$1.pid"
    i=0; until curl -s "http://127.0.0.1:$4/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
    curl -s "http://127.0.0.1:$4/healthz" >/dev/null || { echo "  $1 did not start:" >&2; cat "$W/$1.log" >&2; }
}
stop() { kill -TERM "$(cat "$W/$1.pid")"; wait "$(cat "$W/$1.pid")"; rc=$?; rm -f "$W/$1.pid"; return $rc; }
L="python3 tests/cli/writeload.py"

# --- SIGKILL under load, then everything sent again ---------------------------
P=$(port 1); DB="$W/kill.db"; mkdir "$W/k"
start kill "$TM" "$DB" "$P"
$L load "$P" 48 "$W/k" & lp=$!
# Kill mid-load, once plenty were acknowledged.
i=0; until [ "$(cat "$W"/k/acked.* 2>/dev/null | wc -l)" -gt 3000 ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 "$(cat "$W/kill.pid")"; rm -f "$W/kill.pid"
wait $lp
cat "$W"/k/acked.* | sort > "$W/acked"
cat "$W"/k/sent.* | sort -u > "$W/sent"
sqlite3 "$DB" "SELECT id FROM events" | sort > "$W/stored"
nacked=$(wc -l < "$W/acked")
missing=$(comm -23 "$W/acked" "$W/stored" | wc -l)
unsent=$(comm -13 "$W/sent" "$W/stored" | wc -l)
dups=$(sqlite3 "$DB" "SELECT COUNT(*) - COUNT(DISTINCT id) FROM events")
echo "  SIGKILL: $nacked events acknowledged to 48 clients, $(wc -l < "$W/stored") stored; $missing missing, $dups stored twice" >&2
check "SIGKILL: clients were acknowledged" num "$nacked" ">" 3000
check "SIGKILL: every 200 is stored" eq "$missing" 0
check "SIGKILL: nothing stored twice" eq "$dups" 0
check "SIGKILL: nothing stored that was not sent" eq "$unsent" 0
start kill2 "$TM" "$DB" "$P"
out=$($L resend "$P" "$W/k")
echo "  resend after restart: acknowledged, not a duplicate, failed: $out" >&2
check "resend: every acknowledged event is a duplicate, every request answered" eq "$(echo "$out" | cut -d' ' -f2-)" "0 0"
stop kill2; check "restarted daemon exits 0" eq "$?" 0
check "resend: each sent id stored once" eq "$(sqlite3 "$DB" "SELECT COUNT(*), COUNT(DISTINCT id) FROM events")" \
    "$(wc -l < "$W/sent")|$(wc -l < "$W/sent")"
$TM --db "$DB" verify >/dev/null; check "store verifies after SIGKILL and resend" eq "$?" 0

# --- the suspend path's edges, on the sanitizer build --------------------------
P=$(port 2); U="http://127.0.0.1:$P"; DB="$W/edge.db"
start edge "$TMSAN" "$DB" "$P"
code() { curl -s -m 10 -o "$W/body" -w '%{http_code}' "$@"; }
check "malformed body: 400 at once" eq "$(code "$U/v1/events" -d '[{"id":')" 400
check "every event refused: 200 at once" eq "$(code "$U/v1/events" -d '[{"input_tokens":-1},{"input_tokens":"x"}]')" 200
check "every event refused: none accepted" has "$(cat "$W/body")" '"accepted":0,"duplicates":0'
check "empty array: 400 at once" eq "$(code "$U/v1/events" -d '[]')" 400
check "one event: 200" eq "$(code "$U/v1/events" -d '{"id":"e1","provider":"openai","input_tokens":3}')" 200
check "the same again: a duplicate" has "$(curl -s -m 10 "$U/v1/events" -d '{"id":"e1","provider":"openai","input_tokens":3}')" '"duplicates":1'
check "clients that leave while suspended" eq "$($L drop "$P" 16 2000)" 16
check "still answering after they left" eq "$(code "$U/healthz")" 200
# Their events were accepted before they left: all are stored, once.
i=0; until [ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM events WHERE id LIKE 'drop-%'")" = 32000 ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the leavers' events stored once" eq "$(sqlite3 "$DB" "SELECT COUNT(*), COUNT(DISTINCT id) FROM events WHERE id LIKE 'drop-%'")" "32000|32000"
# SIGTERM while big bodies commit: those answered 200 are stored, and the
# daemon exits 0 (libmicrohttpd aborts if stopped with a connection suspended).
$L big "$P" 8 9000 "$W" & bp=$!
i=0; until [ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM events WHERE id LIKE 'big-%'" 2>/dev/null)" -gt 0 ] || [ $i -ge 300 ]; do sleep 0.05; i=$((i + 1)); done
stop edge; check "SIGTERM with requests suspended: exit 0 (no leak, no abort)" eq "$?" 0
wait $bp
n200=$(cat "$W"/big.* | grep -cx 200)
grep -hv '^[0-9]*$' "$W"/big.* | sort > "$W/bigacked"
sqlite3 "$DB" "SELECT id FROM events WHERE id LIKE 'big-%'" | sort > "$W/bigstored"
echo "  SIGTERM during 8 bodies of 9,000 events: $n200 answered 200" >&2
check "SIGTERM: some were answered" num "$n200" ">" 0
check "SIGTERM: every 200 stored" eq "$(comm -23 "$W/bigacked" "$W/bigstored" | wc -l)" 0
check "SIGTERM: nothing stored twice" eq "$(sqlite3 "$DB" "SELECT COUNT(*) - COUNT(DISTINCT id) FROM events")" 0
check "no sanitizer report" eq "$(grep -c 'Sanitizer' "$W/edge.log")" 0

finish
