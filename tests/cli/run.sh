#!/bin/sh
# tests/cli/run.sh — end-to-end tests of the tokmeter command and daemon.
#
# Runs the real binary (and its ASan+UBSan build for the bad-input checks)
# against throwaway stores, including a SIGKILL durability test. Prints
# "N passed, N failed" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmcli.XXXXXX)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$W"' EXIT
export TOKMETER_DB="$W/default.db"

# --- help and usage ------------------------------------------------------
for c in "" track ingest events verify serve; do
    $TM $c --help >/dev/null 2>&1; check "help $c" eq "$?" 0
done
$TM frobnicate >/dev/null 2>&1; check "unknown command exits 64" eq "$?" 64
$TM events --limit x >/dev/null 2>&1; check "bad --limit exits 64" eq "$?" 64
out=$($TM --version); check "version" eq "$out" "tokmeter 0.1.0"

# --- a new store is owner-only ---------------------------------------------
# Under the usual umask 022: the store 0600 and its new directories 0700;
# TOKMETER_STORE_MODE widens it; the -wal and -shm files of an open store
# (SQLite creates them with the store's mode) are 0600 too.
ev='{"id":"m1","provider":"p","model":"m","input_tokens":1}'
modes() { for f in "$@"; do stat -c %a "$f"; done | tr '\n' ' '; }
(umask 022; echo "$ev" | $TM --db "$W/perm/a/b/s.db" ingest - >/dev/null)
check "new store: exit 0" eq "$?" 0
check "new store 0600 in new 0700 directories" eq "$(modes "$W/perm/a" "$W/perm/a/b" "$W/perm/a/b/s.db")" "700 700 600 "
(umask 022; echo "$ev" | TOKMETER_STORE_MODE=0640 $TM --db "$W/perm2/c/s.db" ingest - >/dev/null)
check "TOKMETER_STORE_MODE=0640: store 0640, directories 0750" eq "$(modes "$W/perm2/c" "$W/perm2/c/s.db")" "750 640 "
(umask 022; echo "$ev" | TOKMETER_STORE_MODE=0644 $TM --db "$W/perm/a/b/s.db" ingest - >/dev/null)
check "an existing store keeps its mode" eq "$(modes "$W/perm/a/b/s.db")" "600 "
out=$(python3 -c '
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("select count(*) from events").fetchall()
print(" ".join(oct(os.stat(sys.argv[1] + x).st_mode & 0o777) for x in ("-wal", "-shm")))' "$W/perm/a/b/s.db")
check "-wal and -shm like the store (while open)" eq "$out" "0o600 0o600"
for bad in 0700x 1777 0400 9; do
    out=$(echo "$ev" | TOKMETER_STORE_MODE=$bad $TM --db "$W/perm3/s.db" ingest - 2>&1); rc=$?
    check "TOKMETER_STORE_MODE=$bad refused" eq "$rc:$out" "1:tokmeter ingest: TOKMETER_STORE_MODE: must be octal permission bits with the owner's read and write (like 0600 or 0640), not '$bad'"
done
check "a refused mode creates nothing" eq "$(ls "$W/perm3" 2>&1)" "ls: cannot access '$W/perm3': No such file or directory"

# --- ingest the same file twice ------------------------------------------
DB="$W/twice.db"
i=0; : > "$W/events.ndjson"
while [ $i -lt 500 ]; do
    echo "{\"id\":\"ev-$i\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"user_id\":\"u$((i % 7))\",\"input_tokens\":$i,\"output_tokens\":3,\"latency_ms\":$i.5}" >> "$W/events.ndjson"
    i=$((i + 1))
done
out=$($TM --db "$DB" ingest --json "$W/events.ndjson"); rc=$?
check "first ingest" eq "$out/$rc" '{"accepted": 500, "duplicates": 0, "rejected": []}/0'
out=$($TM --db "$DB" ingest --json < "$W/events.ndjson"); rc=$?
check "second ingest: all duplicates" eq "$out/$rc" '{"accepted": 0, "duplicates": 500, "rejected": []}/0'
out=$(sqlite3 "$DB" "SELECT COUNT(*), COUNT(DISTINCT id), SUM(input_tokens) FROM events")
check "stored once" eq "$out" "500|500|124750"
$TM --db "$DB" verify >/dev/null; check "verify after ingest" eq "$?" 0
out=$($TM --db "$DB" events --json --all | grep -c '"id"')
check "events --json lists all" eq "$out" 500
out=$($TM --db "$DB" events --limit 1 --json | grep -o '"id":"[^"]*"')
check "events newest first" eq "$out" '"id":"ev-499"'
out=$($TM --db "$DB" events --user u3 --all --json | grep -c '"user_id":"u3"')
check "events --user" eq "$out" 71

# A JSON array works too, and the events round-trip through events --json.
$TM --db "$DB" events --all --json > "$W/dump.json"
out=$($TM --db "$W/copy.db" ingest --json "$W/dump.json")
check "array ingest of a dump" eq "$out" '{"accepted": 500, "duplicates": 0, "rejected": []}'
a=$(sqlite3 "$DB" "SELECT SUM(input_tokens), SUM(latency_ns), SUM(total_tokens) FROM events")
b=$(sqlite3 "$W/copy.db" "SELECT SUM(input_tokens), SUM(latency_ns), SUM(total_tokens) FROM events")
check "dump round-trip keeps numbers" eq "$a" "$b"

# --- bad input: every class, under the sanitizers ------------------------
$TMSAN --db "$W/bad.db" ingest tests/data/bad.ndjson 2> "$W/bad.err" > "$W/bad.out"; rc=$?
check "bad input exits 2" eq "$rc" 2
check "bad input messages" diff -u tests/data/bad.expected "$W/bad.err"
check "bad input summary" eq "$(cat "$W/bad.out")" "ingested tests/data/bad.ndjson: 2 accepted, 0 duplicates, 19 rejected"
out=$(sqlite3 "$W/bad.db" "SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY id)")
check "good neighbours stored" eq "$out" "ok-1,ok-2"

# Hostile inputs must never crash: random bytes, deep nesting, huge lines.
head -c 200000 /dev/urandom > "$W/random.bin"
python3 -c "print('['*100000 + ']'*100000)" > "$W/deep.json"
python3 -c "print('{\"id\":\"' + 'x'*5000000 + '\"}')" > "$W/hugeline.ndjson"
python3 -c "print('{\"a\":' * 50 + '1' + '}' * 50)" > "$W/deepobj.ndjson"
printf '[{"id":"a"},' > "$W/truncated.json"
printf '\n\n\n' > "$W/blank.ndjson"
for f in random.bin deep.json hugeline.ndjson deepobj.ndjson truncated.json blank.ndjson; do
    $TMSAN --db "$W/hostile.db" ingest "$W/$f" >/dev/null 2>"$W/hostile.err"; rc=$?
    case $rc in 0|2) ok ;; *) bad "hostile input $f: exit $rc"; cat "$W/hostile.err" >&2 ;; esac
