#!/bin/sh
# tests/cli/alerts.sh — alert rules end to end with a real webhook receiver
# on loopback: the seeds' four examples fire exactly once when crossed and
# resolve when they clear; signatures verify; a receiver that is down gets
# retries with backoff while the daemon keeps serving; secrets from the
# environment, webhooks without a secret, and a receiver answering 500.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
W=$(mktemp -d /tmp/tma.XXXXXX)
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
HP=$(free_port); DEAD=$(free_port); H500=$(free_port)

python3 tests/cli/hook.py "$HP" s3cret "$W/hooks" & echo $! > "$W/hook.pid"
sleep 0.5
cat > "$W/cfg.json" <<JSON
{"tiers": {"basic": {"period": "month", "limits": {"requests": 10}}}, "default_tier": "basic",
 "alerts": {"interval_s": 1, "max_tries": 3, "backoff_s": 0.2,
   "webhooks": [{"url": "http://127.0.0.1:$HP/hook", "secret": "s3cret"}],
   "rules": [
     {"name": "daily-cost", "metric": "cost_usd", "window": "day", "op": ">", "threshold": "50"},
     {"name": "provider-errors", "metric": "error_rate", "scope": "provider", "window": "1h", "op": ">", "threshold": 0.05},
     {"name": "eval-runs", "metric": "events:evaluation_run", "scope": "user_id", "window": "day", "op": ">", "threshold": 100},
     {"name": "quota-80", "metric": "quota_percent", "scope": "user_id", "window": "month", "op": ">=", "threshold": 80},
     {"name": "quota-100", "metric": "quota_percent", "scope": "user_id", "window": "month", "op": ">=", "threshold": 100}]}}
JSON
A="$TM --store $(st a) --config $W/cfg.json"
T=2026-06-10T12:00:00Z
# The transitions one `alerts check` reports, sorted; a failed check (an
# exit status but 0, or stderr other than its one summary line) is its
# status and stderr instead, so it can never pass for "no transitions".
transitions() {
    $A alerts check --at "$1" > "$W/tr.out" 2> "$W/tr.err"; trc=$?
    if [ "$trc" -ne 0 ] || [ "$(cat "$W/tr.err")" != "5 rules evaluated, $(wc -l < "$W/tr.out") transitions" ]; then
        echo "alerts check exited $trc: $(cat "$W/tr.err")"; return
    fi
    python3 -c 'import json,sys; print(" ".join(sorted(j["rule"]+":"+j["key"]+":"+j["state"] for j in map(json.loads, sys.stdin))))' < "$W/tr.out" 2>&1
}

check "nothing to say" eq "$(transitions $T)" ""
# Daily cost: $30 then $25 today.
printf '%s\n' '{"timestamp":"2026-06-10T09:00:00Z","provider":"x","cost_usd":"30"}' | $A ingest >/dev/null
check "daily cost under 50" eq "$(transitions $T)" ""
printf '%s\n' '{"timestamp":"2026-06-10T11:30:00Z","provider":"x","cost_usd":"25"}' | $A ingest >/dev/null
# A provider's error rate in the last hour: openai 2 of 20 fail, anthropic none.
python3 - "$W/p.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write(json.dumps({"timestamp": "2026-06-10T11:%02d:00Z" % (20 + i), "provider": "openai", "success": i >= 2}) + "\n")
        f.write(json.dumps({"timestamp": "2026-06-10T11:%02d:30Z" % (20 + i), "provider": "anthropic"}) + "\n")
    for i in range(101):
        f.write(json.dumps({"timestamp": "2026-06-10T10:00:00Z", "userId": "u5", "metricType": "evaluation_run"}) + "\n")
    for i in range(100):
        f.write(json.dumps({"timestamp": "2026-06-10T10:00:00Z", "userId": "u6", "metricType": "evaluation_run"}) + "\n")
    for i in range(8):
        f.write(json.dumps({"timestamp": "2026-06-03T10:00:00Z", "user_id": "u7", "provider": "p"}) + "\n")
PY
$A ingest "$W/p.ndjson" >/dev/null
check "the seed examples fire" eq "$(transitions $T)" "daily-cost:*:firing eval-runs:u5:firing provider-errors:openai:firing quota-80:u7:firing"
check "once per transition, not per evaluation" eq "$(transitions $T)" ""
printf '%s\n' '{"timestamp":"2026-06-09T10:00:00Z","user_id":"u7","provider":"p"}' '{"timestamp":"2026-06-09T10:01:00Z","user_id":"u7","provider":"p"}' | $A ingest >/dev/null
check "100% of quota" eq "$(transitions $T)" "quota-100:u7:firing"
check "the next day clears day and hour windows" eq "$(transitions 2026-06-11T12:00:00Z)" "daily-cost:*:resolved eval-runs:u5:resolved provider-errors:openai:resolved"
check "the next month resets the quota" eq "$(transitions 2026-07-01T00:00:00Z)" "quota-100:u7:resolved quota-80:u7:resolved"
n=$(wc -l < "$W/hooks"); bad_sigs=$(grep -c '^badsig' "$W/hooks")
check "every transition reached the webhook" eq "$n" 10
check "every webhook is signed" eq "$bad_sigs" 0
out=$($A alerts list | wc -l); check "history has every transition" eq "$out" 10
out=$($A alerts list --firing | wc -l); check "nothing firing now" eq "$out" 0

