#!/bin/sh
# tests/cli/proxy.sh — the gateway end to end: the real openai and
# @anthropic-ai/sdk clients through `tokmeter serve` (ASan build) in front of
# a fake upstream on loopback (tests/proxy/); the stored events against the
# upstream's usage; curl through the generic route; denials; an upstream
# that is down; a client that leaves mid-stream; keys and secrets.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmpx.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
if ! sh scripts/node-deps.sh; then
    bad "node and the SDK clients could not be installed (scripts/node-deps.sh)"
    finish; exit 1
fi
free_port() { python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
code() { curl -s -o "$W/body" -D "$W/head" -w '%{http_code}' "$@"; }
header() { tr -d '\r' < "$W/head" | awk -v h="$1" 'tolower($1) == tolower(h) ":" {print $2}'; }

node tests/proxy/fake_upstream.js "$W/fport" "$W/upstream.jsonl" 2>"$W/fake.log" &
echo $! > "$W/fake.pid"
i=0; until [ -s "$W/fport" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
F="http://127.0.0.1:$(cat "$W/fport")"
P=$(free_port); T="http://127.0.0.1:$P"; DB="$W/px.db"
cat > "$W/cfg.json" <<JSON
{"listen": "127.0.0.1:$P",
 "limits": {"max_body_bytes": 4096},
 "proxy": {"idle_timeout_s": 1},
 "upstreams": [
   {"name": "openai", "base_url": "$F", "provider": "openai"},
   {"name": "anthropic", "base_url": "$F/", "provider": "anthropic"},
   {"name": "deepseek", "base_url": "$F", "provider": "deepseek", "key_env": "TM_TEST_UPSTREAM_KEY"},
   {"name": "down", "base_url": "http://127.0.0.1:1", "provider": "openai"}],
 "tiers": {"capped": {"period": "month", "limits": {"requests": 1}}},
 "rate_limits": [{"scope": "user_operation", "operation": "limited", "requests_per_minute": 2}]}
JSON
export TM_TEST_UPSTREAM_KEY=sk-upstream-secret-0123456789
$TMSAN --db "$DB" serve --config "$W/cfg.json" 2>"$W/tm.log" &
echo $! > "$W/tm.pid"
i=0; until curl -s "$T/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done

# --- the SDK clients -----------------------------------------------------------
out=$(cd tests/proxy && TM_URL="$T" FAKE_URL="$F" node sdk_test.js "$W/via.json" 2>&1); rc=$?
echo "  $out" | tail -n 30 >&2
check "the SDK clients through tokmeter see what the upstream sent" eq "$rc" 0

# --- the generic route, with the upstream's key from the environment ------------
body='{"model":"deepseek-chat","messages":[{"role":"user","content":"generic"}]}'
check "generic route 200" eq "$(code "$T/proxy/deepseek/v1/chat/completions?api-version=2024%2F10&x=a+b" \
    -H 'Authorization: Bearer sk-client-key' -H 'X-Tokmeter-User: gina' -H 'Content-Type: application/json' -d "$body")" 200
check "generic: the answer passed back" has "$(cat "$W/body")" '"model": "deepseek-chat-2025-06-01"'
last=$(curl -s "$F/__last")
check "generic: the upstream got the configured key" eq "$(echo "$last" | jget 'd["headers"]["authorization"]')" "Bearer $TM_TEST_UPSTREAM_KEY"
check "generic: no X-Tokmeter header forwarded" eq "$(echo "$last" | jget '[h for h in d["headers"] if h.startswith("x-tokmeter")]')" "[]"
check "generic: the path and query forwarded" eq "$(echo "$last" | jget 'd["url"]')" "/v1/chat/completions?api-version=2024%2F10&x=a%20b"
check "generic: the body forwarded as sent" eq "$(echo "$last" | jget 'd["body"]')" "$body"
check "GET through the generic route" eq "$(code "$T/proxy/deepseek/v1/models/a%20b%C3%A9")" 200
check "generic: the path encoded again" eq "$(curl -s "$F/__last" | jget 'd["url"]')" "/v1/models/a%20b%C3%A9"
check "unknown upstream 404" eq "$(code "$T/proxy/nosuch/v1/models")" 404
check "unknown upstream: OpenAI's error shape" eq "$(jget 'd["error"]["code"]' < "$W/body")" unknown_upstream

# --- attribution headers: 128 bytes at most -----------------------------------------
u128=$(python3 -c "print('u' * 128, end='')"); u129=$(python3 -c "print('u' * 129, end='')")
check "a user of 128 bytes" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-User: $u128" -d '{"model":"gpt-test","messages":[]}')" 200
check "a user of 129 bytes 400" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-User: $u129" -d '{"model":"gpt-test","messages":[]}')" 400
check "400 names the header" eq "$(jget 'd["error"]["message"]' < "$W/body")" "tokmeter: X-Tokmeter-User: longer than 128 bytes"
check "a project of 129 bytes 400" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-Project: $u129" -d '{"model":"gpt-test","messages":[]}')" 400

# --- body limits: N-1, N, N+1 bytes (max_body_bytes 4096) ------------------------
pad() { python3 -c "import json,sys; n=int(sys.argv[1]); b='{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}'; print(json.dumps({'model':'gpt-test','messages':[{'role':'user','content':'x'*(n-len(b))}]}, separators=(',',':')), end='')" "$1"; }
for n in 4095 4096; do
    pad $n > "$W/req"
    check "body of $n bytes forwarded" eq "$(code "$T/openai/v1/chat/completions" --data-binary @"$W/req")" 200
done
pad 4097 > "$W/req"
check "body of 4097 bytes refused 413" eq "$(code "$T/openai/v1/chat/completions" --data-binary @"$W/req")" 413
check "413 in OpenAI's shape" eq "$(jget 'd["error"]["code"]' < "$W/body")" body_too_large

# --- denials: a rate limit (2 a minute: calls 1 and 2 pass, 3 is denied) --------
n0=$(curl -s "$F/__count" | jget 'd["count"]')
for k in 1 2; do
    check "rate limit: call $k of 2 passes" eq "$(code "$T/openai/v1/chat/completions" -H 'X-Tokmeter-User: dave' \
        -H 'X-Tokmeter-Operation: limited' -d '{"model":"gpt-test","messages":[]}')" 200
done
check "rate limit: call 3 denied 429" eq "$(code "$T/openai/v1/chat/completions" -H 'X-Tokmeter-User: dave' \
    -H 'X-Tokmeter-Operation: limited' -d '{"model":"gpt-test","messages":[]}')" 429
check "denied: Retry-After" test "$(header Retry-After)" -ge 1
check "denied: OpenAI's error type" eq "$(jget 'd["error"]["type"]' < "$W/body")" rate_limit_exceeded
check "denied: never reached the upstream" eq "$(curl -s "$F/__count" | jget 'd["count"]')" $((n0 + 2))
# A hard quota (1 request a month), in Anthropic's shape.
curl -s -X PUT "$T/v1/users/erin" -d '{"tier": "capped"}' >/dev/null
check "quota: the first call passes" eq "$(code "$T/anthropic/v1/messages" -H 'X-Tokmeter-User: erin' \
    -d '{"model":"claude-test","max_tokens":5,"messages":[]}')" 200
sleep 0.5 # the first call's event is committed
check "quota: the second is denied 429" eq "$(code "$T/anthropic/v1/messages" -H 'X-Tokmeter-User: erin' \
    -d '{"model":"claude-test","max_tokens":5,"messages":[]}')" 429
check "quota: Anthropic's error shape" eq "$(jget 'd["type"] + " " + d["error"]["type"]' < "$W/body")" "error rate_limit_error"
check "quota: the reason" has "$(cat "$W/body")" "quota: requests would be 2 of 1"
check "quota: Retry-After until the period resets" test "$(header Retry-After)" -ge 1
check "denied calls counted" has "$(curl -s "$T/metrics")" 'tokmeter_proxy_calls_total{result="denied"} 2'

# --- an upstream that is down ------------------------------------------------------
check "upstream down: 502" eq "$(code "$T/proxy/down/v1/chat/completions" -H 'X-Tokmeter-User: frank' \
    -d '{"model":"gpt-test","messages":[]}')" 502
check "upstream down: a clear error" has "$(jget 'd["error"]["message"]' < "$W/body")" "upstream down (http://127.0.0.1:1) did not answer"

# --- a slow client: 4 MB read at 1 MB/s (the upstream is paused past 1 MiB) -----
big='{"model":"text-embedding-big","input":"slow reader"}'
curl -s "$F/v1/embeddings" -d "$big" | md5sum > "$W/big.direct"
curl -s --limit-rate 1M "$T/openai/v1/embeddings" -H 'X-Tokmeter-User: kim' -d "$big" | md5sum > "$W/big.tm"
check "slow client: the 4 MB answer byte for byte" eq "$(cat "$W/big.tm")" "$(cat "$W/big.direct")"

# --- an upstream that never answers: given up after proxy.idle_timeout_s ----------
check "upstream silent: 504" eq "$(code --max-time 20 "$T/openai/v1/chat/completions" -H 'X-Tokmeter-User: judy' \
    -d '{"model":"gpt-hang","messages":[]}')" 504
check "upstream silent: a clear error" has "$(jget 'd["error"]["message"]' < "$W/body")" "upstream openai ($F) did not answer"

# --- a client that leaves mid-stream ------------------------------------------------
curl -s -N --max-time 0.5 "$T/openai/v1/chat/completions" -H 'X-Tokmeter-User: hank' \
    -d '{"model":"gpt-slow","stream":true,"messages":[{"role":"user","content":"bye"}]}' > "$W/partial"
check "client gone: it got the first events" has "$(cat "$W/partial")" '"content":"Hello"'
sleep 1.5 # the next event finds the client gone
check "client gone: counted" has "$(curl -s "$T/metrics")" 'tokmeter_proxy_calls_total{result="client_closed"} 1'
check "client gone: the daemon still serves" eq "$(code "$T/healthz")" 200

# --- the stored events ---------------------------------------------------------------
$TMSAN --db "$DB" events --json --all > "$W/events.json" 2>"$W/events.err"
check "events listed" eq "$?" 0
out=$(python3 tests/proxy/check_events.py "$W/upstream.jsonl" "$W/via.json" "$W/events.json" 2>&1); rc=$?
echo "  $out" | tail -n 20 >&2
check "every SDK call stored with the upstream's usage exactly" eq "$rc" 0
ev() { jget "[e for e in d if e['user_id'] == '$1'][0]$2" < "$W/events.json"; }
check "down: recorded as failed" eq "$(ev frank "['success']") $(ev frank "['status_code']")" "False 502"
check "slow client: usage recorded" eq "$(ev kim "['success']") $(ev kim "['input_tokens']")" "True 23"
check "silent: recorded as failed" eq "$(ev judy "['success']") $(ev judy "['status_code']")" "False 504"
check "down: the error" has "$(ev frank "['error']")" "upstream unreachable"
check "a user of 128 bytes recorded" eq "$(jget "len([e for e in d if e['user_id'] == '$u128'])" < "$W/events.json")" 1
check "client gone: recorded" eq "$(ev hank "['error']")" "client closed the connection"
check "generic: user from the header, the configured provider" eq "$(ev gina "['provider']") $(ev gina "['model']")" "deepseek deepseek-chat-2025-06-01"
check "denied calls are not events" eq "$(jget "len([e for e in d if e['user_id'] in ('dave', 'erin')])" < "$W/events.json")" 3

# --- privacy: no prompt, answer or key in the log or the store ------------------------
for f in "$W/tm.log" "$DB" "$DB-wal" "$W/events.json"; do
    [ -f "$f" ] || continue
    for secret in "$TM_TEST_UPSTREAM_KEY" sk-client-key sk-ant-client "Hello from the fake" '"generic"' thirteen; do
        check "$(basename "$f") holds no $secret" eq "$(grep -c -a -- "$secret" "$f")" 0
    done
done

# --- keys: once one exists, a proxied call needs one ------------------------------------
$TMSAN --db "$DB" keys create --scope read --user carol > "$W/key" 2>/dev/null
$TMSAN --db "$DB" keys create --scope read > "$W/rkey" 2>/dev/null
$TMSAN --db "$DB" keys create --scope ingest > "$W/ikey" 2>/dev/null
key() { grep -o 'tmk_[A-Za-z0-9_]*' "$W/$1" | head -n 1; }
K=$(key key) RK=$(key rkey) IK=$(key ikey)
sleep 1.1 # "no key exists" is trusted for a second
check "keys: none given 401" eq "$(code "$T/openai/v1/chat/completions" -d '{"model":"gpt-test","messages":[]}')" 401
check "keys: 401 in OpenAI's shape" eq "$(jget 'd["error"]["code"]' < "$W/body")" invalid_api_key
check "keys: a read key bound to no user 403" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-Key: $RK" -d '{"model":"gpt-test","messages":[]}')" 403
check "keys: an ingest key passes" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-Key: $IK" -H 'X-Tokmeter-User: ivan' -d '{"model":"gpt-test","messages":[]}')" 200
check "keys: carol's read key passes" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-Key: $K" -d '{"model":"gpt-test","messages":[]}')" 200
check "keys: the tokmeter key is not forwarded" eq "$(curl -s "$F/__last" | jget '[k for k in d["headers"] if "tmk_" in d["headers"][k]]')" "[]"
check "keys: as the SDK's API key (configured upstream key)" eq "$(code "$T/proxy/deepseek/v1/chat/completions" -H "Authorization: Bearer $K" -d '{"model":"deepseek-chat","messages":[]}')" 200
check "keys: a key bound to carol may not call as another" eq "$(code "$T/openai/v1/chat/completions" -H "X-Tokmeter-Key: $K" -H 'X-Tokmeter-User: mallory' -d '{"model":"gpt-test","messages":[]}')" 403

# SIGTERM while a stream is in flight: it is finished first, and recorded.
slow='{"model":"gpt-slow","stream":true,"messages":[{"role":"user","content":"last"}]}'
curl -s -N "$T/openai/v1/chat/completions" -H "X-Tokmeter-Key: $K" -d "$slow" > "$W/last.tm" &
curl_pid=$!
sleep 0.3
kill -TERM "$(cat "$W/tm.pid")"; wait "$(cat "$W/tm.pid")"; rc=$?; rm -f "$W/tm.pid"
wait $curl_pid
check "the daemon stops cleanly (ASan)" eq "$rc" 0
curl -s -N "$F/v1/chat/completions" -d "$slow" > "$W/last.direct"
check "SIGTERM: the stream in flight was finished" eq "$(md5sum < "$W/last.tm")" "$(md5sum < "$W/last.direct")"
check "carol's calls attributed by her key (the last one too)" eq "$($TMSAN --db "$DB" events --json --user carol | jget '[e["success"] for e in d]')" "[True, True, True]"

# --- configuration errors name the key --------------------------------------------------
bad_cfg() { echo "$1" > "$W/bad.json"; $TMSAN --db "$W/bad.db" serve --listen 127.0.0.1:0 --config "$W/bad.json" 2>&1; }
check "config: base_url scheme" has "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "ftp://h"}]}')" "upstreams[0].base_url: must start with http:// or https://"
check "config: credentials in base_url" has "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "https://u:p@h"}]}')" "upstreams[0].base_url: must not hold credentials"
check "config: unset key_env" has "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "https://h", "key_env": "TM_NO_SUCH_VAR"}]}')" "upstreams[0].key_env: names an environment variable that is not set"
check "config: unknown key" has "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "https://h", "colour": 1}]}')" "upstreams[0].colour: unknown key"
check "config: api" has "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "https://h", "api": "gemini"}]}')" "upstreams[0].api: must be"
check "config: no secret in the error" eq "$(bad_cfg '{"upstreams": [{"name": "x", "base_url": "ftp://h", "key_env": "TM_TEST_UPSTREAM_KEY"}]}' | grep -c "$TM_TEST_UPSTREAM_KEY")" 0
finish
