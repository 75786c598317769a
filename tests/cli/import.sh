#!/bin/sh
# tests/cli/import.sh — `tokmeter import` on the fixture trees in
# tests/fixtures/: Claude Code duplicates across content blocks and resumed
# sessions, larger later copies, malformed, synthetic and usage-less lines,
# several projects; Codex and OpenCode records; default directories; and
# incremental runs after appends, a rewrite, a truncation and a line
# written in two pieces.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmimp.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TOKMETER_DB="$W/i.db" TZ=UTC
imp() { $TM import "$@" --quiet --json; }
report() { ./build/tokmeter report --from 2026-10-01 --to 2026-12-01 --tz UTC --json "$@"; }
# Imports read files oldest first (by mtime): give copies one mtime a
# second in path order, so every run sees the same order.
order_mtimes() {
    i=0
    for f in $(find "$@" -type f | sort); do
        touch -d "@$((1793500000 + i))" "$f"; i=$((i + 1))
    done
}

for c in import sources collect reconcile; do
    $TM $c --help >/dev/null 2>&1; check "help $c" eq "$?" 0
done
cp -r tests/fixtures/claude "$W/claude"
order_mtimes "$W/claude"
C="$W/claude"

# --- first import ------------------------------------------------------------
out=$(imp claude-code "$C"); code=$?
check "claude: exit 0" eq "$code" 0
check "claude: records" eq "$(echo "$out" | jget 'd["records"]')" 8
check "claude: one event per response" eq "$(echo "$out" | jget 'd["stored"]')" 5
check "claude: copies counted once" eq "$(echo "$out" | jget 'd["duplicates"]')" 3
check "claude: usage-less lines skipped" eq "$(echo "$out" | jget 'd["skipped"]["no_usage"]')" 3
check "claude: synthetic skipped" eq "$(echo "$out" | jget 'd["skipped"]["synthetic"]')" 1
check "claude: malformed skipped" eq "$(echo "$out" | jget 'd["skipped"]["malformed"]')" 1
check "claude: span tokens" eq "$(echo "$out" | jget 'd["span"]["total_tokens"]')" 58370
out=$(report --interval day --group-by model | jget '[(r["period"], r["model"], r["events"], r["input_tokens"], r["output_tokens"], r["cache_read_tokens"], r["cache_write_tokens"], r["total_tokens"]) for r in d["rows"]]')
check "claude: per day and model, largest copy" eq "$out" "[('2026-11-01', 'claude-opus-4-1-20250805', 1, 100, 1000, 0, 2000, 3100), ('2026-11-01', 'claude-sonnet-4-5-20250929', 1, 10, 400, 20000, 1000, 21410), ('2026-11-02', 'claude-haiku-4-5-20251001', 1, 3000, 700, 0, 0, 3700), ('2026-11-02', 'claude-sonnet-4-5-20250929', 1, 50, 100, 30000, 0, 30150), ('2026-11-03', 'claude-haiku-4-5-20251001', 1, 1, 2, 4, 3, 10)]"
out=$(report --group-by project | jget '[(r["project"], r["events"], r["total_tokens"]) for r in d["rows"]]')
check "claude: group by project" eq "$out" "[('-home-u-alpha', 3, 54660), ('-home-u-beta', 2, 3710)]"
out=$(report --group-by model --where model=claude-sonnet-4-5-20250929 | jget 'd["rows"][0]["cost_usd"]')
check "claude: computed cost exact" eq "$out" 0.02643
ev=$(./build/tokmeter events --json --all | grep '"cc:msg_B:req_B"')
check "claude: costUSD used in auto mode" has "$ev" '"cost_usd":0.25,"cost_source":"reported"'
check "claude: session and project" has "$ev" '"session_id":"s1","project":"-home-u-alpha"'
check "claude: 1h cache writes" has "$ev" '"cache_write_1h_tokens":2000'
check "claude: operation names the agent" has "$ev" '"operation":"claude-code"'
$TM verify >/dev/null; check "verify" eq "$?" 0

