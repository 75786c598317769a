#!/bin/sh
# bench/run.sh — every benchmark, printing its figures; `make bench` runs it.
# QUICK=1: small sizes, under 2 minutes. Otherwise the full sizes (10M-event
# queries, 1M-event ingest; tens of minutes). The side-by-side comparison
# writes bench/RESULTS.md on a full run, and $dir/RESULTS-quick.md with QUICK=1
# (the committed full-size table is never overwritten by a quick run).
set -eu
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/var/tmp}
if [ "${QUICK:-}" = 1 ]; then
    ingest=100000 query=300000 secs=3 compare=100000 reps=5 single=3
else
    ingest=1000000 query=10000000 secs=10 compare=10000000 reps=5 single=10
fi
./build/bench_ingest "$dir" "$ingest"
./build/bench_query "$dir" "$query"
# HTTP ingest: the daemon on loopback, a fresh store, then stopped.
rm -f "$dir/bench-http.db" "$dir/bench-http.db-wal" "$dir/bench-http.db-shm"
./build/tokmeter --db "$dir/bench-http.db" serve --listen 127.0.0.1:18799 --quiet --log-level warn &
pid=$!
sleep 1
./build/bench_http 18799 batch 8 "$secs"
./build/bench_http 18799 single 64 "$secs"
kill -TERM $pid; wait $pid
./build/bench_check "$dir" 1000
./build/tokmeter --db "$dir/bench-check.db" --config "$dir/bench-check.json" serve --listen 127.0.0.1:18798 --quiet --log-level warn &
pid=$!
sleep 1
./build/bench_http 18798 check 8 "$secs"
kill -TERM $pid; wait $pid
./build/bench_alerts "$dir"
# The gateway: the fake upstream straight and through tokmeter's proxy.
BENCH_DIR="$dir" SECS=$secs sh bench/proxy.sh
# Claude Code logs: tokmeter import + report against ccusage.
if [ "${QUICK:-}" = 1 ]; then sh bench/import.sh 100000 "$dir"; else sh bench/import.sh 1000000 "$dir"; fi
# tokmeter against PostgreSQL (the seed's design) and plain SQLite.
if [ "${QUICK:-}" = 1 ]; then
    RESULTS_MD="$dir/RESULTS-quick.md" sh bench/compare.sh "$compare" "$reps" "$single"
else
    sh bench/compare.sh "$compare" "$reps" "$single"
fi
