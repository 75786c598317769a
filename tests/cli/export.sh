#!/bin/sh
# tests/cli/export.sh — billing exports and CSV output, end to end: the
# CSV of `tokmeter export` summed (exact decimals) and compared with
# `tokmeter report` over the same month, to the last digit, with a user
# named "=..."; GET /v1/export's key scope and headers; bad period, by and
# format refused naming the field; events/usage --csv; report --fill and
# /v1/usage?fill=zero.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmx.XXXXXX)
export TZ=UTC
trap 'for p in "$W"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
export TOKMETER_DB="$W/x.db"

# 600 events in and around November: priced, unpriced, reported costs, a
# non-LLM metric, users with formula-like, quoted and comma names, projects.
python3 - > "$W/ev.ndjson" <<'PY'
import datetime, json, random
r = random.Random(15)
users = ["alice", "bob", "=HYPERLINK(\"http://x\")", "+cmd", "-2+3", "@sum", "o'neil, \"jr\"", None]
models = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"), ("mystery", "x-1")]
for i in range(600):
    t = 1793232000 + r.randrange(36 * 86400)  # 2026-10-29 .. 2026-12-04 (UTC)
    ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    p, m = r.choice(models)
    ev = {"id": "e%d" % i, "timestamp": ts, "provider": p, "model": m,
          "input_tokens": r.randrange(5000), "output_tokens": r.randrange(900),
          "cache_read_tokens": r.choice([0, 0, 1024]), "latency_ms": r.randrange(50, 3000)}
    u = r.choice(users)
    if u is not None:
        ev["user_id"] = u
    if r.random() < 0.5:
        ev["project"] = r.choice(["web", "=cmd|' /C calc'!A0", "batch"])
    if r.random() < 0.1:
        ev["cost_usd"] = "0.%06d" % r.randrange(10**6)
    if r.random() < 0.05:
        ev = {"id": "img%d" % i, "timestamp": ts, "provider": "replicate", "model": "flux",
              "metric_type": "image.generate", "value": r.randrange(1, 5), "cost_usd": "0.003", "user_id": "bob"}
    print(json.dumps(ev))
PY
$TM ingest "$W/ev.ndjson" >/dev/null; check "ingest" eq "$?" 0

# Sums the item lines and subtotals of an export CSV with exact decimals and
# checks them against its total line and a report's totals (JSON on fd 3).
cat > "$W/sum.py" <<'PY'
import csv, io, json, sys
from decimal import Decimal
raw = open(sys.argv[1], "rb").read().decode()
rep = json.load(open(sys.argv[2]))["totals"]
byrep = {row[sys.argv[3]]: row for row in json.load(open(sys.argv[4]))["rows"]}
bad = []
lines = raw.split("\r\n")
if lines[-1] != "":
    bad.append("the last record does not end in CRLF")
rows = list(csv.DictReader(io.StringIO(raw, newline="")))
cols = ["events", "requests", "input_tokens", "output_tokens", "cache_read_tokens", "total_tokens", "unpriced", "cost_usd"]
group = sys.argv[5]
items = {c: Decimal(0) for c in cols}
per = {}
for row in rows:
    if row["row"] == "item":
        for c in cols:
            items[c] += Decimal(row[c])
            per.setdefault(row[group], {k: Decimal(0) for k in cols})
            per[row[group]][c] += Decimal(row[c])
    elif row["row"] == "subtotal":
        for c in cols:
            if Decimal(row[c]) != per[row[group]][c]:
                bad.append("subtotal %s %s: %s, items sum to %s" % (row[group], c, row[c], per[row[group]][c]))
total = [r for r in rows if r["row"] == "total"]
if len(total) != 1 or rows[-1]["row"] != "total":
    bad.append("want one total line, last; got %d" % len(total))
for c in cols:
    if items[c] != Decimal(str(rep[c])) or Decimal(total[0][c]) != Decimal(str(rep[c])):
        bad.append("%s: items sum %s, total line %s, report %s" % (c, items[c], total[0][c], rep[c]))
