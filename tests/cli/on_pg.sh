#!/bin/sh
# tests/cli/on_pg.sh — the quota, rate-limit and alert scripts again with
# PostgreSQL as the store (one test list, two backends): a throwaway
# PostgreSQL 15 on loopback (scripts/pg.sh), each script's stores as
# schemas of it (TM_TEST_PG; `st` in tests/cli/lib.sh).
set -u
cd "$(dirname "$0")/../.."
PG_SCRIPTS="policy alerts"
sh scripts/pg.sh run sh -c '
    failed=
    for t in '"$PG_SCRIPTS"'; do
        echo "sh tests/cli/$t.sh (PostgreSQL)"
        TM_TEST_PG=$TOKMETER_PG_URL sh tests/cli/$t.sh || failed="$failed $t"
    done
    [ -z "$failed" ] || { echo "on_pg: failed:$failed"; exit 1; }'