done
$TMSAN --db "$W/hostile.db" verify >/dev/null; check "verify after hostile input" eq "$?" 0

# --- track ----------------------------------------------------------------
out=$($TMSAN --db "$W/track.db" track --id t1 --provider openai --model gpt-4o-mini \
      --prompt-tokens 1000 --completion-tokens 200 --latency-ms 812.4 --user-id u1 \
      --metadata '{"k":"v"}' --json)
check "track --json" eq "$out" '{"accepted": 1, "duplicates": 0, "rejected": []}'
out=$($TMSAN --db "$W/track.db" track --id t1 --provider openai --json)
check "track duplicate" eq "$out" '{"accepted": 0, "duplicates": 1, "rejected": []}'
err=$($TMSAN --db "$W/track.db" track --input-tokens 1.5 2>&1); rc=$?
check "track bad value" eq "$err/$rc" "tokmeter track: input_tokens: must be a non-negative integer/2"
err=$($TMSAN --db "$W/track.db" track --usage '{"prompt_tokens":1}' --input-tokens 3 2>&1); rc=$?
check "track conflict" eq "$err/$rc" "tokmeter track: input_tokens: given twice (also in usage)/2"
err=$($TMSAN --db "$W/track.db" track --nope 1 2>&1); rc=$?
check "track unknown flag" eq "$rc" 64
out=$(sqlite3 "$W/track.db" "SELECT input_tokens, output_tokens, latency_ns, metadata FROM events")
check "track stored fields" eq "$out" '1000|200|812400000|{"k":"v"}'

