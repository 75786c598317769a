#!/bin/sh
# tests/cli/web.sh — the web dashboard end to end: the daemon (ASan build)
# serves the page and a generated store, and tests/web/dashboard.mjs drives
# Debian's Chromium through every view (see that file for the checks).
# Screenshots go to build/screens/.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmweb.XXXXXX)
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
start() { # start NAME DB PORT [ARGS...]
    name=$1 db=$2 p=$3; shift 3
    $TMSAN --db "$db" serve --listen "127.0.0.1:$p" "$@" 2>"$W/$name.log" &
    echo $! > "$W/$name.pid"
    i=0; until curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || [ $i -ge 300 ]; do sleep 0.05; i=$((i + 1)); done
    log="$W/$name.log"
    check "$name daemon started" eq "$(curl -s "http://127.0.0.1:$p/healthz")" '{"status":"ok"}' || tail -5 "$log" >&2
}
stop() { kill -TERM "$(cat "$W/$1.pid")"; wait "$(cat "$W/$1.pid")"; rc=$?; rm -f "$W/$1.pid"; return $rc; }

# Free ports, not ports from the pid: other sessions' daemons share the
# machine (an empty daemon on a taken port once failed the whole script).
P=$(free_port); U="http://127.0.0.1:$P"
P2=$(free_port); U2="http://127.0.0.1:$P2"
# A tier for everyone, so users have quota bars; a soft cost limit that a
# check passes, so an alert is firing.
cat > "$W/cfg.json" <<JSON
{"tiers": {"free": {"limits": {"requests": 400, "cost_usd": {"limit": "0.5", "soft": true}}}}, "default_tier": "free"}
JSON
start data "$W/data.db" "$P" --config "$W/cfg.json"
start empty "$W/empty.db" "$P2"

# The page and its files need no key; unknown files are a 404 in JSON.
check "GET / is the page" eq "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$U/")" "200 text/html; charset=utf-8"
check "GET /assets/app.js" eq "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$U/assets/app.js")" "200 text/javascript; charset=utf-8"
check "GET /assets/app.css" eq "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$U/assets/app.css")" "200 text/css; charset=utf-8"
check "an unknown asset is 404" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/assets/nope.js")" 404
check "no CDN: the page loads only its own files" eq "$(curl -s "$U/" | grep -c 'https\?://')" 0
check "POST / is 405" eq "$(curl -s -o /dev/null -w '%{http_code}' -d x "$U/")" 405
check "GET /v1/me with no keys" eq "$(curl -s "$U/v1/me")" '{"key": null}'
gz=$(cat build/web/index.html build/web/app.js build/web/app.css | gzip -9 | wc -c)
echo "  dashboard: $(cat build/web/* | wc -c) bytes, $gz gzipped" >&2

node tests/web/fmt.mjs >&2; check "axis formats (tests/web/fmt.mjs)" eq "$?" 0
node tests/web/gen.mjs 3000 > "$W/events.ndjson"
check "generated events stored" eq "$(curl -s "$U/v1/events" -H 'Content-Type: application/x-ndjson' --data-binary @"$W/events.ndjson")" '{"accepted":3002,"duplicates":0,"rejected":[]}'
out=$(curl -s "$U/v1/check" -d '{"user_id": "u1", "operation": "chat", "estimated_cost_usd": "1"}' | jget 'd["allowed"]')
check "a check past the soft limit is allowed" eq "$out" True

BASE=$U EMPTY=$U2 TM=$TM DB="$W/data.db" OUT=build/screens node tests/web/dashboard.mjs; rc=$?
check "browser tests" eq "$rc" 0

# Once keys exist the page and its files still need none; the API does.
check "keys: GET / needs no key" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/")" 200
check "keys: assets need no key" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/assets/app.js")" 200
check "keys: the API still does" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/usage")" 401
check "keys: /v1/me too" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/me")" 401
stop data; check "data daemon exits 0 (ASan clean)" eq "$?" 0
stop empty; check "empty daemon exits 0 (ASan clean)" eq "$?" 0
finish
