#!/bin/sh
# scripts/pg.sh — a throwaway PostgreSQL 15 (Debian's) on loopback, for the
# tests and benchmarks: a temporary data directory, a free port, its unix
# socket inside that directory, trust authentication, stopped at the end.
# As root it runs the server as the postgres user.
#
#   sh scripts/pg.sh start DIR    initdb into DIR and start; prints the URL
#   sh scripts/pg.sh stop DIR     stop it and remove DIR
#   sh scripts/pg.sh halt DIR     stop it, keeping DIR (a server restart)
#   sh scripts/pg.sh resume DIR   start it again on its port
#   sh scripts/pg.sh run CMD...   start in a new temporary directory, run CMD
#                                 with TOKMETER_PG_URL set, stop; CMD's status
#
# Extra server settings: PG_OPTS (e.g. "-c fsync=off" for a throwaway run).
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- sh -c "$1"; else sh -c "$1"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    dir=$1
    [ -x "$PGBIN/initdb" ] || { echo "pg.sh: $PGBIN/initdb not found (install postgresql-15)" >&2; exit 1; }
    mkdir -p "$dir" # its parents must be searchable by the server's user
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_owner "$PGBIN/initdb -D '$dir/data' -A trust -U postgres >'$dir/initdb.log' 2>&1" ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    as_owner "$PGBIN/pg_ctl -D '$dir/data' -l '$dir/log' -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 ${PG_OPTS:-}\" -w start >/dev/null" ||
        { cat "$dir/log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres" > "$dir/url"
    cat "$dir/url"
}

stop() {
    dir=$1
    [ -d "$dir/data" ] && as_owner "$PGBIN/pg_ctl -D '$dir/data' -m fast -w stop >/dev/null 2>&1" || true
    rm -rf "$dir"
}

halt() {
    as_owner "$PGBIN/pg_ctl -D '$1/data' -m fast -w stop >/dev/null"
}

resume() {
    dir=$1
    port=$(sed 's#.*:\([0-9]*\)/.*#\1#' "$dir/url")
    as_owner "$PGBIN/pg_ctl -D '$dir/data' -l '$dir/log' -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 ${PG_OPTS:-}\" -w start >/dev/null" ||
        { cat "$dir/log" >&2; exit 1; }
}

case "${1:-}" in
start) start "$2" ;;
stop) stop "$2" ;;
halt) halt "$2" ;;
resume) resume "$2" ;;
run)
    shift
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tm-pg.XXXXXX")
    trap 'stop "$dir"' EXIT INT TERM
    TOKMETER_PG_URL=$(start "$dir")
    export TOKMETER_PG_URL
    set +e
    "$@"
    rc=$?
    exit $rc
    ;;
*) echo "usage: scripts/pg.sh start DIR | stop DIR | halt DIR | resume DIR | run CMD..." >&2; exit 64 ;;
esac