# --- pricing ----------------------------------------------------------------
PDB="$W/price.db"
cat > "$W/priced.ndjson" <<'NDJ'
{"id":"p1","provider":"anthropic","model":"claude-sonnet-4-5-20250929","input_tokens":1000,"output_tokens":500,"cache_read_tokens":10000}
{"id":"p2","provider":"openai","model":"gpt-4o","input_tokens":1000,"cost_usd":"0.5"}
{"id":"p3","provider":"nobody","model":"mystery","input_tokens":1000}
{"id":"p4","provider":"cerebras","model":"llama3.1-8b","input_tokens":7}
{"id":"p5","provider":"ollama","model":"llama3","input_tokens":7}
NDJ
$TM --db "$PDB" ingest "$W/priced.ndjson" >/dev/null
out=$($TM --db "$PDB" events --all --json | grep -o '"id":"p[0-9]"\|"cost_usd":[^,]*,"cost_source":"[a-z]*"' | paste -d' ' - - | sort)
check "events --json shows cost and source" eq "$out" '"id":"p1" "cost_usd":0.0135,"cost_source":"computed"
"id":"p2" "cost_usd":0.5,"cost_source":"reported"
"id":"p3" "cost_usd":0,"cost_source":"unpriced"
"id":"p4" "cost_usd":0.000006,"cost_source":"computed"
"id":"p5" "cost_usd":0,"cost_source":"computed"'
# A user price file prices the mystery model and changes Sonnet; reprice applies it.
cat > "$W/my-prices.json" <<'JSON'
{"models": [{"provider": "nobody", "model": "mystery", "input_usd_per_mtok": "2"},
            {"provider": "anthropic", "model": "claude-sonnet-4-5*", "input_usd_per_mtok": "4", "output_usd_per_mtok": "20",
             "cache_read_usd_per_mtok": "0.40"}]}
JSON
out=$($TM --db "$PDB" --prices "$W/my-prices.json" reprice --json)
check "reprice counts and delta" eq "$out" '{"examined": 4, "changed": 2, "delta_usd": 0.0065}'
out=$(sqlite3 "$PDB" "SELECT id, cost_pusd, cost_source FROM events ORDER BY id" | tr '\n' ' ')
check "repriced values" eq "$out" "p1|18000000000|1 p2|500000000000|2 p3|2000000000|1 p4|6000000|1 p5|0|1 "
out=$(TOKMETER_PRICES="$W/my-prices.json" $TM --db "$PDB" reprice)
check "reprice again: nothing changes" eq "$out" "repriced 4 events: 0 changed, total cost +0 USD"
printf '{"models": [{"provider": "x", "model": "y", "input_usd_per_mtok": "abc"}]}' > "$W/bad-prices.json"
err=$($TM --db "$PDB" --prices "$W/bad-prices.json" events 2>&1); rc=$?
check "bad price file names file and field" eq "$err/$rc" "tokmeter events: price file $W/bad-prices.json: models[0].input_usd_per_mtok: must be a decimal number/1"
# prices list --json is itself a price file that prices the same.
$TM prices list --json > "$W/all-prices.json"
a=$($TM prices cost --provider anthropic --model claude-opus-4-1 --input-tokens 12345 --output-tokens 678 --cache-write-tokens 90 --cache-write-1h-tokens 40 --json | grep -o '"cost_usd": [0-9.]*')
b=$($TM --prices "$W/all-prices.json" prices cost --provider anthropic --model claude-opus-4-1 --input-tokens 12345 --output-tokens 678 --cache-write-tokens 90 --cache-write-1h-tokens 40 --json | grep -o '"cost_usd": [0-9.]*')
check "prices list --json round-trips" eq "$a|$b" '"cost_usd": 0.2381625|"cost_usd": 0.2381625'
$TM prices import tests/data/litellm_sample.json --output "$W/litellm.json" 2>"$W/imp.err"
check "prices import" eq "$(cat "$W/imp.err")" "converted 4 models (2 skipped: no token prices or no name, or finer than 1e-12 USD per token); use it with --prices $W/litellm.json"
out=$($TM --prices "$W/litellm.json" prices cost --provider mistral --model tiny-model --input-tokens 1000000 --json | grep -o '"cost_usd": [0-9.]*')
check "imported prices apply" eq "$out" '"cost_usd": 0.0375'
# One model named twice in LiteLLM's file: reported, one entry (the key that
# names the provider), the other's cache price kept.
cat > "$W/twice.json" <<'JSON'
{"acme-big": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "cache_read_input_token_cost": 1e-07, "litellm_provider": "acme"},
 "acme/acme-big": {"input_cost_per_token": 1.1e-06, "output_cost_per_token": 2.2e-06, "litellm_provider": "acme"}}
