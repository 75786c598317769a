#!/bin/sh
# bench/longruns.sh — the long runs behind bench/LONGRUNS.md, all at nice 19
# in the background of a shared machine:
#   start    each fuzz target for FUZZ_SECONDS (default 3600), all at once;
#            one POWERCUT_CYCLES (1,000) power-cut loop and one of 600 with
#            faults (in /dev/shm: the VFS shim decides what survives, so the
#            disk's fsync only slows it); a SOAK_SECONDS (3600) soak. Logs
#            go to build/longruns/.
#   report   the figures so far (executions, coverage and corpus per target;
#            cycles, events acknowledged and lost; soak RSS and fds), for
#            bench/LONGRUNS.md.
# Build first: make build/tokmeter build/tm_powercut and the fuzz targets.
set -u
cd "$(dirname "$0")/.."
L=build/longruns
TARGETS="event_json http query prices config claude_code codex opencode"
case "${1:-}" in
start)
    mkdir -p "$L" build/fuzz/crash
    git rev-parse --short HEAD > "$L/commit"
    date -u +%Y-%m-%dT%H:%MZ > "$L/started"
    for t in $TARGETS; do
        mkdir -p "build/fuzz/corpus/$t"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
            nohup nice -n 19 "build/fuzz/$t" -max_total_time="${FUZZ_SECONDS:-3600}" -timeout=25 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build/fuzz/crash/long-$t-" \
            "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$L/fuzz-$t.log" 2>&1 &
    done
    T=/tmp; [ -w /dev/shm ] && T=/dev/shm
    (nohup nice -n 19 ./build/tm_powercut "$T/tmlong-cut" "${POWERCUT_CYCLES:-1000}" 20261201 \
        >"$L/powercut.out" 2>"$L/powercut.err"; rm -rf "$T/tmlong-cut") &
    (nohup nice -n 19 ./build/tm_powercut --faults "$T/tmlong-faults" 600 20261202 \
        >"$L/powercut-faults.out" 2>"$L/powercut-faults.err"; rm -rf "$T/tmlong-faults") &
    mkdir -p "$L/soak"
    SOAK_DIR="$L/soak" SOAK_SECONDS="${SOAK_SECONDS:-3600}" nohup nice -n 19 sh bench/soak.sh \
        >"$L/soak.out" 2>&1 &
    echo "longruns: started at $(cat "$L/started"), logs in $L"
    ;;
report)
    echo "Commit $(cat "$L/commit"), started $(cat "$L/started"), reported $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "| fuzz target | seconds | executions | cov (edges) | ft (features) | corpus | crashes |"
    echo "|---|---|---|---|---|---|---|"
    for t in $TARGETS; do
        f="$L/fuzz-$t.log"
        last=$(grep -E '^#[0-9]+' "$f" | tail -1)
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$f")
        [ -n "$runs" ] || runs="$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p') (running)"
        n=$(ls build/fuzz/crash/long-"$t"-* 2>/dev/null | wc -l)
        echo "| $t | ${FUZZ_SECONDS:-3600} | $runs | $(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p') | $(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p') | $(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p') | $n |"
    done
    echo
    for f in powercut powercut-faults; do
        echo "$f:"
        if [ -s "$L/$f.out" ]; then sed 's/^/    /' "$L/$f.out"; else echo "    running"; fi
        echo "    problem lines on stderr: $(grep -c 'missing\|verify failed\|not by the power cut\|writer:' "$L/$f.err" 2>/dev/null)"
    done
    echo
    echo "Soak:"
    sed 's/^/    /' "$L/soak.out"
    ;;
*)
    echo "usage: sh bench/longruns.sh start|report" >&2
    exit 2
    ;;
esac
