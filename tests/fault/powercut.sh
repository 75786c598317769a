#!/bin/sh
# tests/fault/powercut.sh — power cuts under a store acknowledging events
# (build/tm_powercut, tests/fault/powercut.c): POWERCUT_CYCLES cuts (default
# 30; `make soak` runs 1,000), every acknowledged event must be there after
# each and `verify` must pass. Then the control: the same program on a disk
# that lies about syncs must report lost events, or the test proves nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
W=$(mktemp -d /tmp/tmcut.XXXXXX)
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

mkdir "$W/lie"
out=$(./build/tm_powercut --lying-disk "$W/lie" 3 "$seed" 2>/dev/null); rc=$?
check "control (lying disk): exit 1" eq "$rc" 1
check "control (lying disk): events lost" test "$(echo "$out" | sed -n 's/.* \([0-9]*\) lost.*/\1/p')" -gt 0
finish