# Per group: the CSV shows a guarded name; the report the raw one.
for name, sums in per.items():
    raw_name = name[1:] if name[:1] == "'" and name[1:2] in "=+-@" else name
    r = byrep.get(raw_name)
    if r is None or Decimal(str(r["cost_usd"])) != sums["cost_usd"] or r["events"] != sums["events"]:
        bad.append("group %r: export %s/%s, report %s" % (name, sums["events"], sums["cost_usd"], r and (r["events"], r["cost_usd"])))
if bad:
    print("\n".join(bad)); sys.exit(1)
print("ok: %d lines, %d groups, cost %s" % (len(rows), len(per), items["cost_usd"]))
PY

# --- the CLI export equals the report ---------------------------------------------
NOV="--from 2026-11-01 --to 2026-12-01 --tz UTC"
for by in user project provider; do
    dim=$by; [ $by = user ] && dim=user_id
    $TM export --period 2026-11 --by $by --tz UTC > "$W/$by.csv"; check "export --by $by" eq "$?" 0
    $TM report $NOV --json > "$W/rep.json"
    $TM report $NOV --json --group-by $dim > "$W/rep_$by.json"
    out=$(python3 "$W/sum.py" "$W/$by.csv" "$W/rep.json" "$dim" "$W/rep_$by.json" "$dim" 2>&1); rc=$?
    echo "  $out" | head -5 >&2
    check "export --by $by sums to the report exactly" eq "$rc" 0
done
# The grand total line carries the report's exact text.
want=$(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['totals']['cost_usd']))" "$W/rep.json")
got=$(tail -1 "$W/user.csv" | tr -d '\r' | awk -F, '{print $NF}')
check "total line = report cost, to the last digit" eq "$got" "$want"
check "the total has 12-digit precision" eq "$(printf '%s' "$got" | grep -c '\.')" 1
# Formula guard and RFC 4180 quoting, as a spreadsheet would read them.
check "= name guarded" grep -q "^2026-11,item,\"'=HYPERLINK(\"\"http://x\"\")\",openai," "$W/user.csv"
check "+ name guarded" grep -q "^2026-11,item,'+cmd," "$W/user.csv"
check "- name guarded" grep -q "^2026-11,item,'-2+3," "$W/user.csv"
check "@ name guarded" grep -q "^2026-11,item,'@sum," "$W/user.csv"
check "comma and quotes quoted" grep -q "^2026-11,item,\"o'neil, \"\"jr\"\"\",anthropic," "$W/user.csv"
check "project = guarded" grep -qF "2026-11,subtotal,'=cmd|' /C calc'!A0,,,," "$W/project.csv"
check "non-LLM metric on its own line" grep -q "^2026-11,item,bob,replicate,flux,image.generate," "$W/user.csv"
check "by provider: no repeated column" eq "$(head -1 "$W/provider.csv" | tr -d '\r')" "period,row,provider,model,metric_type,events,requests,value,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,total_tokens,unpriced,cost_usd"
out=$($TM export --period 2026-11 --tz UTC --format json | jget "str(d['total']['cost_usd'])")
check "JSON total = report" eq "$out" "$(python3 -c "import json; print(json.load(open('$W/rep.json'))['totals']['cost_usd'])")"
# Another zone moves the month's edges; the report agrees again.
$TM export --period 2026-11 --tz America/New_York > "$W/ny.csv"
$TM report --from 2026-11-01 --to 2026-12-01 --tz America/New_York --json > "$W/rep_ny.json"
$TM report --from 2026-11-01 --to 2026-12-01 --tz America/New_York --json --group-by user_id > "$W/rep_ny_u.json"
check "New York month sums to its report" python3 "$W/sum.py" "$W/ny.csv" "$W/rep_ny.json" user_id "$W/rep_ny_u.json" user_id
check "New York differs from UTC" eval "! cmp -s $W/ny.csv $W/user.csv"
out=$($TM export --period 2020-01 --tz UTC | tr -d '\r'); rc=$?
check "an empty month: header and a zero total" eq "$rc/$(echo "$out" | tail -1)" "0/2020-01,total,,,,,0,0,0,0,0,0,0,0,0,0,0"