# A receiver that is down: retries with backoff (0.2 s, then 0.4 s), then an error.
sed "s/127.0.0.1:$HP/127.0.0.1:$DEAD/" "$W/cfg.json" > "$W/dead.json"
printf '%s\n' '{"timestamp":"2026-06-20T09:00:00Z","provider":"x","cost_usd":"60"}' | $A ingest >/dev/null
t0=$(date +%s.%N)
$TM --store "$(st a)" --config "$W/dead.json" alerts check --at 2026-06-20T12:00:00Z >/dev/null 2>"$W/err"; rc=$?
t1=$(date +%s.%N)
check "undelivered: exit 1" eq "$rc" 1
check "undelivered: says why" greps "$W/err" "not delivered after 3 tries"
check "undelivered: backed off" num "$(awk "BEGIN { print $t1 - $t0 }")" ">=" 0.6

# The daemon evaluates on its own and keeps serving while a receiver is down.
P=$(free_port)
printf '%s\n' '{"timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'","provider":"y","cost_usd":"99"}' | $TM --store "$(st d)" ingest >/dev/null
$TM --store "$(st d)" --config "$W/dead.json" serve --listen "127.0.0.1:$P" 2>"$W/d.log" & echo $! > "$W/d.pid"
sleep 2.5
t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$P/v1/usage")
check "serving while webhooks fail" num "$t" "<" 0.5
out=$(curl -s "http://127.0.0.1:$P/v1/alerts?firing=1" | grep -o '"rule": "daily-cost", "key": "\*", "scope": "global", "state": "firing"')
check "the daemon fired and stored it" eq "$out" '"rule": "daily-cost", "key": "*", "scope": "global", "state": "firing"'
check "the daemon logged the failed delivery" greps "$W/d.log" 'msg="alert transition".*delivered=no'
kill -TERM "$(cat "$W/d.pid")"; wait "$(cat "$W/d.pid")"; rc=$?; rm -f "$W/d.pid"
check "daemon exits 0" eq "$rc" 0

# On ingest: with a 60 s interval, an event that crosses a rule is seen at once;
# a check over a soft limit raises an alert too. Both reach the webhook.
cat > "$W/live.json" <<JSON
{"tiers": {"t": {"period": "month", "limits": {"requests": {"limit": 1, "soft": true}}}}, "default_tier": "t",
 "alerts": {"interval_s": 60, "max_tries": 2, "backoff_s": 0.1,
   "webhooks": [{"url": "http://127.0.0.1:$HP/hook", "secret": "s3cret"}],
   "rules": [{"name": "hourly-errors", "metric": "errors", "window": "1h", "op": ">=", "threshold": 1}]}}
JSON
P=$(free_port); U="http://127.0.0.1:$P"
: > "$W/hooks"
$TM --store "$(st live)" --config "$W/live.json" serve --listen "127.0.0.1:$P" --quiet 2>"$W/live.log" & echo $! > "$W/live.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
check "live daemon started" sh -c "curl -sf '$U/healthz' >/dev/null || { tail -5 '$W/live.log' >&2; false; }"
sleep 1.2
curl -s "$U/v1/events" -d '[{"user_id":"v1","provider":"p","success":false},{"user_id":"v1","provider":"p"}]' >/dev/null
sleep 1.5
out=$(curl -s "$U/v1/alerts?firing=1" | grep -o '"rule": "hourly-errors"')
check "evaluated on ingest, not after the interval" eq "$out" '"rule": "hourly-errors"'
out=$(curl -s "$U/v1/check" -d '{"user_id":"v1"}' | grep -o '"allowed": true, "reason": "soft limit[^"]*"')
check "soft limit: allowed, with the reason" eq "$out" '"allowed": true, "reason": "soft limit: requests would be 3 of 1"'
curl -s "$U/v1/check" -d '{"user_id":"v1"}' >/dev/null
sleep 0.5
out=$(curl -s "$U/v1/alerts?firing=1" | grep -c '"rule": "soft-limit", "key": "v1@')
check "soft limit raises one alert" eq "$out" 1
out=$(grep -c '^ok ' "$W/hooks")
check "both reached the webhook, signed" eq "$out" 2
kill -TERM "$(cat "$W/live.pid")"; wait "$(cat "$W/live.pid")"; rc=$?; rm -f "$W/live.pid"
check "live daemon exits 0 (it ran throughout)" eq "$rc" 0

