#!/bin/sh
# tests/cli/policy.sh — quotas and rate limits through the daemon: a check
# larger than a rule's burst (denied for good, no retry hint), several
# rules at once (a denial by one debits none), and the limiter's state
# across a SIGHUP reload.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmpol.XXXXXX)
export TZ=UTC
trap '[ -f "$W/d.pid" ] && kill -9 "$(cat "$W/d.pid")" 2>/dev/null; rm -rf "$W"' EXIT
P=$(free_port); U="http://127.0.0.1:$P"

rules() { # the config with these rate_limits
    printf '{"listen": "127.0.0.1:%s", "log": {"format": "json", "level": "info"}, "rate_limits": [%s]}\n' "$P" "$1" > "$W/cfg.json"
}
chk() { # chk USER TOKENS: "allowed|reason|retry_after_s" of one /v1/check
    curl -s "$U/v1/check" -d "{\"user_id\":\"$1\",\"estimated_tokens\":$2}" |
        jget '"%s|%s|%s" % (d["allowed"], d["reason"], d["retry_after_s"])'
}
rules '{"scope": "global", "tokens_per_minute": 6000}, {"scope": "user", "requests_per_minute": 3}'
$TMSAN --store "$(st p)" serve --config "$W/cfg.json" 2>"$W/d.log" &
echo $! > "$W/d.pid"
i=0; until curl -s "$U/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done

# --- more than the burst at once ----------------------------------------------
never="False|rate limit: 7000 tokens at once is more than the global limit of 6000 tokens per minute allows (its burst is 6000): it can never conform; split it|None"
check "7000 tokens against 6000/min: denied for good" eq "$(chk u1 7000)" "$never"
check "6001 tokens (burst + 1): the same" eq "$(chk u1 6001)" "$(echo "$never" | sed 's/7000 tokens/6001 tokens/')"
# Neither denial spent u1's 3 requests a minute: 6000 (the burst) then 5999 pass.
check "6000 tokens (the burst) allowed" eq "$(chk u1 6000)" "True|within limits|None"
check "5999 tokens allowed" eq "$(chk u1 5999)" "True|within limits|None"
check "a third request allowed" eq "$(chk u1 0)" "True|within limits|None"
out=$(chk u1 0)
check "the fourth: the per-user rule, with a wait" eq "${out%|*}" "False|rate limit: per user 3 requests per minute"
# a wait of one emission interval (20 s) less the time since the first
check "the fourth: a wait" num "${out##*|}" ">" 0
check "the fourth: a wait of at most 20 s" num "${out##*|}" "<=" 20
check "the same request later still denied, never a stale hint" eq "$(chk u1 7000)" "$never"

# --- a reload keeps the buckets of the rules it keeps --------------------------
# The same two rules in another order, and a new one: u1 stays spent.
rules '{"scope": "global", "requests_per_second": 100}, {"scope": "user", "requests_per_minute": 3}, {"scope": "global", "tokens_per_minute": 6000}'
kill -HUP "$(cat "$W/d.pid")"
i=0; until grep -q '"msg":"reloaded"' "$W/d.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
out=$(chk u1 0)
check "after the reload u1 is still limited" eq "${out%|*}" "False|rate limit: per user 3 requests per minute"
check "after the reload u2 is not" eq "$(chk u2 0)" "True|within limits|None"
# A changed rule starts afresh.
grep -c '"msg":"reloaded"' "$W/d.log" > "$W/n"
rules '{"scope": "user", "requests_per_minute": 4}'
kill -HUP "$(cat "$W/d.pid")"
i=0; until [ "$(grep -c '"msg":"reloaded"' "$W/d.log")" -gt "$(cat "$W/n")" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
check "a changed rule: u1 has a fresh bucket" eq "$(chk u1 0)" "True|within limits|None"

kill -TERM "$(cat "$W/d.pid")"; wait "$(cat "$W/d.pid")"; rc=$?; rm -f "$W/d.pid"
check "daemon exits 0 (it ran throughout)" eq "$rc" 0
finish
