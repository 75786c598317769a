#!/bin/sh
# tests/fault/powercut.sh — power cuts under a store acknowledging events
# (build/tm_powercut, tests/fault/powercut.c): POWERCUT_CYCLES cuts (default
# 30; `make soak` runs 1,000), every acknowledged event must be there after
# each and `verify` must pass. Then FAULT_CYCLES (default 30; `make soak`
# 600: each kind at each of the first 150 steps) with an injected ENOSPC or
# EIO before the cut: the failed call must report the cause, its retry must
# store, and still nothing acknowledged may be lost. Then the control: the
# same program on a disk that lies about syncs must report lost events, or
# the test proves nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
# The shim decides what survives, so the real disk's speed does not matter:
# tmpfs when there is one.
T=/tmp; [ -w /dev/shm ] && T=/dev/shm
W=$(mktemp -d $T/tmcut.XXXXXX)
trap 'rm -rf "$W"' EXIT
cycles=${POWERCUT_CYCLES:-30}
seed=${POWERCUT_SEED:-$$}

mkdir "$W/real"
out=$(./build/tm_powercut "$W/real" "$cycles" "$seed" 2>"$W/err"); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || head -30 "$W/err" >&2
check "power cuts: exit 0" eq "$rc" 0
check "power cuts: $cycles cycles, each a cut" has "$out" "$cycles cycles, $cycles power cuts"
check "power cuts: nothing lost" has "$out" ", 0 lost,"
check "power cuts: events were acknowledged" test "$(echo "$out" | sed -n 's/.* \([0-9]*\) events acknowledged.*/\1/p')" -gt 0
./build/tokmeter --db "$W/real/store.db" verify >"$W/verify" 2>&1
check "power cuts: tokmeter verify exits 0" eq "$?" 0

fcycles=${FAULT_CYCLES:-30}
mkdir "$W/faults"
out=$(./build/tm_powercut --faults "$W/faults" "$fcycles" "$seed" 2>"$W/err"); rc=$?
echo "$out" | tail -2
[ "$rc" -eq 0 ] || { echo "$out"; head -30 "$W/err"; } >&2
check "faults then cuts: exit 0" eq "$rc" 0
check "faults then cuts: nothing lost" has "$out" ", 0 lost,"
check "faults then cuts: faults fired" test "$(echo "$out" | sed -n 's/^powercut: \([0-9]*\) faults injected.*/\1/p')" -gt 0
check "faults then cuts: some reported as errors" test "$(echo "$out" | sed -n 's/.*injected, \([0-9]*\) reported.*/\1/p')" -gt 0
check "faults then cuts: each error names the cause" eq "$(echo "$out" | grep 'fault reported' | grep -cv 'disk full\|I/O error')" 0
check "faults then cuts: no 'cannot rollback' (issue 12, defect 6)" eq "$(echo "$out" | grep -c 'cannot rollback')" 0

mkdir "$W/lie"
out=$(./build/tm_powercut --lying-disk "$W/lie" 3 "$seed" 2>/dev/null); rc=$?
check "control (lying disk): exit 1" eq "$rc" 1
check "control (lying disk): events lost" test "$(echo "$out" | sed -n 's/.* \([0-9]*\) lost.*/\1/p')" -gt 0
finish
