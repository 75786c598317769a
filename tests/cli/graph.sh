#!/bin/sh
# tests/cli/graph.sh — `tokmeter graph`: SVG and PNG files opened and
# checked by tests/cli/chartcheck.py (size, one colour per group, the PNG
# decoded to pixels), the terminal chart compared line by line, and bad
# options refused with the option named.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmg.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TOKMETER_DB="$W/g.db" TZ=UTC
CC=tests/cli/chartcheck.py

# Costs are given (reported), so every figure below is known exactly:
# a: 1, 2, 3, 4 USD on Nov 1-4; b: 4 USD on Nov 2; c: 0.5 USD on Nov 4.
{
  d=1; for c in 1 2 3 4; do
    echo "{\"id\":\"a$d\",\"timestamp\":\"2026-11-0${d}T12:00:00Z\",\"provider\":\"a\",\"model\":\"m1\",\"user_id\":\"u1\",\"cost_usd\":$c,\"input_tokens\":${d}00,\"latency_ms\":${d}0}"
    d=$((d + 1)); done
  echo '{"id":"b2","timestamp":"2026-11-02T08:00:00Z","provider":"b","model":"m2","user_id":"u2","cost_usd":4,"input_tokens":50}'
  echo '{"id":"c4","timestamp":"2026-11-04T08:00:00Z","provider":"c","model":"m3","user_id":"u2","cost_usd":0.5,"input_tokens":5}'
} > "$W/ev.ndjson"
$TM ingest "$W/ev.ndjson" >/dev/null; check "ingest" eq "$?" 0
R="--from 2026-11-01 --to 2026-11-05 --tz UTC"

# --- files -------------------------------------------------------------------
$TM graph $R --interval day --group-by provider -o "$W/line.svg" 2>/dev/null; check "svg written" eq "$?" 0
check "svg: size, 3 series" python3 $CC svg "$W/line.svg" 960 540 3
$TM graph $R --interval day --group-by provider --style area -o "$W/area.png" --width 640 --height 400 2>/dev/null
check "png written" eq "$?" 0
check "png: decodes, 640x400, 3 series" python3 $CC png "$W/area.png" 640 400 3
$TM graph $R --interval day --group-by provider --where provider=a,b -o "$W/two.png" 2>/dev/null
check "png: --where keeps 2 series" python3 $CC png "$W/two.png" 960 540 2
$TM graph $R --group-by user_id -o "$W/bars.svg" 2>/dev/null; check "bars written" eq "$?" 0
check "svg bars: one per user" python3 $CC svg "$W/bars.svg" 960 540 2
$TM graph $R --interval hour --metric latency_p95_ms -o "$W/lat.png" --width 480 --height 300 2>/dev/null
check "png: latency, one series" python3 $CC png "$W/lat.png" 480 300 1
# A checker that cannot fail is no check: a wrong count must be caught.
check "checker catches a wrong count (svg)" eval "! python3 $CC svg $W/line.svg 960 540 2 >/dev/null"
check "checker catches a wrong count (png)" eval "! python3 $CC png $W/two.png 960 540 3 >/dev/null"
out=$($TMSAN graph $R --interval day --group-by provider,model -o "$W/asan.svg" 2>&1); rc=$?
check "ASan build draws" eq "$rc/$out" "0/wrote $W/asan.svg (960x540, 3 series)"
# Ten groups: nine drawn (the palette), the rest counted.
i=0; while [ $i -lt 10 ]; do
  echo "{\"id\":\"many$i\",\"timestamp\":\"2026-11-03T01:00:00Z\",\"provider\":\"p$i\",\"cost_usd\":0.0$i}"; i=$((i + 1))
done > "$W/many.ndjson"
$TM --db "$W/many.db" ingest "$W/many.ndjson" >/dev/null
$TM --db "$W/many.db" graph $R --interval day --group-by provider -o "$W/many.svg" 2>/dev/null
check "svg: at most 9 series" python3 $CC svg "$W/many.svg" 960 540 9
out=$($TM --db "$W/many.db" graph $R --interval day --group-by provider | tail -1)
check "terminal: the rest counted" eq "$out" "+1 more not shown"

# --- the terminal --------------------------------------------------------------
out=$($TM graph $R --interval day --group-by provider)
want="cost_usd by provider, daily, 2026-11-01 to 2026-11-05 (UTC)
a     ▂▄▆█  10.0000
b      █    4.0000
c        ▁  0.5000
      2026-11-01 … 2026-11-04  (one scale: full block = 4)"
check "terminal sparklines" eq "$out" "$want"
out=$($TM graph $R --interval day --group-by provider --ascii | sed -n 2,4p)
want="a     :=*@  10.0000
b      @    4.0000
c        .  0.5000"
check "terminal --ascii" eq "$out" "$want"
out=$($TM graph $R --group-by provider --metric input_tokens)
want="input_tokens by provider, 2026-11-01 to 2026-11-05 (UTC)
a     ██████████████████████████████████████████████████  1,000
b     ██▌                                                 50
c     ▎                                                   5"
check "terminal bars" eq "$out" "$want"
out=$($TM graph $R --interval day --metric requests | sed -n 2p)
check "terminal: no grouping is one series" eq "$out" "all   ▄█▄█  6"
# 96 hours in 40 columns: several hours a column, summed; no line wider.
out=$(COLUMNS=40 $TM graph $R --interval hour --group-by provider)
wide=$(printf '%s\n' "$out" | sed 1d | python3 -c "import sys; print(max(len(l.rstrip(chr(10))) for l in sys.stdin if not l.startswith(' ')))")
check "terminal fits COLUMNS=40" eq "$([ "$wide" -le 40 ] && echo yes || echo "no: $wide")" yes
has "$out" "a column sums several periods"; check "terminal: merged columns said" eq "$?" 0
out=$($TM graph --from 2020-01-01 --to 2020-01-03 --interval day --group-by provider 2>&1); rc=$?
check "empty range" eq "$rc/$out" "0/no events in this range
cost_usd by provider, daily, 2020-01-01 to 2020-01-03 (UTC)"

# --- bad options ----------------------------------------------------------------
for a in "--metric speed|--metric: unknown metric 'speed'" \
         "-o chart.jpg|-o: 'chart.jpg' must end in .svg or .png" \
         "--style pie|--style: must be line or area, not 'pie'" \
         "--style area --metric latency_p95_ms|--style area: latency_p95_ms does not add up" \
         "--width 199|--width: must be from 200 to 8000 pixels, not 199" \
         "--height 8001|--height: must be from 200 to 8000 pixels, not 8001" \
         "--interval fortnight|interval: must be hour, day, week, month or none" \
         "--group-by colour|group_by: unknown dimension 'colour'"; do
    args=${a%%|*} msg=${a#*|}
    out=$($TM graph $R -o "$W/bad.svg" $args 2>&1); rc=$?
    check "bad: $args exits 64" eq "$rc" 64
    check "bad: $args says why" has "$out" "$msg"
done
check "bad options wrote nothing" eq "$(ls "$W"/bad.* 2>/dev/null)" ""
$TM graph $R --width 200 --height 8000 -o "$W/tall.png" 2>/dev/null
check "sizes 200 and 8000 accepted" python3 $CC png "$W/tall.png" 200 8000 1
out=$($TM graph $R -o /nonexistent/dir/x.png 2>&1); rc=$?
check "unwritable file exits 1" eq "$rc" 1
check "unwritable file says where" has "$out" "/nonexistent/dir/x.png"
$TM graph --help >/dev/null; check "graph --help" eq "$?" 0
finish