JSON
$TM prices import "$W/twice.json" --output "$W/twice.out" 2>"$W/imp.err"
check "prices import: a model named twice is reported" eq "$(cat "$W/imp.err")" "tokmeter prices import: acme/acme-big is named 2 times (\"acme-big\", \"acme/acme-big\"): kept \"acme/acme-big\" (its key names the provider), a price it lacks taken from the others
converted 1 models (0 skipped: no token prices or no name, or finer than 1e-12 USD per token); use it with --prices $W/twice.out"
out=$($TM --prices "$W/twice.out" prices cost --provider acme --model acme-big --input-tokens 1000000 --cache-read-tokens 1000000 --json | grep -o '"cost_usd": [0-9.]*')
check "a model named twice: its input price and the other's cache price" eq "$out" '"cost_usd": 1.2'
$TM prices show no-such-model >/dev/null; check "prices show unpriced exits 2" eq "$?" 2
out=$($TM prices cost --provider cerebras --model llama3.1-8b --input-tokens 100 | tail -1)
check "prices cost per request" eq "$out" 'total: $0.000006'

# --- reports ----------------------------------------------------------------
RDB="$W/report.db"
cat > "$W/report.ndjson" <<'NDJ'
{"id":"r1","timestamp":"2026-10-01T10:00:00Z","provider":"openai","model":"gpt-4o-mini","user_id":"u1","endpoint":"/chat","input_tokens":1000,"output_tokens":100,"latency_ms":800,"success":true}
{"id":"r2","timestamp":"2026-10-01T11:30:00Z","provider":"openai","model":"gpt-4o-mini","user_id":"u2","endpoint":"/chat","input_tokens":200,"output_tokens":50,"latency_ms":1200,"success":false}
{"id":"r3","timestamp":"2026-10-02T09:00:00Z","provider":"anthropic","model":"claude-haiku-4-5","user_id":"u1","endpoint":"/sum","input_tokens":300,"output_tokens":30,"cost_usd":"0.01"}
{"id":"r4","timestamp":"2026-10-02T23:30:00Z","userId":"u1","metricType":"evaluation_run","value":3}
NDJ
$TM --db "$RDB" ingest "$W/report.ndjson" >/dev/null
out=$($TM --db "$RDB" report --from 2026-10-01 --to 2026-10-03 --interval day --group-by provider --tz UTC --json)
check "report --json shape" eq "$out" '{"from": "2026-10-01T00:00:00Z", "to": "2026-10-03T00:00:00Z", "interval": "day", "tz": "UTC", "group_by": ["provider"],
 "rows": [
  {"period": "2026-10-01", "provider": "openai", "events": 2, "requests": 2, "value": 2, "input_tokens": 1200, "output_tokens": 150, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "total_tokens": 1350, "cost_usd": 0.00027, "unpriced": 0, "errors": 1, "error_rate": 0.5, "latency_p50_ms": 804.461, "latency_p95_ms": 804.461, "latency_p99_ms": 804.461, "latency_avg_ms": 1000},
  {"period": "2026-10-02", "provider": "", "events": 1, "requests": 0, "value": 3, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "total_tokens": 0, "cost_usd": 0, "unpriced": 1, "errors": 0, "error_rate": 0, "latency_p50_ms": null, "latency_p95_ms": null, "latency_p99_ms": null, "latency_avg_ms": null},
  {"period": "2026-10-02", "provider": "anthropic", "events": 1, "requests": 1, "value": 1, "input_tokens": 300, "output_tokens": 30, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "total_tokens": 330, "cost_usd": 0.01, "unpriced": 0, "errors": 0, "error_rate": 0, "latency_p50_ms": null, "latency_p95_ms": null, "latency_p99_ms": null, "latency_avg_ms": null}
 ],
 "totals": {"events": 4, "requests": 3, "value": 6, "input_tokens": 1500, "output_tokens": 180, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "total_tokens": 1680, "cost_usd": 0.01027, "unpriced": 1, "errors": 1, "error_rate": 0.25, "latency_p50_ms": 804.461, "latency_p95_ms": 804.461, "latency_p99_ms": 804.461, "latency_avg_ms": 1000}}'
