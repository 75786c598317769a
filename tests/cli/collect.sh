#!/bin/sh
# tests/cli/collect.sh — `tokmeter sources`, `collect` and `reconcile`
# against a fake OpenAI and Anthropic usage API on loopback
# (tests/cli/fake_usage.py): pagination, a 429 with Retry-After, a 503, a
# 401, a missing key, no sources, re-collecting without double counting,
# an open bucket updated when it closes, and the drift report.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmcol.XXXXXX)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$W"' EXIT
export TOKMETER_DB="$W/c.db" TOKMETER_CONFIG="$W/config.json"

PORT=$(free_port)
python3 tests/cli/fake_usage.py "$PORT" "$W" & echo $! > "$W/fake.pid"
for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.2
done
URL="http://127.0.0.1:$PORT"

# --- no sources ------------------------------------------------------------
out=$($TM collect 2>&1); code=$?
check "no sources: exit 1" eq "$code" 1
check "no sources: points to sources add" has "$out" "tokmeter sources add"

# --- sources add / list / remove --------------------------------------------
echo '{"default_tier": "free", "tiers": {"free": {"period": "month", "limits": {"requests": 10000}}}}' > "$TOKMETER_CONFIG"
$TM sources add oai --type openai-usage --key-env OAI_KEY --base-url "$URL" >/dev/null; check "add openai" eq "$?" 0
$TM sources add ant --type anthropic-usage --key-env ANT_KEY --base-url "$URL/" >/dev/null; check "add anthropic" eq "$?" 0
out=$($TM sources add oai --type openai-usage 2>&1); check "add twice: exit 64" eq "$?" 64
check "add twice: says so" has "$out" "exists already"
out=$($TM sources add x --type openai-usage --key-env sk-live-1234 2>&1); check "a key as --key-env: refused" eq "$?" 64
check "a key is not echoed whole" eq "$(printf '%s' "$out" | grep -c 'sk-live-1234')" 0
out=$($TM sources add y --type nope 2>&1); check "unknown type: exit 64" eq "$?" 64
check "unknown type: named" has "$out" "unknown type 'nope'"
check "config keeps other keys" eq "$(python3 -c "import json; print(json.load(open('$TOKMETER_CONFIG'))['default_tier'])")" free
check "config stores the variable name only" eq "$(grep -c OAI_KEY "$TOKMETER_CONFIG")" 1
out=$($TM sources list --json | jget 'len(d)'); check "list: two" eq "$out" 2
out=$($TM sources list --json | jget 'd[1]["base_url"]'); check "list: trailing slash trimmed" eq "$out" "$URL"

# --- a source with a missing key, a bad key, a dead API -----------------------
out=$($TM collect --source oai 2>&1); code=$?
check "unset key: exit 1" eq "$code" 1
check "unset key: names the variable" has "$out" '$OAI_KEY is not set'
export OAI_KEY=wrong ANT_KEY=good
$TM sources add down --type openai-usage --key-env ANT_KEY --base-url "$URL/down" >/dev/null
out=$($TM collect --since 2026-11-01 --until 2026-11-04 2>"$W/err"); code=$?
err=$(cat "$W/err")
check "failures: exit 1" eq "$code" 1
check "401: key rejected" has "$err" 'oai: the key in $OAI_KEY was rejected (401)'
check "401: how to reconfigure" has "$err" "tokmeter sources add oai --type openai-usage --key-env VAR"
check "503: logged" has "$err" "down: the API answered 503"
check "429: waited as told" has "$err" "ant: rate limited (429), waiting 1.0 s"
check "others still collected" has "$out" "Collected usage from 1 source. Total tokens: 1,440,000. Cost: \$3.83"
check "failures listed" has "$out" "2 sources failed: oai, down"

# --- network errors and timeouts, per source ---------------------------------------
$TM sources add closed --type openai-usage --key-env ANT_KEY --base-url http://127.0.0.1:1 >/dev/null
$TM sources add slow --type anthropic-usage --key-env ANT_KEY --base-url "$URL/slow" >/dev/null
out=$($TM collect --source closed --quiet 2>&1); code=$?
check "refused connection: exit 1" eq "$code" 1
check "refused connection: reported" has "$out" "closed: could not reach http://127.0.0.1:1"
out=$($TM collect --source slow --timeout 1 --quiet 2>&1); code=$?
check "timeout: exit 1" eq "$code" 1
check "timeout: reported" has "$out" "slow: could not reach $URL/slow: Operation timed out"
# 429 without Retry-After: exponential backoff with jitter, a bounded number of tries.
$TM sources add busy --type openai-usage --key-env ANT_KEY --base-url "$URL/busy" >/dev/null
t0=$(date +%s.%N)
out=$($TM collect --source busy --max-tries 3 2>&1); code=$?
t1=$(date +%s.%N)
check "429 always: exit 1" eq "$code" 1
check "429 always: gave up after the tries" has "$out" "busy: still rate limited (429) after every retry"
check "429 always: two waits logged" eq "$(printf '%s\n' "$out" | grep -c 'rate limited (429), waiting')" 2
check "429 always: 3 tries made" eq "$(grep -c '^GET /busy' "$W/requests.log")" 3
check "429 always: backed off 1.5 s or more (0.5-1 s, then 1-2 s)" num "$(awk "BEGIN { print $t1 - $t0 }")" ">=" 1.5
$TM sources add junk --type anthropic-usage --key-env ANT_KEY --base-url "$URL/junk" >/dev/null
out=$($TM collect --source junk 2>&1); code=$?
check "not JSON: exit 1" eq "$code" 1
check "not JSON: said" has "$out" "junk: the API answered something that is not a JSON object"
$TM sources remove closed >/dev/null; $TM sources remove slow >/dev/null; $TM sources remove busy >/dev/null
$TM sources remove junk >/dev/null

