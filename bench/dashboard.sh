#!/bin/sh
# bench/dashboard.sh — the dashboard over a large store, as the page uses it.
#
#   sh bench/dashboard.sh [EVENTS] [DIR] [TZ]   (default 10,000,000,
#                                               /var/tmp/tokmeter-dash, UTC)
#
# Makes bench_query's store (EVENTS events over the 90 days up to the start
# of tomorrow, UTC, so the page's presets, which end now, cover it; made
# once, then reused: remove DIR to make it again), starts the daemon on it,
# and runs bench/dashboard.mjs: each view's first render in Chromium with
# the page's defaults (and the by-user views at 30 and 90 days), then every
# API call those pages made, timed again (RUNS, default 50): p50 and p99,
# and the daemon's CPU time per call.
# TM=path runs another tokmeter binary (a before/after comparison).
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000000}
dir=${2:-/var/tmp/tokmeter-dash}
tz=${3:-UTC}
mkdir -p "$dir"
db="$dir/bench-query-$n.db"
if [ ! -f "$db" ]; then
    BENCH_END=$(date -u -d tomorrow +%F) ./build/bench_query "$dir" "$n" gen
fi
port=18797
while curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; do port=$((port + 1)); done
${TM:-./build/tokmeter} --db "$db" serve --listen 127.0.0.1:$port --quiet --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' EXIT
trap 'exit 1' INT TERM
i=0; until curl -s "http://127.0.0.1:$port/readyz" | grep -q ok || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
# The daemon loads its rollups on the first query, the user cells on the
# first by-user one: both before the timing.
curl -s -o /dev/null "http://127.0.0.1:$port/v1/usage"
curl -s -o /dev/null "http://127.0.0.1:$port/v1/usage?group_by=user_id&limit=1&order_by=events&from=$(date -u -d '-2 days' +%F)&to=$(date -u +%F)&tz=UTC"
echo "dashboard over $n events ($(du -h "$db" | cut -f1) store, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC)"
node bench/dashboard.mjs "http://127.0.0.1:$port" "$tz" "$pid"
