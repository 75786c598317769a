#!/bin/sh
# tests/cli/redis.sh — rate limits shared through a real redis-server on
# loopback: two daemons with the config's "redis" enforce one limit (without
# it, each its own); with Redis hung (SIGSTOP) checks and events answer
# within bounded time; with Redis stopped mid-run they answer at once from
# local limits that go on from the shared state, log it, and still store
# events. Then a Redis with a password and an ACL user: the right ones
# share the limit, a wrong one is logged once with Redis's reason and local
# limits apply; outages at start and recoveries are logged once each; no
# password is ever shown.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
W=$(mktemp -d /tmp/tmredis.XXXXXX)
trap 'kill -KILL $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$W"' EXIT
redis_start

# 6 a minute: a burst of 6, then one each 10 s (the test's checks take less).
for mode in shared local; do
    r=""; [ "$mode" = shared ] && r=", \"redis\": \"redis://127.0.0.1:$RP\""
    printf '{"rate_limits": [{"scope": "global", "requests_per_minute": 6}]%s}\n' "$r" > "$W/$mode.json"
done
start() { # name config
    p=$(free_port)
    ${TMD:-$TM} --db "$W/s.db" --config "$W/$2.json" serve --listen "127.0.0.1:$p" 2>"$W/$1.log" &
    echo $! > "$W/$1.pid"; echo "$p" > "$W/$1.port"
    i=0; until curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
}
stop() { # name: its exit status in $W/name.rc
    kill -TERM "$(cat "$W/$1.pid")"; wait "$(cat "$W/$1.pid")" 2>/dev/null; echo $? > "$W/$1.rc"; rm -f "$W/$1.pid"; }
allowed() { # N checks alternating over the daemons named after N
    n=$1; shift; k=0; c=0
    while [ $k -lt "$n" ]; do
        for d in "$@"; do
            curl -s "http://127.0.0.1:$(cat "$W/$d.port")/v1/check" -d '{"user_id":"u1"}' | grep -q '"allowed": true' && c=$((c + 1))
            k=$((k + 1))
        done
    done
    echo $c
}

start a local; start b local
check "without redis: each daemon its own limit (6 + 6 of 12)" eq "$(allowed 12 a b)" 12
stop a; stop b

start a shared; start b shared
check "with redis: one limit for both daemons (6 of 12)" eq "$(allowed 12 a b)" 6
out=$(redis-cli -p "$RP" --scan --pattern 'tokmeter:gcra:*')
check "the state is in redis" eq "$out" "tokmeter:gcra:0|r|0.1|6|||"
out=$(curl -s "http://127.0.0.1:$(cat "$W/a.port")/v1/check" -d '{"user_id":"u1"}')
check "a denial names the rule" has "$out" "rate limit: global 6 requests per minute"
check "a denial says how long to wait" has "$out" '"retry_after_s": '

# Redis hangs (SIGSTOP): checks and events still answer within bounded time
# (100 ms per Redis call, then Redis is left alone for a second).
kill -STOP "$(cat "$W/redis.pid")"
t0=$(date +%s%N)
code=$(curl -s -o "$W/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(cat "$W/a.port")/v1/events" \
       -d '{"id":"h1","provider":"openai","model":"gpt-4o","user_id":"u1","input_tokens":5}')
t1=$(date +%s%N)
check "redis hung: an event stored" eq "$code" 200
check "redis hung: the event answered within 1 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 1000
t0=$(date +%s%N)
out=$(allowed 4 b); t1=$(date +%s%N)
check "redis hung: 4 checks within 2 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2000
kill -CONT "$(cat "$W/redis.pid")"

# Redis stops: answers come at once from each daemon's local limiter.
kill -TERM "$(cat "$W/redis.pid")"; wait "$(cat "$W/redis.pid")" 2>/dev/null; rm -f "$W/redis.pid"
t0=$(date +%s%N)
out=$(allowed 8 a); t1=$(date +%s%N)
# Daemon a copied the shared state from each Redis answer: the 6 were spent
# through Redis, so locally it goes on from an empty bucket (one each 10 s),
# not from a full one (6 more).
check "redis down: daemon a goes on from the shared state (at most 1 of 8, not 6)" test "$out" -le 1
check "redis down: 8 checks within 4 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 4000
check "redis down: logged" has "$(cat "$W/a.log")" "Redis failed; local limits meanwhile"
code=$(curl -s -o "$W/body" -w '%{http_code}' "http://127.0.0.1:$(cat "$W/b.port")/v1/events" \
       -d '{"id":"r1","provider":"openai","model":"gpt-4o","user_id":"u1","input_tokens":5}')
check "redis down: events still stored" eq "$code/$(cat "$W/body")" '200/{"accepted":1,"duplicates":0,"rejected":[]}'
stop a; stop b
check "the event is in the store" eq "$(sqlite3 "$W/s.db" "SELECT COUNT(*) FROM events WHERE id = 'r1'")" 1

