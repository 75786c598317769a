#!/bin/sh
# bench/run.sh — runs every benchmark and prints the figures.
set -eu
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/var/tmp}
./build/bench_ingest "$dir" "${BENCH_EVENTS:-1000000}"
./build/bench_query "$dir" "${BENCH_QUERY_EVENTS:-10000000}"
# HTTP ingest: the daemon on loopback, a fresh store, then stopped.
rm -f "$dir/bench-http.db" "$dir/bench-http.db-wal" "$dir/bench-http.db-shm"
./build/tokmeter --db "$dir/bench-http.db" serve --listen 127.0.0.1:18799 --quiet --log-level warn &
pid=$!
sleep 1
./build/bench_http 18799 batch 8 "${BENCH_SECONDS:-10}"
./build/bench_http 18799 single 64 "${BENCH_SECONDS:-10}"
kill -TERM $pid; wait $pid
./build/bench_check "$dir" 1000
# /v1/check over HTTP, on the store bench_check left behind
./build/tokmeter --db "$dir/bench-check.db" --config "$dir/bench-check.json" serve --listen 127.0.0.1:18798 --quiet --log-level warn &
pid=$!
sleep 1
./build/bench_http 18798 check 8 "${BENCH_SECONDS:-10}"
kill -TERM $pid; wait $pid
./build/bench_alerts "$dir"