# --- bad input ----------------------------------------------------------------------
for a in "--period 2026-13|--period: '2026-13' must be a month, YYYY-MM" \
         "--period 2026-1|--period: '2026-1' must be a month, YYYY-MM" \
         "--period 2026-11 --by team|--by: must be user, project or provider, not 'team'" \
         "--period 2026-11 --format xml|--format: must be csv or json, not 'xml'" \
         "--period 2026-11 --tz Mars/Base|--tz: unknown time zone 'Mars/Base'" \
         "--by user|--period YYYY-MM is required"; do
    args=${a%%|*} msg=${a#*|}
    out=$($TMSAN export $args 2>&1 >/dev/null); rc=$?
    check "bad: $args exits 64" eq "$rc" 64
    check "bad: $args says why" has "$out" "$msg"
done

# --- events --csv, usage --csv, report --fill ----------------------------------------
out=$($TM events --csv --user "+cmd" --limit 1 | tr -d '\r' | sed -n 2p | cut -d, -f7)
check "events --csv guards user_id" eq "$out" "'+cmd"
out=$($TM events --csv --limit 2 | head -1 | tr -d '\r' | cut -d, -f1-4)
check "events --csv header" eq "$out" "id,timestamp,provider,model"
check "events --csv: CRLF records" eq "$($TM events --csv --limit 3 | grep -c "$(printf '\r')\$")" 4
check "events --csv: no match is a header" eq "$($TM events --csv --user nobody | wc -l)/$?" "1/0"
n=$($TM events --csv --all --since 2026-11-01 --until 2026-12-01 | python3 -c "import csv,sys; print(sum(1 for _ in csv.DictReader(sys.stdin)))")
check "events --csv: every event of November" eq "$n" "$(jget "d['totals']['events']" < "$W/rep.json")"
out=$($TM usage --csv --period 2026-11 --tz UTC -- '-2+3' | tr -d '\r')
check "usage --csv header" eq "$(echo "$out" | head -1)" "user_id,date,requests,tokens,cost_usd"
check "usage --csv guards the user" has "$(echo "$out" | sed -n 2p)" "'-2+3,2026-11-"
s=$(echo "$out" | python3 -c "import csv,sys; from decimal import Decimal as D; print(sum(D(r['cost_usd']) for r in csv.DictReader(sys.stdin)))")
w=$($TM report $NOV --json --where 'user_id=-2+3' | jget "d['totals']['cost_usd']")
check "usage --csv days sum to the report" eq "$(python3 -c "from decimal import Decimal as D; print(D('$s') == D('$w'))")" True
check "report --csv guards too" grep -q "^'+cmd," "$($TM report $NOV --group-by user_id --csv > "$W/rep.csv"; echo "$W/rep.csv")"
out=$($TM report --from 2020-01-01 --to 2020-01-04 --tz UTC --interval day --fill --csv | tr -d '\r' | cut -d, -f1-3)
check "report --fill: zero rows" eq "$out" "period,events,requests
2020-01-01,0,0
2020-01-02,0,0
2020-01-03,0,0"
out=$($TM report --from 2020-01-01 --to 2020-01-04 --tz UTC --interval day --csv | tr -d '\r')
check "report without --fill: no rows" eq "$(echo "$out" | wc -l)" 1
out=$($TM report $NOV --interval day --fill --group-by provider --json | jget "len(d['rows'])")
check "report --fill: 30 days x 4 providers" eq "$out" 120

# --- GET /v1/export -------------------------------------------------------------------
# Port 0: the kernel picks a free port (no clash with tests running beside
# this one); the daemon's first log line says which.
$TMSAN --db "$TOKMETER_DB" serve --listen 127.0.0.1:0 2>"$W/d.log" & echo $! > "$W/d.pid"
i=0; until grep -q ' port=[0-9]' "$W/d.log" 2>/dev/null || [ $i -ge 400 ]; do sleep 0.05; i=$((i + 1)); done
P=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$W/d.log" | head -1); U="http://127.0.0.1:$P"
out=$(curl -s "$U/healthz"); check "daemon started" eq "$out" '{"status":"ok"}'
[ "$out" = '{"status":"ok"}' ] || cat "$W/d.log" >&2
code() { curl -s -o "$W/body" -D "$W/head" -w '%{http_code}' "$@"; }
hdr() { grep -i "^$1:" "$W/head" | tr -d '\r' | cut -d' ' -f2-; }
check "no keys (loopback): export 200" eq "$(code "$U/v1/export?period=2026-11&tz=UTC")" 200
check "the same bytes as the CLI" cmp -s "$W/body" "$W/user.csv"
check "Content-Disposition" eq "$(hdr Content-Disposition)" 'attachment; filename="tokmeter-2026-11-by-user.csv"'
check "Content-Type csv" eq "$(hdr Content-Type)" "text/csv; charset=utf-8; header=present"
check "json export 200" eq "$(code "$U/v1/export?period=2026-11&by=provider&format=json&tz=UTC")" 200
check "Content-Type json" eq "$(hdr Content-Type)" "application/json"
check "json file name" eq "$(hdr Content-Disposition)" 'attachment; filename="tokmeter-2026-11-by-provider.json"'
check "json total = report" eq "$(jget "str(d['total']['cost_usd'])" < "$W/body")" "$(jget "str(d['totals']['cost_usd'])" < "$W/rep.json")"
check "usage fill=zero" eq "$(curl -s "$U/v1/usage?from=2020-01-01&to=2020-01-04&tz=UTC&interval=day&fill=zero" | jget "[r['events'] for r in d['rows']]")" "[0, 0, 0]"
check "usage fill=maybe 400" eq "$(code "$U/v1/usage?interval=day&fill=maybe")" 400
check "fill error names fill" has "$(cat "$W/body")" "fill: must be zero or none, not 'maybe'"
for a in "period=2026-13|period: '2026-13' must be a month, YYYY-MM" \
         "period=2026-11&by=team|by: must be user, project or provider, not 'team'" \
         "period=2026-11&format=xlsx|format: must be csv or json, not 'xlsx'" \
         "by=user|period: is required, as YYYY-MM" \
         "period=2026-11&colour=red|colour: unknown parameter (period, by, format, tz)" \
         "period=2026-11&tz=Mars/Base|tz: unknown time zone 'Mars/Base'"; do
    q=${a%%|*} msg=${a#*|}
    check "bad: $q 400" eq "$(code "$U/v1/export?$q")" 400
    check "bad: $q says why" has "$(cat "$W/body")" "$msg"
    check "bad: $q no attachment" eq "$(hdr Content-Disposition)" ""
done
ADMIN=$($TM keys create --scope admin --name billing | head -1)
READ=$($TM keys create --scope read | head -1)
INGEST=$($TM keys create --scope ingest | head -1)
U1=$($TM keys create --scope read --user alice --json | sed 's/.*"key": "\([^"]*\)".*/\1/')
sleep 1.1 # "no key exists" is trusted for a second
A() { echo "Authorization: Bearer $1"; }
check "keys exist: no key 401" eq "$(code "$U/v1/export?period=2026-11")" 401
check "read key 403" eq "$(code -H "$(A "$READ")" "$U/v1/export?period=2026-11")" 403
check "read key: says admin" has "$(cat "$W/body")" "only an admin key may download exports"
check "user-bound key 403" eq "$(code -H "$(A "$U1")" "$U/v1/export?period=2026-11")" 403
check "ingest key 403" eq "$(code -H "$(A "$INGEST")" "$U/v1/export?period=2026-11")" 403
check "admin key 200" eq "$(code -H "$(A "$ADMIN")" "$U/v1/export?period=2026-11&tz=UTC")" 200
check "admin: the same bytes" cmp -s "$W/body" "$W/user.csv"
check "admin: attachment" has "$(hdr Content-Disposition)" "attachment"
kill -TERM "$(cat "$W/d.pid")"; wait "$(cat "$W/d.pid")"; rc=$?; rm -f "$W/d.pid"
check "daemon (ASan) exits 0" eq "$rc" 0
$TM export --help >/dev/null; check "export --help" eq "$?" 0
finish