# Days cut in another zone: the 23:30 UTC event is on Oct 3 in Berlin.
out=$($TM --db "$RDB" report --from 2026-10-01 --to 2026-10-04 --interval day --tz Europe/Berlin --csv | cut -d, -f1,2)
check "report --csv in Berlin" eq "$out" "$(printf 'period,events\n2026-10-01,2\n2026-10-02,1\n2026-10-03,1')"
out=$($TM --db "$RDB" report --from 2026-10-01 --to 2026-10-03 --group-by user_id --where provider=openai,anthropic --order-by total_tokens --limit 1 --tz UTC --json | grep -o '"user_id": "[^"]*", "events": [0-9]*')
check "report where/order/limit" eq "$out" '"user_id": "u1", "events": 2'
$TM --db "$RDB" report --from 2026-10-01T10:30:00Z --to 2026-10-03 --tz UTC --plan >/dev/null 2>"$W/plan"
check "report plan: rollups and events" eq "$(cat "$W/plan")" "plan: rollups+events"
out=$($TM --db "$RDB" report --from 2026-10-01 --to 2026-10-03 --group-by user_id --order-by cost_usd --limit 1 --tz UTC --plan --csv 2>"$W/plan" | cut -d, -f1,2)
check "report top user by cost" eq "$out" "$(printf 'user_id,events\nu1,3')"
check "report top users read the user rollups" eq "$(cat "$W/plan")" "plan: rollups"
err=$($TM --db "$RDB" report --group-by colour 2>&1); rc=$?
check "report bad dimension" eq "$rc" 64
out=$($TM --db "$RDB" usage u1 --period 2026-10 --tz UTC --json)
check "usage --json shape" eq "$out" '{"user_id": "u1", "period": "2026-10", "current_period": {"requests": 3, "tokens": 1430, "cost": 0.01021, "limit": null},
 "daily_breakdown": [{"date": "2026-10-02", "requests": 2, "tokens": 330, "cost": 0.01}, {"date": "2026-10-01", "requests": 1, "tokens": 1100, "cost": 0.00021}],
 "top_endpoints": [{"endpoint": "", "calls": 1}, {"endpoint": "/chat", "calls": 1}, {"endpoint": "/sum", "calls": 1}]}'
$TM --db "$RDB" usage u1 --period 2026-13 >/dev/null 2>&1; check "usage bad period" eq "$?" 64
$TM --db "$RDB" verify >/dev/null; check "verify with rollups" eq "$?" 0
# Hourly periods before 1970 (Kolkata is UTC+5:30: 00:10 UTC on 1970-01-01
# is in the local hour starting 1969-12-31T23:30Z): negative period keys,
# under UBSan.
printf '%s\n' '{"id":"e1","provider":"p","model":"m","input_tokens":5,"timestamp":"1970-01-01T00:10:00Z"}' | $TMSAN --db "$W/epoch.db" ingest - >/dev/null
out=$($TMSAN --db "$W/epoch.db" report --from 1970-01-01 --to 1970-01-02 --interval hour --tz Asia/Kolkata --json 2>&1); rc=$?
check "report hourly in Kolkata over 1970-01-01: exit 0" eq "$rc" 0
check "report hourly in Kolkata over 1970-01-01: the period" eq "$(echo "$out" | jget '[(r["period"], r["input_tokens"]) for r in d["rows"]]')" "[('1970-01-01T05:00', 5)]"

# --- durability: SIGKILL while writing with synchronous acks -------------
CDB="$W/crash.db"
round=0
while [ $round -lt 4 ]; do
    ./build/tm_crashwriter "$CDB" "r$round" 16 > "$W/acked.$round" 2>"$W/crash.err" &
    echo $! > "$W/crash.pid"
    # Let it write for a while that differs per round, then kill -9.
    sleep "0.$((3 + round * 2))"
    kill -9 "$(cat "$W/crash.pid")"; wait "$(cat "$W/crash.pid")" 2>/dev/null
    rm -f "$W/crash.pid"
    round=$((round + 1))
