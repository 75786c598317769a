#!/bin/sh
# Runs each libFuzzer target (build/fuzz/<target>, built by `make fuzz`) for
# SECONDS seconds over its committed seeds (tests/fuzz/corpus/<target>, read
# only) and its working corpus (build/fuzz/corpus/<target>, where new inputs
# go), one after the other, and prints per target the executions, the
# coverage (edges, features) and the corpus size. A crash, leak, sanitizer
# report or timeout fails the run; the input that caused it is left in
# build/fuzz/crash/ and its path printed: fix the bug and commit the input to
# tests/fuzz/corpus/<target>/ as a regression.
#
#   sh scripts/fuzz.sh SECONDS TARGET...
set -u
secs=$1; shift
mkdir -p build/fuzz/crash build/fuzz/log
failed=""
for t in "$@"; do
    mkdir -p "build/fuzz/corpus/$t"
    log="build/fuzz/log/$t.log"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "build/fuzz/$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/crash/$t-" \
        "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    printf 'fuzz %-12s %6ss  %10s runs  cov %5s  ft %6s  corpus %5s' "$t" "$secs" "${runs:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}"
    if [ "$rc" -ne 0 ]; then
        echo "  FAILED (exit $rc), log $log"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|fuzz: |^[a-z_]+: ' "$log" | head -20
        failed="$failed $t"
    else
        echo "  ok"
    fi
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed"; exit 1; }