# Webhook secrets from the environment, webhooks without a secret, and a
# receiver that answers 500: one rule, crossed by one event, per case.
hookcfg() { # hookcfg PORT WEBHOOK-EXTRA: a config whose one webhook is PORT
    printf '{"alerts": {"interval_s": 60, "max_tries": 3, "backoff_s": 0.1, "webhooks": [{"url": "http://127.0.0.1:%s/hook"%s}], "rules": [{"name": "big", "metric": "cost_usd", "window": "day", "op": ">", "threshold": "1"}]}}\n' "$1" "$2" > "$W/hk.json"
}
fire() { # fire STORE: an event over the rule, then one alerts check; "EXIT|STDERR"
    printf '%s\n' '{"timestamp":"2026-08-01T09:00:00Z","provider":"x","cost_usd":"2"}' | $TM --store "$(st "$1")" ingest >/dev/null
    $TM --store "$(st "$1")" --config "$W/hk.json" alerts check --at 2026-08-01T12:00:00Z >/dev/null 2>"$W/hk.err"
    echo "$?|$(cat "$W/hk.err")"
}
: > "$W/hooks"
hookcfg "$HP" ', "secret_env": "TM_TEST_HOOK_SECRET"'
out=$(TM_TEST_HOOK_SECRET=s3cret fire h1)
check "secret_env: delivered" eq "$out" "0|1 rules evaluated, 1 transitions"
check "secret_env: signed with the secret from the environment" eq "$(cut -d' ' -f1 "$W/hooks")" "ok"
out=$(fire h2)
check "secret_env unset: refused, naming it" eq "$out" "1|tokmeter alerts: $W/hk.json: alerts.webhooks[0].secret_env: TM_TEST_HOOK_SECRET is not set"
: > "$W/hooks"
hookcfg "$HP" ""
out=$(fire h3)
check "no secret: delivered" eq "$out" "0|1 rules evaluated, 1 transitions"
check "no secret: no signature header" eq "$(cut -d' ' -f1 "$W/hooks")" "nosig"
python3 tests/cli/hook.py "$H500" s3cret "$W/hooks500" 500 & echo $! > "$W/hook500.pid"
i=0; until curl -s -o /dev/null "http://127.0.0.1:$H500/" 2>/dev/null || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
hookcfg "$H500" ', "secret": "s3cret"'
out=$(fire h4)
check "a receiver answering 500: exit 1, says so" has "$out" "not delivered after 3 tries"
check "a receiver answering 500: names the status" has "$out" "HTTP 500"
check "a receiver answering 500: tried 3 times, signed" eq "$(cut -d' ' -f1 "$W/hooks500" | tr '\n' ' ')" "ok ok ok "
out=$($TM --store "$(st h4)" alerts list --firing | wc -l)
check "a receiver answering 500: the alert is still recorded" eq "$out" 1

# --- thresholds compare exactly: a pico-dollar over $12,345,678 is over -------
# (20 significant digits: a long double reads both as 12345678 and never fires)
cat > "$W/exact.json" <<JSON
{"alerts": {"rules": [
  {"name": "over", "metric": "cost_usd", "window": "day", "op": ">", "threshold": "12345678"},
  {"name": "at-most", "metric": "cost_usd", "window": "day", "op": "<=", "threshold": "1.2345678e7"}]}}
JSON
X="$TM --store $(st exact) --config $W/exact.json"
printf '%s\n' '{"timestamp":"2026-06-10T09:00:00Z","provider":"x","cost_usd":"6000000.000000000001"}' \
    '{"timestamp":"2026-06-10T10:00:00Z","provider":"x","cost_usd":"6345678"}' | $X ingest >/dev/null
out=$($X alerts check --at 2026-06-10T12:00:00Z 2>"$W/exact.err"); rc=$?
check "exact threshold: exit 0" eq "$rc" 0
check "exact threshold: over by one pico-dollar fires" has "$out" '"rule": "over", "key": "*", "scope": "global", "state": "firing", "metric": "cost_usd", "value": 12345678.000000000001,'
case "$out" in *'"at-most"'*) bad "exact threshold: at-most must not fire: $out";; *) ok;; esac
cat > "$W/badthr.json" <<JSON
{"alerts": {"rules": [{"name": "b", "metric": "cost_usd", "window": "day", "threshold": "5O"}]}}
JSON
out=$($TM --store "$(st exact)" --config "$W/badthr.json" alerts check 2>&1); rc=$?
check "threshold that is not a number: refused" has "$out/$rc" 'threshold: must be a number'

finish