done
# Only whole lines count as acknowledged (a kill may cut the last one).
cat "$W"/acked.* | grep -E '^r[0-9]+-[0-9]+-[0-9]+$' | sort > "$W/acked.all"
nacked=$(wc -l < "$W/acked.all")
sqlite3 "$CDB" "SELECT id FROM events" | sort > "$W/stored.all"
missing=$(comm -23 "$W/acked.all" "$W/stored.all" | wc -l)
dups=$(sqlite3 "$CDB" "SELECT COUNT(*) FROM (SELECT id FROM events GROUP BY id HAVING COUNT(*) > 1)")
echo "  durability: $nacked acknowledged events over 4 SIGKILLs, $missing missing, $dups stored twice" >&2
check "crash test acknowledged something" num "$nacked" ">" 100
check "no acknowledged event lost" eq "$missing" 0
check "no event stored twice" eq "$dups" 0
$TM --db "$CDB" verify > "$W/verify.out"; check "verify after crashes" eq "$?" 0
# Re-sending every acknowledged event after the crashes: all duplicates.
sed 's/.*/{"id":"&","provider":"p"}/' "$W/acked.all" > "$W/resend.ndjson"
out=$($TM --db "$CDB" ingest --json "$W/resend.ndjson")
check "re-sent after crash are duplicates" eq "$out" "{\"accepted\": 0, \"duplicates\": $nacked, \"rejected\": []}"

# --- disk full: a clear error, nothing half-stored, recovery --------------
# A 4 MiB tmpfs in a private mount namespace (unshare -m: nothing mounted
# outside this test), filled but for 256 KiB; a 3,000-event batch (~700
# KiB) then cannot commit. The namespace's shell writes what happened to
# files in $W (outside the tmpfs) for the checks below.
python3 -c '
import json
for i in range(3000): print(json.dumps({"id": "big%d" % i, "provider": "p", "model": "m", "input_tokens": i, "metadata": {"pad": "x" * 200}}))' > "$W/batch.ndjson"
mkdir "$W/full"
TM="$TM" W="$W" unshare -m sh -c '
mount -t tmpfs -o size=4m tmpfs "$W/full" || exit 9
D="$W/full/s.db"
echo "{\"id\":\"first\",\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1}" | $TM --db "$D" ingest - >/dev/null
dd if=/dev/zero of="$W/full/slack" bs=4k count=64 2>/dev/null
dd if=/dev/zero of="$W/full/fill" bs=4k 2>/dev/null; rm "$W/full/slack"
$TM --db "$D" ingest "$W/batch.ndjson" >/dev/null 2>"$W/df.err"; echo $? > "$W/df.rc"
$TM --db "$D" report --from 2000-01-01 --to 2100-01-01 --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"totals\"][\"events\"])" > "$W/df.events"
rm "$W/full/fill"
$TM --db "$D" ingest "$W/batch.ndjson" > "$W/df.again" 2>&1; echo $? >> "$W/df.again"
$TM --db "$D" verify >/dev/null 2>&1; echo $? > "$W/df.verify"
'
check "disk full: the namespace ran" eq "$?" 0
check "disk full: ingest fails" eq "$(cat "$W/df.rc")" 1
check "disk full: says so, and where" eq "$(cat "$W/df.err")" "tokmeter ingest: store: commit: disk full (No space left on device) writing $W/full/s.db"
check "disk full: nothing of the batch stored" eq "$(cat "$W/df.events")" 1
check "disk full: with space again, the batch stored" eq "$(cat "$W/df.again")" "$(printf 'ingested %s: 3000 accepted, 0 duplicates, 0 rejected\n0' "$W/batch.ndjson")"
check "disk full: verify after" eq "$(cat "$W/df.verify")" 0

