#!/bin/sh
# bench/pgscale.sh [EVENTS] [SINGLE_SECONDS] [REPS] — tokmeter's PostgreSQL
# store with 1, 2 and 3 daemons beside the seed guide's design, on one
# throwaway PostgreSQL 15 on loopback (default configuration, fsync on;
# scripts/pg.sh), stopped at the end. Writes the table to $OUT (default
# bench/PG-table.md). With BEFORE=path/to/another/bench_pgscale (the same
# bench linked with another build), runs both for each number of daemons,
# alternating, into $OUT and $OUT_BEFORE (PGSCALE_BATCH: events per commit
# at most, default 65,536; BEFORE_BATCH the same for the other build).
set -eu
cd "$(dirname "$0")/.."
EVENTS=${1:-200000}
SINGLE=${2:-5}
REPS=${3:-5}
DIR=${BENCH_DIR:-/var/tmp}
OUT=${OUT:-bench/PG-table.md}
OUT_BEFORE=${OUT_BEFORE:-bench/PG-table-before.md}
PGDIR=$(mktemp -d "$DIR/tm-pg.XXXXXX")
trap 'sh scripts/pg.sh stop "$PGDIR"' EXIT
URL=$(sh scripts/pg.sh start "$PGDIR")
PORT=${URL##*:}; PORT=${PORT%%/*}
CONN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
echo "pgscale: PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}') on 127.0.0.1:$PORT, $EVENTS events, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
HEADER='| daemons | workload | unit | tokmeter | seed design | × |\n|---|---|---|---|---|---|\n'
printf "$HEADER" > "$OUT"
[ -n "${BEFORE:-}" ] && printf "$HEADER" > "$OUT_BEFORE"
for d in 1 2 3; do
    if [ -n "${BEFORE:-}" ]; then
        PGSCALE_BATCH=${BEFORE_BATCH:-${PGSCALE_BATCH:-}} "$BEFORE" "$CONN" "$URL" "$EVENTS" "$SINGLE" "$REPS" $d $d "$OUT_BEFORE" ||
            echo "| $d | (the other build failed: see the log) | | | | |" >> "$OUT_BEFORE"
    fi
    ./build/bench_pgscale "$CONN" "$URL" "$EVENTS" "$SINGLE" "$REPS" $d $d "$OUT"
    echo "pgscale: $d daemons done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
cat "$OUT"
