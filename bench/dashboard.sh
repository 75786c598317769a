#!/bin/sh
# bench/dashboard.sh — the dashboard's API calls over a large store.
#
#   sh bench/dashboard.sh [EVENTS] [DIR]     (default 10,000,000, /var/tmp)
#
# Uses bench_query's store (EVENTS events over the 90 days before
# 2026-11-01; generated once), starts the daemon on it, and times each call
# each view makes for a 30-day range by day (the calls of web/src/views.js,
# with curl's time_total: request to last byte on loopback), 50 runs each,
# p50 and p99. Then the page's first render in Chromium, per view, over
# the 90-day preset (bench/render.mjs).
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000000}
dir=${2:-/var/tmp}
runs=${RUNS:-50}
[ -f "$dir/bench-query-$n.db" ] || ./build/bench_query "$dir" "$n" >/dev/null
db="$dir/bench-query-$n.db"
port=18797
./build/tokmeter --db "$db" serve --listen 127.0.0.1:$port --quiet --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' EXIT
trap 'exit 1' INT TERM
i=0; until curl -s "http://127.0.0.1:$port/readyz" | grep -q ok || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
curl -s -o /dev/null "http://127.0.0.1:$port/v1/usage"   # loads the rollups
U="http://127.0.0.1:$port"
R="from=2026-10-02T00:00:00Z&to=2026-11-01T00:00:00Z&tz=UTC"
P="from=2026-09-02T00:00:00Z&to=2026-10-02T00:00:00Z&tz=UTC"
echo "dashboard API calls over $n events (30 days by day, $runs runs each, loopback, 2 cores)"
# One warm-up call, then $runs timed calls (fewer once 30 s have passed);
# p99 of 50 runs is the slowest but one.
time_call() { # NAME PATH
    curl -s -o /dev/null "$U$2"
    start=$(date +%s)
    for _ in $(seq "$runs"); do
        curl -s -o /dev/null -w '%{time_total}\n' "$U$2"
        [ $(($(date +%s) - start)) -gt 30 ] && break
    done | python3 -c "
import sys
v = sorted(float(x) * 1000 for x in sys.stdin)
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print('  %-44s p50 %8.2f ms   p99 %8.2f ms   (%d runs)' % (sys.argv[1], p(0.5), p(0.99), len(v)))" "$1"
}
echo "overview"
time_call "totals" "/v1/usage?$R"
time_call "totals, previous period" "/v1/usage?$P"
time_call "cost by day and provider" "/v1/usage?$R&interval=day&group_by=provider"
time_call "month so far" "/v1/usage?from=2026-10-01&to=2026-11-01&tz=UTC"
echo "breakdowns (by model; by user)"
time_call "by model, ordered by cost" "/v1/usage?$R&group_by=model&order_by=cost_usd&limit=500"
time_call "by model and day (sparklines)" "/v1/usage?$R&group_by=model&interval=day"
time_call "by user, ordered by cost" "/v1/usage?$R&group_by=user_id&order_by=cost_usd&limit=500"
time_call "by user and day (sparklines)" "/v1/usage?$R&group_by=user_id&interval=day"
echo "latency and errors"
time_call "percentiles by day" "/v1/usage?$R&interval=day"
time_call "percentiles by day and provider" "/v1/usage?$R&interval=day&group_by=provider"
time_call "latency table by provider" "/v1/usage?$R&group_by=provider&order_by=requests&limit=50"
time_call "top errors by provider and model" "/v1/usage?$R&group_by=provider,model&order_by=errors&limit=10"
echo "users"
time_call "top 50 users by cost" "/v1/usage?$R&group_by=user_id&order_by=cost_usd&limit=50"
time_call "one user's month (the heaviest)" "/v1/users/user-00000/usage?period=2026-10&tz=UTC"
time_call "one user's quota" "/v1/users/user-00000/quota"
echo "alerts"
time_call "firing" "/v1/alerts?firing=1"
time_call "history" "/v1/alerts?limit=50"
echo "live"
time_call "24 hours by hour" "/v1/usage?from=2026-10-31T00:00:00Z&to=2026-11-01T00:00:00Z&tz=UTC&interval=hour"
time_call "the current hour (each refresh)" "/v1/usage?from=2026-10-31T23:00:00Z&to=2026-11-01T00:00:00Z&tz=UTC&interval=hour"
if [ -x /usr/bin/chromium ] && [ -d web/node_modules/playwright-core ]; then
    node bench/render.mjs "$U"
fi
