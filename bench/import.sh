#!/bin/sh
# bench/import.sh — `tokmeter import claude-code` then a daily report,
# against `ccusage claude daily --offline`, on one generated Claude Code tree:
#
#   sh bench/import.sh [RECORDS] [DIR]      (default 1000000, /var/tmp)
#
# Three runs each, wall time and peak memory (GNU time): the first run, a
# re-run over the unchanged tree, and a re-run after 1% more records were
# appended to existing session files. ccusage has no store, so each of its
# runs reads everything. The page cache is warmed first so both read from
# memory. Prints a table and the ratios against the issue's aims, then the
# CPU each of tokmeter's threads spent on one more first import (which of
# them sets the pace).
set -eu
cd "$(dirname "$0")/.."
n=${1:-1000000}
dir=${2:-/var/tmp}/bench-import
CCU=$(sh scripts/ccusage.sh)
rm -rf "$dir"
mkdir -p "$dir"
./build/gen_claude "$dir/tree" "$n" 42 30
db="$dir/tm.db"
cat $(find "$dir/tree" -name '*.jsonl') > /dev/null   # warm the page cache
bytes=$(du -sb "$dir/tree" | cut -f1)
files=$(find "$dir/tree" -name '*.jsonl' | wc -l)

# measure NAME CMD...: appends "NAME seconds peak_kb" to $dir/results
measure() {
    name=$1; shift
    /usr/bin/time -f "%e %M" -o "$dir/time" "$@" > "$dir/out.$name" 2> "$dir/err.$name"
    echo "$name $(cat "$dir/time")" >> "$dir/results"
}
TM="./build/tokmeter --db '$db' import claude-code '$dir/tree' --quiet >> '$dir/import.out' &&
    ./build/tokmeter --db '$db' report --from 2026-09-01 --to 2026-12-01 --tz UTC --interval day --group-by model --json"
CC="CLAUDE_CONFIG_DIR='$dir/tree' '$CCU' claude daily --json --offline -z UTC --breakdown"
: > "$dir/results"
measure tm_first sh -c "$TM"
measure ccu_first sh -c "$CC"
measure tm_rerun sh -c "$TM"
measure ccu_rerun sh -c "$CC"
# 1% more: new records appended to the newest session file of each project.
./build/gen_claude "$dir/more" $((n / 100)) 43 1
for p in "$dir"/more/projects/*; do
    target=$(ls -t "$dir/tree/projects/$(basename "$p")"/*.jsonl | head -1)
    cat "$p"/*.jsonl >> "$target"
done
measure tm_append sh -c "$TM"
measure ccu_append sh -c "$CC"

# The two reports must agree before any figure is printed.
python3 - "$dir/out.ccu_append" "$dir/out.tm_append" <<'PY'
import json, sys
c, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cc = {(d["date"], m["modelName"]): (m["inputTokens"], m["outputTokens"], m["cacheReadTokens"], m["cacheCreationTokens"])
      for d in c["daily"] for m in d["modelBreakdowns"]}
tt = {(r["period"], r["model"]): (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"], r["cache_write_tokens"])
      for r in t["rows"]}
if cc != tt:
    sys.exit("bench/import.sh: tokmeter's and ccusage's daily reports differ; no figures")
PY

python3 - "$dir/results" "$n" "$bytes" "$files" "$(nproc)" <<'PY'
import sys
r = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1])}
n, size, files, cores = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print("import: %d assistant records, %d files, %.0f MB of JSONL (%d cores)" % (n, files, size / 1e6, cores))
print("%-26s %10s %10s %10s %10s %9s" % ("run", "tokmeter s", "ccusage s", "speed-up", "tm MiB", "ccu MiB"))
for k, label, aim in (("first", "first run", 10), ("rerun", "re-run, unchanged", 100), ("append", "re-run, 1% appended", 100)):
    t, c = r["tm_" + k], r["ccu_" + k]
    print("%-26s %10.2f %10.2f %9.1fx %10.0f %9.0f   (aim %dx)" % (label, t[0], c[0], c[0] / max(t[0], 1e-3),
                                                           t[1] / 1024, c[1] / 1024, aim))
t, c = r["tm_first"], r["ccu_first"]
print("peak memory, first run: tokmeter %.0f MiB, ccusage %.0f MiB: %.1fx less (aim 10x)"
      % (t[1] / 1024, c[1] / 1024, c[1] / max(t[1], 1)))
PY

# One more first import into a fresh store, its threads' CPU sampled from
# /proc until it exits (the library names them tm-writer, tm-checkpoint).
rm -f "$db" "$db-wal" "$db-shm"
python3 - "$db" "$dir/tree" <<'PY'
import os, subprocess, sys, time
p = subprocess.Popen(["./build/tokmeter", "--db", sys.argv[1], "import", "claude-code", sys.argv[2],
                      "--quiet"], stdout=subprocess.DEVNULL)
cpu, names, t0, tick = {}, {}, time.time(), os.sysconf("SC_CLK_TCK")
while p.poll() is None:
    try:
        for tid in os.listdir("/proc/%d/task" % p.pid):
            with open("/proc/%d/task/%s/stat" % (p.pid, tid)) as f:
                head, rest = f.read().rsplit(")", 1)
            fields = rest.split()
            cpu[tid] = (int(fields[11]) + int(fields[12])) / tick
            names[tid] = "parse (main)" if tid == str(p.pid) else head.split("(", 1)[1]
    except (FileNotFoundError, ProcessLookupError):
        pass
    time.sleep(0.02)
print("first import alone: %.2f s wall; CPU by thread: %s" % (time.time() - t0, ", ".join(
    "%s %.2f s" % (names[k], v) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))))
PY
rm -rf "$dir"
