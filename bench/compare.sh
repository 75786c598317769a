#!/bin/sh
# bench/compare.sh [EVENTS] [REPS] [SINGLE_SECONDS] — starts a throwaway
# PostgreSQL 15 on loopback (default configuration, fsync on), runs
# bench_compare against it, writes the table to $RESULTS_MD (default
# bench/RESULTS.md, the committed full run), and stops PostgreSQL.
set -eu
cd "$(dirname "$0")/.."
EVENTS=${1:-1000000}
REPS=${2:-5}
SINGLE=${3:-10}
DIR=${BENCH_DIR:-/var/tmp}
OUT=${RESULTS_MD:-bench/RESULTS.md}
PGDIR=$(mktemp -d "$DIR/tm-pg.XXXXXX")
trap 'sh scripts/pg.sh stop "$PGDIR"' EXIT
URL=$(sh scripts/pg.sh start "$PGDIR")
PORT=${URL##*:}; PORT=${PORT%%/*}
echo "compare: PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}') on 127.0.0.1:$PORT (fsync $(psql "$URL" -Atc 'show fsync'))" >&2
./build/bench_compare "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" "$DIR" "$EVENTS" "$REPS" "$SINGLE" "$OUT"

# Peak memory of the daemon serving the guide's queries over the loaded store.
TPORT=$((PORT + 1))
./build/tokmeter --db "$DIR/compare-tokmeter.db" serve --listen "127.0.0.1:$TPORT" --quiet --log-level warn &
TPID=$!
sleep 1
for q in "group_by=provider&from=2026-10-02&to=2026-11-01" "interval=day&group_by=provider&from=2026-10-02&to=2026-11-01" \
         "group_by=provider&from=2026-10-25&to=2026-11-01" "from=2026-10-25&to=2026-11-01" \
         "interval=day&where=user_id:user-00000&from=2026-10-01&to=2026-11-01" \
         "group_by=user_id&order_by=cost_usd&limit=10&from=2026-10-02&to=2026-11-01"; do
    curl -s -o /dev/null "http://127.0.0.1:$TPORT/v1/usage?$q"
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$TPID/status")
kill -TERM $TPID; wait $TPID || true
printf '\nPeak memory (VmHWM) of `tokmeter serve` with the %s events loaded, after answering the six queries over HTTP: %s MiB.\n' "$EVENTS" "$((hwm / 1024))" >> "$OUT"
echo "compare: daemon peak memory $((hwm / 1024)) MiB" >&2
cat "$OUT"