# Redis with a password (requirepass; '@', ':' and '/' in it, percent-
# encoded in the URL) and a Redis 6 ACL user.
PW='s3cr@t:pw/x'; PWE='s3cr%40t%3Apw%2Fx'
export REDISCLI_AUTH="$PW"
redis_start --requirepass "$PW" --user tmuser on '>tm-pass' '~*' '&*' '+@all'
cfg() { printf '{"rate_limits": [{"scope": "global", "requests_per_minute": 6}], "redis": "%s"}\n' "$2" > "$W/$1.json"; }
cfg auth "redis://:$PWE@127.0.0.1:$RP"
cfg acl "redis://tmuser:tm-pass@127.0.0.1:$RP/"
cfg wrong "redis://:wrong-Secret9@127.0.0.1:$RP"
TMD=./build/asan/tokmeter # ASan and UBSan watch AUTH and the log hooks
start a auth; start b acl
check "password: one limit for both daemons, one by password, one by ACL user (6 of 12)" eq "$(allowed 12 a b)" 6
check "password: the state is in redis" eq "$(redis-cli -p "$RP" --scan --pattern 'tokmeter:gcra:*')" "tokmeter:gcra:0|r|0.1|6|||"
check "password: no failure logged" eq "$(cat "$W/a.log" "$W/b.log" | grep -c 'Redis failed')" 0
start c wrong
check "wrong password: failure logged at start, before any check" has "$(cat "$W/c.log")" "rate limits: Redis failed; local limits meanwhile"
check "wrong password: local limits (6 of 8 on a bucket of its own)" eq "$(allowed 8 c)" 6
sleep 1.2; allowed 2 c >/dev/null # retries after a second: still once
check "wrong password: the limiter's failure logged once" eq "$(grep -c 'rate limits: Redis failed' "$W/c.log")" 1
check "wrong password: the notifier's failure logged once" eq "$(grep -c 'change notifications: Redis failed' "$W/c.log")" 1
check "wrong password: Redis's reason logged" has "$(grep 'rate limits: Redis failed' "$W/c.log")" "WRONGPASS invalid username-password pair"
for d in a b c; do curl -s "http://127.0.0.1:$(cat "$W/$d.port")/metrics" > "$W/$d.metrics"; done
check "the metrics answered" has "$(cat "$W/a.metrics")" "tokmeter_notify_up 1"
check "wrong password: the metrics say notifications are down" has "$(cat "$W/c.metrics")" "tokmeter_notify_up 0"
stop c

# Redis stops and comes back: each failure and each recovery logged once;
# a daemon started meanwhile logs the outage at start.
kill -TERM "$(cat "$W/redis.pid")"; wait "$(cat "$W/redis.pid")" 2>/dev/null; rm -f "$W/redis.pid"
allowed 1 a >/dev/null
start d auth
sleep 0.3
check "redis down at start: the limiter's failure logged before any check" has "$(cat "$W/d.log")" "rate limits: Redis failed; local limits meanwhile"
check "redis down at start: the notifier's failure logged" has "$(cat "$W/d.log")" "change notifications: Redis failed"
redis_start --requirepass "$PW" --user tmuser on '>tm-pass' '~*' '&*' '+@all'
i=0; until grep -q 'change notifications: Redis reachable again' "$W/d.log" || [ $i -ge 60 ]; do sleep 0.05; i=$((i + 1)); done
for d in a d; do
    allowed 1 "$d" >/dev/null
    check "redis back: $d logs the limiter's recovery once" eq "$(grep -c 'rate limits: Redis reachable again; shared limits resumed' "$W/$d.log")" 1
    check "redis back: $d logs the notifier's recovery once" eq "$(grep -c 'change notifications: Redis reachable again' "$W/$d.log")" 1
done
check "redis back: a logged one outage of the limiter" eq "$(grep -c 'rate limits: Redis failed' "$W/a.log")" 1
check "redis back: the state is in redis again" eq "$(redis-cli -p "$RP" --scan --pattern 'tokmeter:gcra:*')" "tokmeter:gcra:0|r|0.1|6|||"
for d in a b d; do curl -s "http://127.0.0.1:$(cat "$W/$d.port")/metrics" >> "$W/$d.metrics"; done
stop a; stop b; stop d
check "the daemons (ASan) stopped cleanly" eq "$(cat "$W/a.rc" "$W/b.rc" "$W/c.rc" "$W/d.rc" | tr '\n' ' ')" "0 0 0 0 "
for secret in "$PW" "$PWE" 's3cr' wrong-Secret9 tm-pass; do
    check "the password ($secret) is in no log and no metrics" eq "$(cat "$W"/[abcd].log "$W"/*.metrics | grep -c -F -- "$secret")" 0
done

printf '{"redis": "http://x"}\n' > "$W/bad.json"
out=$($TM --db "$W/s.db" --config "$W/bad.json" report 2>&1); rc=$?
check "a bad redis URL is refused" eq "$rc" 1
check "a bad redis URL names the key and the reason" has "$out" "redis: must start with redis://, in 'http://x'"
printf '{"redis": "rediss://:hunter2@127.0.0.1:6380"}\n' > "$W/bad.json"
out=$($TM --db "$W/s.db" --config "$W/bad.json" report 2>&1); rc=$?
check "rediss:// is refused" eq "$rc" 1
check "rediss:// is refused as TLS, saying what to do" has "$out" "redis: TLS (rediss://) is not supported: reach Redis through a TLS tunnel (stunnel)"
check "a refused URL is shown masked" has "$out" "'rediss://:***@127.0.0.1:6380'"
printf '{"redis": "redis://:hunter2@:6379"}\n' > "$W/bad.json"
out=$($TM --db "$W/s.db" --config "$W/bad.json" report 2>&1)
check "a URL without a host is refused" has "$out" "redis: the host is missing, in 'redis://:***@:6379'"
check "a refused URL never shows the password" eq "$(printf '%s' "$out" | grep -c hunter2)" 0

finish