# --- serve ----------------------------------------------------------------
SDB="$W/serve.db"
PORT=$(free_port)
$TMSAN --db "$SDB" serve --listen "127.0.0.1:$PORT" --max-body 100000 2>"$W/serve.log" &
echo $! > "$W/serve.pid"
i=0; until curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
U="http://127.0.0.1:$PORT"
out=$(curl -s "$U/healthz"); check "healthz" eq "$out" '{"status":"ok"}'
out=$(curl -s -X POST "$U/v1/events" -d '{"id":"s1","provider":"openai","input_tokens":5}')
check "POST one event" eq "$out" '{"accepted":1,"duplicates":0,"rejected":[]}'
out=$(curl -s -X POST "$U/v1/events" -d '[{"id":"s1","provider":"openai"},{"id":"s2","model":"m"},{"id":"s3","input_tokens":-1}]')
check "POST array" eq "$out" '{"accepted":1,"duplicates":1,"rejected":[{"index":2,"error":"input_tokens: must be a non-negative integer"}]}'
out=$(printf '{"id":"n1","provider":"p"}\n{"id":"n2","provider":"p"}\n' | curl -s -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- "$U/v1/events")
check "POST NDJSON" eq "$out" '{"accepted":2,"duplicates":0,"rejected":[]}'
out=$(curl -s -X POST -H 'Idempotency-Key: k-1' "$U/v1/events" -d '{"provider":"x"}')
out2=$(curl -s -X POST -H 'Idempotency-Key: k-1' "$U/v1/events" -d '{"provider":"x"}')
check "Idempotency-Key" eq "$out $out2" '{"accepted":1,"duplicates":0,"rejected":[]} {"accepted":0,"duplicates":1,"rejected":[]}'
code=$(curl -s -o "$W/r" -w '%{http_code}' -X POST "$U/v1/events" -d '{"id":')
check "malformed body 400" eq "$code $(cat "$W/r")" '400 {"error":{"code":"invalid_body","message":"body: invalid JSON at byte 6: premature EOF"}}'
code=$(curl -s -o "$W/r" -w '%{http_code}' -X POST "$U/v1/events" --data-binary '')
check "empty body 400" eq "$code" 400
head -c 200000 /dev/zero | tr '\0' ' ' > "$W/big"
code=$(curl -s -o "$W/r" -w '%{http_code}' -X POST "$U/v1/events" --data-binary @"$W/big")
check "oversized body 413" eq "$code" 413
code=$(curl -s -o "$W/r" -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' "$U/v1/events" --data-binary @"$W/big")
check "oversized chunked body 413" eq "$code" 413
code=$(curl -s -o "$W/r" -w '%{http_code}' "$U/nope")
check "unknown route 404" eq "$code" 404
code=$(curl -s -o "$W/r" -w '%{http_code}' "$U/v1/events")
check "wrong method 405" eq "$code" 405
out=$(curl -s -X POST "$U/api/usage/track" -d '{"provider":"cerebras","model":"llama3.1-8b","prompt_tokens":3,"completion_tokens":4,"operation_type":"qualification","success":true}')
check "seed route /api/usage/track" eq "$out" '{"accepted":1,"duplicates":0,"rejected":[]}'
kill -TERM "$(cat "$W/serve.pid")"; wait "$(cat "$W/serve.pid")"; rc=$?; rm -f "$W/serve.pid"
check "serve exits 0 on SIGTERM" eq "$rc" 0
out=$(sqlite3 "$SDB" "SELECT COUNT(*) FROM events")
check "served events stored" eq "$out" 6
$TM serve --listen 0.0.0.0:1 >/dev/null 2>"$W/err"; rc=$?
check "serve refuses non-loopback without keys" eq "$rc" 1
check "refusal says why" greps "$W/err" "not a loopback address"

# --- quota: the table and --json show the same numbers ----------------------
echo '{"tiers": {"pro": {"period": "month", "limits": {"requests": 10, "cost_usd": {"limit": "5", "soft": true}}}}, "default_tier": "pro"}' > "$W/q.json"
echo '{"user_id":"qu1","provider":"openai","model":"gpt-4o-mini","input_tokens":1000}' | $TM --db "$W/q.db" ingest >/dev/null
out=$($TM --db "$W/q.db" --config "$W/q.json" quota qu1 | tail -2); rc=$?
check "quota table" eq "$out/$rc" "requests                                   10                1                9
cost_usd                                    5          0.00015          4.99985  (soft)/0"
out=$($TM --db "$W/q.db" --config "$W/q.json" quota qu1 --json | jget 'd["limits"]["cost_usd"]')
check "quota --json" eq "$out" "{'limit': 5, 'used': 0.00015, 'remaining': 4.99985, 'soft': True}"

# --- usage: the human view is the same month as --json ----------------------
for i in 1 2 3; do echo "{\"timestamp\":\"2026-10-0${i}T10:00:00Z\",\"user_id\":\"uu\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"endpoint\":\"/chat\",\"input_tokens\":$((i*100))}"; done | $TM --db "$W/uu.db" ingest >/dev/null
out=$($TM --db "$W/uu.db" usage uu --period 2026-10 --tz UTC); rc=$?
check "usage table" eq "$out/$rc" "uu in 2026-10: 3 events, 600 tokens, \$0.00009

DATE             EVENTS       TOKENS       COST USD
2026-10-03            1          300       0.000045
2026-10-02            1          200        0.00003
2026-10-01            1          100       0.000015

TOP ENDPOINTS                                 CALLS
/chat                                             3/0"

finish