# --- the full collect ----------------------------------------------------------
export OAI_KEY=good
$TM sources remove down >/dev/null; check "remove" eq "$?" 0
out=$($TM sources remove down 2>&1); check "remove unknown: exit 1" eq "$?" 1
out=$($TM collect --since 2026-11-01 --until 2026-11-04 --quiet); code=$?
check "collect: exit 0" eq "$code" 0
check "collect: seed summary" has "$out" "Collected usage from 2 sources. Total tokens: 5,058,000. Cost: \$4.55"
check "openai: 6 buckets over 2 pages" has "$out" "oai: 6 records, 3,618,000 tokens, \$0.72 (6 new, 0 updated, 0 already stored)"
check "anthropic: stored before, all duplicates" has "$out" "ant: 3 records, 1,440,000 tokens, \$3.83 (0 new, 0 updated, 3 already stored)"
check "pagination followed" eq "$(grep -c 'usage/completions.*page=p2' "$W/requests.log")" 1
check "group_by and width sent" greps "$W/requests.log" 'usage/completions?start_time=1793491200&end_time=1793750400&bucket_width=1d&group_by\[\]=model&group_by\[\]=project_id&limit=31 good'
check "anthropic-version sent" eq "$(grep 'usage_report' "$W/requests.log" | grep -vc '2023-06-01')" 0
check "anthropic window in RFC 3339" greps "$W/requests.log" 'usage_report/messages?starting_at=2026-11-01T00:00:00Z&ending_at=2026-11-04T00:00:00Z&bucket_width=1d'
n1=$(./build/tokmeter events --json --all | grep -c '"id":"src:')
check "one event per bucket" eq "$n1" 9

# Exact tokens: OpenAI's input includes the cached part; one bucket as stored.
ev=$(./build/tokmeter events --json --all | grep '"src:oai:1793491200:gpt-4o-mini-2024-07-18:proj_a"')
check "openai bucket: uncached input" has "$ev" '"input_tokens":600000'
check "openai bucket: cached" has "$ev" '"cache_read_tokens":400000'
check "openai bucket: value = requests" has "$ev" '"value":100'
check "openai bucket: project" has "$ev" '"project":"proj_a"'
check "openai bucket: cost exact" has "$ev" '"cost_usd":0.24'
ev=$(./build/tokmeter events --json --all | grep '"src:ant:1793491200:')
check "anthropic bucket: 1h cache writes" has "$ev" '"cache_write_1h_tokens":10000'
check "anthropic bucket: no tier on a sum of requests" has "$ev" '"cost_usd":1.275'

# --- again: nothing counted twice; then the open day closes -----------------------
out=$($TM collect --since 2026-11-01 --until 2026-11-04 --quiet --json)
check "again: nothing new" eq "$(echo "$out" | jget 'sum(s["stored"] for s in d["sources"])')" 0
check "again: all duplicates" eq "$(echo "$out" | jget 'sum(s["duplicates"] for s in d["sources"])')" 9
touch "$W/closed"
out=$($TM collect --since 2026-11-01 --until 2026-11-04 --quiet --json)
check "closed: the open buckets are updated" eq "$(echo "$out" | jget 'sum(s["replaced"] for s in d["sources"])')" 2
check "closed: still one event per bucket" eq "$(./build/tokmeter events --json --all | grep -c '"id":"src:')" 9
out=$(./build/tokmeter report --from 2026-11-03 --to 2026-11-04 --group-by provider --tz UTC --json | jget '[(r["provider"], r["total_tokens"], r["cost_usd"]) for r in d["rows"]]')
check "closed: the report has the closed day" eq "$out" "[('anthropic', 630000, 2.325), ('openai', 2406000, 0.48135)]"
$TM verify >/dev/null; check "verify after replacements" eq "$?" 0
# Reprice of the collected buckets: the same prices give the same costs (a
# bucket sums many requests: no per-request tier, at ingest or reprice).
out=$($TM reprice --json)
check "reprice collected buckets: nothing changes" eq "$(echo "$out" | jget '(d["examined"], d["changed"])')" "(9, 0)"
ev=$(./build/tokmeter events --json --all | grep '"src:ant:1793491200:')
check "reprice: the anthropic bucket still untiered" has "$ev" '"cost_usd":1.275'
out=$(./build/tokmeter report --from 2026-11-03 --to 2026-11-04 --group-by provider --tz UTC --json | jget '[(r["provider"], r["total_tokens"], r["cost_usd"]) for r in d["rows"]]')
check "reprice: the report as before" eq "$out" "[('anthropic', 630000, 2.325), ('openai', 2406000, 0.48135)]"

# --- reconcile ----------------------------------------------------------------
out=$($TM reconcile --source oai --month 2026-11 --json)
check "reconcile: day 1 no drift" eq "$(echo "$out" | jget 'd["rows"][0]["drift_usd"]')" 0
check "reconcile: day 2 drift" eq "$(echo "$out" | jget 'd["rows"][1]["drift_usd"]')" -0.004827
check "reconcile: day 2 percent" eq "$(echo "$out" | jget 'd["rows"][1]["drift_pct"]')" -1.96
check "reconcile: within 1% over the month" eq "$(echo "$out" | jget 'd["within_1pct"]')" True
out=$($TM reconcile --source ant --month 2026-11)
check "reconcile anthropic: cents read exactly" has "$out" "ant 2026-11: drift 0.0000 (+0.00%): within 1%"
out=$($TM reconcile --source nope 2>&1); check "reconcile unknown source: 64" eq "$?" 64
out=$($TM reconcile --source ant --month 2026-13 2>&1); check "reconcile bad month: 64" eq "$?" 64

finish
