#!/bin/sh
# bench/run.sh — runs every benchmark and prints the figures.
set -eu
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/var/tmp}
./build/bench_ingest "$dir" "${BENCH_EVENTS:-1000000}"
./build/bench_query "$dir" "${BENCH_QUERY_EVENTS:-10000000}"