# --- incremental ----------------------------------------------------------------
out=$(imp claude-code "$C")
check "again: every file unchanged" eq "$(echo "$out" | jget '(d["files_unchanged"], d["lines"])')" "(3, 0)"
# Appended: a larger copy of msg_C (the store replaces the earlier one) and a new response.
cat >> "$C/projects/-home-u-alpha/s2.jsonl" <<'EOF'
{"type":"assistant","timestamp":"2026-11-02T08:00:02.000Z","sessionId":"s2","requestId":"req_C","cwd":"/home/u/alpha","message":{"id":"msg_C","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":50,"output_tokens":150,"cache_creation_input_tokens":0,"cache_read_input_tokens":30000}}}
{"type":"assistant","timestamp":"2026-11-02T09:00:00.000Z","sessionId":"s2","requestId":"req_F","cwd":"/home/u/alpha","message":{"id":"msg_F","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":5,"output_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}
EOF
out=$(imp claude-code "$C")
check "append: read on from the offset" eq "$(echo "$out" | jget '(d["files_resumed"], d["files_unchanged"], d["lines"])')" "(1, 2, 2)"
check "append: larger later copy replaces" eq "$(echo "$out" | jget '(d["stored"], d["replaced"])')" "(1, 1)"
out=$(report --where model=claude-sonnet-4-5-20250929 --interval day | jget '[(r["period"], r["events"], r["output_tokens"]) for r in d["rows"]]')
check "append: the report has the larger copy once" eq "$out" "[('2026-11-01', 1, 400), ('2026-11-02', 2, 156)]"
# A smaller copy arriving later changes nothing.
echo '{"type":"assistant","timestamp":"2026-11-02T08:00:01.000Z","sessionId":"s2","requestId":"req_C","message":{"id":"msg_C","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":50,"output_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":30000}}}' >> "$C/projects/-home-u-beta/s3.jsonl"
out=$(imp claude-code "$C")
check "smaller later copy: a duplicate" eq "$(echo "$out" | jget '(d["stored"], d["replaced"], d["duplicates"])')" "(0, 0, 1)"
# Rewritten (a new file under the same name): read again from the start.
printf '%s\n' '{"type":"assistant","timestamp":"2026-11-04T10:00:00.000Z","sessionId":"s3b","requestId":"req_G","message":{"id":"msg_G","model":"claude-haiku-4-5-20251001","usage":{"input_tokens":7,"output_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}' > "$W/s3.new"
mv "$W/s3.new" "$C/projects/-home-u-beta/s3.jsonl"
out=$(imp claude-code "$C")
check "rewrite: read again" eq "$(echo "$out" | jget '(d["files_reread"], d["stored"])')" "(1, 1)"
# Truncated below the saved offset: read again, nothing counted twice.
head -3 "$C/projects/-home-u-alpha/s1.jsonl" > "$W/s1.cut" && cat "$W/s1.cut" > "$C/projects/-home-u-alpha/s1.jsonl"
out=$(imp claude-code "$C")
check "truncate: read again, all duplicates" eq "$(echo "$out" | jget '(d["files_reread"], d["stored"], d["duplicates"])')" "(1, 0, 2)"
# A line written in two pieces: read when whole, counted once.
line='{"type":"assistant","timestamp":"2026-11-05T10:00:00.000Z","sessionId":"s3b","requestId":"req_H","message":{"id":"msg_H","model":"claude-haiku-4-5-20251001","usage":{"input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}'
printf '%s' "$(echo "$line" | cut -c1-80)" >> "$C/projects/-home-u-beta/s3.jsonl"
out=$(imp claude-code "$C")
check "half a line: read, nothing stored" eq "$(echo "$out" | jget '(d["stored"], d["lines"])')" "(0, 1)"
printf '%s\n' "$(echo "$line" | cut -c81-)" >> "$C/projects/-home-u-beta/s3.jsonl"
out=$(imp claude-code "$C")
check "whole line: stored once" eq "$(echo "$out" | jget '(d["files_resumed"], d["stored"])')" "(1, 1)"
out=$(imp claude-code "$C")
check "then unchanged" eq "$(echo "$out" | jget '(d["files_unchanged"], d["records"])')" "(3, 0)"
n=$(./build/tokmeter events --json --all | grep -c '"id":"cc:')
check "every response stored once" eq "$n" 8
$TM verify >/dev/null; check "verify after replacements" eq "$?" 0

# --- options ---------------------------------------------------------------------
export TOKMETER_DB="$W/opts.db"
out=$(imp claude-code "$C" --cost-mode calculate)
ev=$(./build/tokmeter events --json --all | grep '"cc:msg_B:req_B"')
check "calculate: costUSD ignored" has "$ev" '"cost_usd":0.1365,"cost_source":"computed"'
export TOKMETER_DB="$W/rep.db"
out=$(imp claude-code "$C" --cost-mode reported)
check "reported: others left unpriced" eq "$(echo "$out" | jget '(d["span"]["events"], d["span"]["unpriced"])')" "(6, 5)"
export TOKMETER_DB="$W/since.db"
out=$(imp claude-code "$C" --since 2026-11-02)
check "--since skips older records" eq "$(echo "$out" | jget '(d["stored"], d["skipped"]["before_since"])')" "(4, 4)"
out=$($TM import claude-code "$C" --cost-mode guess 2>&1); check "bad --cost-mode: 64" eq "$?" 64
check "bad --cost-mode: named" has "$out" "--cost-mode: must be auto, calculate or reported"
out=$($TM import claude-code "$W/nope" 2>&1); check "missing path: exit 1" eq "$?" 1
check "missing path: named" has "$out" "$W/nope: No such file or directory"
out=$($TM import cursor 2>&1); check "unknown source: 64" eq "$?" 64

# --- default directories -------------------------------------------------------------
export TOKMETER_DB="$W/def.db"
mkdir -p "$W/cfg1" "$W/cfg2" "$W/home/.claude"
cp -r tests/fixtures/claude/projects "$W/cfg1/"
mkdir -p "$W/cfg2/projects/-home-u-zeta"
cp tests/fixtures/claude/projects/-home-u-beta/s3.jsonl "$W/cfg2/projects/-home-u-zeta/"
order_mtimes "$W/cfg1" "$W/cfg2"
out=$(CLAUDE_CONFIG_DIR="$W/cfg1, $W/cfg2" imp claude-code)
check "CLAUDE_CONFIG_DIR: both dirs" eq "$(echo "$out" | jget '(d["files"], d["stored"], d["duplicates"])')" "(4, 5, 5)"
cp -r tests/fixtures/claude/projects "$W/home/.claude/"
order_mtimes "$W/home/.claude"
out=$(HOME="$W/home" XDG_CONFIG_HOME= CLAUDE_CONFIG_DIR= imp claude-code)
check "~/.claude by default" eq "$(echo "$out" | jget 'd["files"]')" 3
out=$(HOME="$W/empty" CLAUDE_CONFIG_DIR= XDG_CONFIG_HOME= $TM import claude-code 2>&1); code=$?
check "no data: exit 1" eq "$code" 1
check "no data: says where it looked" has "$out" "no claude-code data found (looked in $W/empty/.config/claude/projects, $W/empty/.claude/projects)"

# A tree below a directory that is itself called projects: the project is the
# directory under Claude Code's own projects/.
export TOKMETER_DB="$W/nested.db"
mkdir -p "$W/home/u/projects/foo/.claude/projects/-x"
cp tests/fixtures/claude/projects/-home-u-beta/s3.jsonl "$W/home/u/projects/foo/.claude/projects/-x/"
imp claude-code "$W/home/u/projects/foo/.claude" >/dev/null
out=$(report --group-by project | jget '[r["project"] for r in d["rows"]]')
check "project under the last projects/" eq "$out" "['-x']"

# --- Codex ------------------------------------------------------------------------------
export TOKMETER_DB="$W/codex.db"
mkdir -p "$W/codex/sessions"; cp -r tests/fixtures/codex/sessions/2026 "$W/codex/sessions/"
out=$(CODEX_HOME="$W/codex" imp codex)
check "codex: records" eq "$(echo "$out" | jget '(d["records"], d["stored"], d["skipped"]["no_usage"])')" "(2, 2, 1)"
out=$(report --group-by model,project | jget '[(r["model"], r["project"], r["input_tokens"], r["cache_read_tokens"], r["output_tokens"], r["reasoning_tokens"], r["total_tokens"]) for r in d["rows"]]')
check "codex: last usage, then the delta of totals; cached split out" eq "$out" "[('gpt-5', 'gamma', 6000, 12000, 1000, 500, 19000), ('gpt-5-codex', 'gamma', 4000, 8000, 600, 200, 12600)]"
out=$(CODEX_HOME="$W/codex" imp codex)
check "codex: again, unchanged" eq "$(echo "$out" | jget 'd["files_unchanged"]')" 1
f=$(find "$W/codex" -name '*.jsonl')
echo '{"timestamp":"2026-11-01T10:09:00.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":31000,"cached_input_tokens":20500,"output_tokens":1700,"reasoning_output_tokens":700,"total_tokens":32700}}}}' >> "$f"
out=$(CODEX_HOME="$W/codex" imp codex)
check "codex: resumed with its context" eq "$(echo "$out" | jget '(d["files_resumed"], d["stored"])')" "(1, 1)"
ev=$(./build/tokmeter events --json --all | grep ':32700"')
check "codex: resumed delta and model" has "$ev" '"model":"gpt-5","endpoint":null,"operation":"codex"'
check "codex: resumed delta tokens" has "$ev" '"input_tokens":500,"output_tokens":100,"cache_read_tokens":500'

# Totals that go down (a new count in the same file), lines with only
# last_token_usage, and the clamps: cached input above the input, reasoning
# above the output, a kind of token whose running total falls while the
# total rises. Read in two runs (the resets are saved with the offset) and
# in one: the same events, each turn once.
mkdir -p "$W/cx"
tc() { # tc TIME USAGE-KIND IN CACHED OUT REASON TOTAL
    printf '{"timestamp":"2026-11-05T10:%s:00.000Z","type":"event_msg","payload":{"type":"token_count","info":{"%s":{"input_tokens":%s,"cached_input_tokens":%s,"output_tokens":%s,"reasoning_output_tokens":%s,"total_tokens":%s}}}}\n' "$@"
}
{ echo '{"timestamp":"2026-11-05T10:00:00.000Z","type":"session_meta","payload":{"id":"sx","cwd":"/home/u/delta"}}'
  echo '{"timestamp":"2026-11-05T10:00:01.000Z","type":"turn_context","payload":{"model":"gpt-5"}}'
  tc 01 total_token_usage 1000 0 100 0 1100
  tc 02 total_token_usage 2000 500 200 0 2200
  tc 03 total_token_usage 1000 0 100 0 1100; } > "$W/cx/r.jsonl"
{ tc 04 last_token_usage 300 400 50 80 350
  tc 05 last_token_usage 10 0 5 0 15
  tc 06 total_token_usage 1500 200 150 0 1650
  tc 07 total_token_usage 1700 100 160 0 1860; } > "$W/cx.rest"
cxlist() { ./build/tokmeter --db "$1" events --all --json | python3 -c '
import json, sys
for d in sorted(json.load(sys.stdin), key=lambda d: d["timestamp"]):
    print(d["id"], d["input_tokens"], d["cache_read_tokens"], d["output_tokens"], d["reasoning_tokens"])'; }
$TM --db "$W/cx1.db" import codex "$W/cx" --quiet >/dev/null
cat "$W/cx.rest" >> "$W/cx/r.jsonl"
out=$($TM --db "$W/cx1.db" import codex "$W/cx" --quiet --json); code=$?
check "codex resets: second run exit 0" eq "$code" 0
check "codex resets: second run read on" eq "$(echo "$out" | jget '(d["files_resumed"], d["stored"], d["duplicates"])')" "(1, 4, 0)"
want="codex:sx:1100 1000 0 100 0
codex:sx:2200 500 500 100 0
codex:sx:r1:1100 1000 0 100 0
codex:sx:2026-11-05T10:04:00.000Z 0 300 50 50
codex:sx:2026-11-05T10:05:00.000Z 10 0 5 0
codex:sx:r1:1650 300 200 50 0
codex:sx:r1:1860 200 0 10 0"
check "codex resets, last-only lines and clamps (two runs)" eq "$(cxlist "$W/cx1.db")" "$want"
$TM --db "$W/cx2.db" import codex "$W/cx" --quiet >/dev/null
check "codex resets, last-only lines and clamps (one run)" eq "$(cxlist "$W/cx2.db")" "$want"
out=$($TM --db "$W/cx2.db" import codex "$W/cx" --quiet --full --json)
check "codex resets: read again in full, every turn a repeat" eq "$(echo "$out" | jget '(d["stored"], d["duplicates"])')" "(0, 7)"

# --- OpenCode ------------------------------------------------------------------------------
export TOKMETER_DB="$W/oc.db"
out=$(OPENCODE_DATA_DIR="$PWD/tests/fixtures/opencode" imp opencode)
check "opencode: records" eq "$(echo "$out" | jget '(d["files"], d["records"], d["stored"])')" "(3, 2, 2)"
out=$(report --group-by provider,model,project | jget '[(r["provider"], r["model"], r["project"], r["output_tokens"], r["reasoning_tokens"], r["total_tokens"], r["cost_usd"]) for r in d["rows"]]')
check "opencode: tokens, reasoning in output, costs" eq "$out" "[('anthropic', 'claude-sonnet-4-5-20250929', 'delta', 400, 100, 7400, 0.0141), ('openai', 'gpt-5', 'delta', 500, 0, 2500, 0.0125)]"
# A message file rewritten larger as the answer streams on (a new file
# under the same name, a later mtime): read again, the larger copy replaces
# the stored one; rewritten smaller, nothing changes.
mkdir -p "$W/oc/storage"; cp -r tests/fixtures/opencode/storage/message "$W/oc/storage/"
export TOKMETER_DB="$W/oc2.db"
OPENCODE_DATA_DIR="$W/oc" imp opencode >/dev/null
m="$W/oc/storage/message/ses_01/msg_02.json"
sed 's/"output": 300, "reasoning": 100/"output": 2300, "reasoning": 400/' "$m" > "$W/m.new" && mv "$W/m.new" "$m"
touch -d "@$(($(date +%s) + 5))" "$m"
out=$(OPENCODE_DATA_DIR="$W/oc" imp opencode)
check "opencode rewritten larger: read again, replaced" eq "$(echo "$out" | jget '(d["files_reread"], d["stored"], d["replaced"], d["duplicates"])')" "(1, 0, 1, 0)"
out=$(report --where model=claude-sonnet-4-5-20250929 | jget '[(r["events"], r["output_tokens"], r["reasoning_tokens"]) for r in d["rows"]]')
check "opencode rewritten larger: the report has the larger copy once" eq "$out" "[(1, 2700, 400)]"
sed 's/"output": 2300, "reasoning": 400/"output": 10, "reasoning": 0/' "$m" > "$W/m.new" && mv "$W/m.new" "$m"
touch -d "@$(($(date +%s) + 10))" "$m"
out=$(OPENCODE_DATA_DIR="$W/oc" imp opencode)
check "opencode rewritten smaller: a repeat" eq "$(echo "$out" | jget '(d["files_reread"], d["stored"], d["replaced"], d["duplicates"])')" "(1, 0, 0, 1)"
$TM verify >/dev/null; check "opencode rewrites: verify" eq "$?" 0

# --- symlink loops and unreadable entries ------------------------------------------------
# A directory holding two symlinks to itself (2^32 paths if followed blindly):
# each directory is walked once.
export TOKMETER_DB="$W/loop.db"
mkdir -p "$W/loop/p"
cp tests/fixtures/claude/projects/-home-u-alpha/s1.jsonl "$W/loop/p/"
ln -s . "$W/loop/p/a"; ln -s .. "$W/loop/p/b"; ln -s "$W/loop" "$W/loop/p/c"
out=$(timeout 20 $TM import claude-code "$W/loop" --quiet --json 2>"$W/err"); code=$?
check "symlink loop: finishes, exit 0" eq "$code:$(cat "$W/err")" "0:"
check "symlink loop: the file once" eq "$(echo "$out" | jget '(d["files"], d["stored"])')" "(1, 2)"
# Unreadable as root too: the import runs without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (setpriv drops them from the bounding set), so mode
# 000 stops it as it stops any user. A file first in read order, a
# directory, and a readable file after both.
export TOKMETER_DB="$W/unr.db"
mkdir -p "$W/unr/a" "$W/unr/locked"
cp tests/fixtures/claude/projects/-home-u-alpha/s1.jsonl "$W/unr/a/1.jsonl"
cp tests/fixtures/claude/projects/-home-u-beta/s3.jsonl "$W/unr/a/2.jsonl"
cp tests/fixtures/claude/projects/-home-u-alpha/s2.jsonl "$W/unr/locked/3.jsonl"
touch -d @1793500000 "$W/unr/a/1.jsonl"; touch -d @1793500001 "$W/unr/a/2.jsonl"
chmod 000 "$W/unr/a/1.jsonl" "$W/unr/locked"
noread() { setpriv --bounding-set=-dac_override,-dac_read_search "$@"; }
out=$(noread $TM import claude-code "$W/unr" --quiet --json 2>"$W/err"); code=$?
check "unreadable: exit 1 at the end" eq "$code" 1
check "unreadable: the file named" has "$(cat "$W/err")" "skipped (not readable): $W/unr/a/1.jsonl: Permission denied"
check "unreadable: the directory named" has "$(cat "$W/err")" "skipped (not readable): $W/unr/locked: Permission denied"
check "unreadable: the rest imported" eq "$(echo "$out" | jget '(d["files"], d["stored"], d["skipped"]["unreadable"])')" "(1, 2, 2)"
chmod 644 "$W/unr/a/1.jsonl"; chmod 755 "$W/unr/locked"
out=$(noread $TM import claude-code "$W/unr" --quiet --json 2>"$W/err"); code=$?
check "readable again: exit 0, nothing skipped" eq "$code:$(cat "$W/err")" "0:"
check "readable again: the skipped ones imported" eq "$(echo "$out" | jget '(d["files"], d["files_unchanged"], d["stored"], d["skipped"]["unreadable"])')" "(3, 1, 3, 0)"
check "readable again: all five responses stored" eq "$(report | jget 'd["totals"]["events"]')" 5

# --- mutated input: counted as skipped or rejected, never a crash (ASan build) ------------
export TOKMETER_DB="$W/fuzz.db"
mkdir -p "$W/fz/claude/projects/p" "$W/fz/codex" "$W/fz/oc/ses"
python3 tests/cli/mutate.py "$W/fz/claude/projects/p/f.jsonl" 5000 1 tests/fixtures/claude/projects/*/*.jsonl
python3 tests/cli/mutate.py "$W/fz/codex/r.jsonl" 3000 2 $(find tests/fixtures/codex -name '*.jsonl')
for i in $(seq 1 60); do
    python3 tests/cli/mutate.py "$W/fz/oc/ses/m$i.json" 1 "$i" tests/fixtures/opencode/storage/message/ses_01/msg_02.json
done
out=$(imp claude-code "$W/fz/claude"); code=$?
check "mutated claude-code lines: exit 0" eq "$code" 0
check "mutated claude-code lines: most malformed" num "$(echo "$out" | jget 'd["skipped"]["malformed"]')" ">" 1000
out=$(imp codex "$W/fz/codex"); check "mutated codex lines: exit 0" eq "$?" 0
out=$(imp opencode "$W/fz/oc"); check "mutated opencode files: exit 0" eq "$?" 0
$TM verify >/dev/null; check "mutated input: verify" eq "$?" 0

# --- killed half-way: the next run completes it, nothing counted twice --------------------
./build/gen_claude "$W/big" 200000 5 10
./build/tokmeter --db "$W/clean.db" import claude-code "$W/big" --quiet >/dev/null
want=$(./build/tokmeter --db "$W/clean.db" report --from 2026-09-01 --to 2026-12-01 --tz UTC --interval day --group-by model --json | jget 'd["rows"]')
killed=0
for delay in 0.1 0.3 0.5; do
    rm -f "$W/kill.db"*
    ./build/tokmeter --db "$W/kill.db" import claude-code "$W/big" --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $? -eq 137 ] && killed=$((killed + 1))
    ./build/tokmeter --db "$W/kill.db" import claude-code "$W/big" --quiet >/dev/null
    got=$(./build/tokmeter --db "$W/kill.db" report --from 2026-09-01 --to 2026-12-01 --tz UTC --interval day --group-by model --json | jget 'd["rows"]')
    check "SIGKILL after ${delay}s, then again: same report as a clean import" eq "$got" "$want"
    ./build/tokmeter --db "$W/kill.db" verify >/dev/null; check "SIGKILL after ${delay}s: verify" eq "$?" 0
done
check "every import was killed mid-way" eq "$killed" 3

finish
