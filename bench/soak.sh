#!/bin/sh
# bench/soak.sh — the daemon soak (bench/soak.py): SOAK_SECONDS (default
# 3600) of mixed ingest, queries, checks, SIGHUP reloads and key changes
# against build/tokmeter, RSS and descriptors sampled; fails on growth past
# the bound soak.py states, any 5xx, or a lost event. The work directory
# (store, log, samples.tsv) is kept when SOAK_DIR names one.
set -u
cd "$(dirname "$0")/.."
W=${SOAK_DIR:-$(mktemp -d /tmp/tmsoak.XXXXXX)}
mkdir -p "$W"
[ -n "${SOAK_DIR:-}" ] || trap 'rm -rf "$W"' EXIT
python3 bench/soak.py "$W"
