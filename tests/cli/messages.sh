#!/bin/sh
# tests/cli/messages.sh — what a new user meets first (issue 16): empty
# events refused, byte-order marks and pretty-printed JSON accepted, error
# messages in one form that name the thing and the reason, exit codes, and
# tables that line up (display width, ellipsis, thousands separators, small
# costs, unpriced rows, cache buckets), and the README's tour as shown.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
TM=./build/tokmeter
TMSAN=./build/asan/tokmeter
W=$(mktemp -d /tmp/tmmsg.XXXXXX)
trap '[ -f "$W/pid" ] && kill -9 "$(cat "$W/pid")" 2>/dev/null; rm -rf "$W"' EXIT
export TOKMETER_DB="$W/t.db" HOME="$W/home" XDG_CONFIG_HOME= XDG_DATA_HOME= TOKMETER_CONFIG= TOKMETER_PRICES=
unset TZ
run() { "$@" >"$W/out" 2>"$W/err"; echo $?; }   # exit status; stdout in out, stderr in err
MISSING="provider: missing: an LLM call needs a provider or a model (or its tokens or cost); any other event needs its metric_type"

# --- events that say nothing are refused; metric events need only their type ----
check "track with no flags: exit 2" eq "$(run $TM track)" 2
check "track with no flags: names what is missing" eq "$(cat "$W/err")" "tokmeter track: $MISSING"
check "track with no flags: nothing stored" eq "$($TM events --json)" "[]"
check "a metric event needs only its type" eq "$(run $TM track --metric-type evaluation_run --user-id u9)" 0
check "the seed lesson's event (tokens and cost, no provider)" eq "$(run $TM track --user-id u1 --endpoint /api/gaming/open-pack --tokens 25 --cost-usd 0.0005)" 0
check "cost_usd out of range names the range" eq "$(run $TM track --provider x --cost-usd 1e30)/$(cat "$W/err")" "2/tokmeter track: cost_usd: is out of range (0 to 9223372.036854775807)"

# --- ingest: a BOM, a pretty-printed object or array, the rejected as a list -----
printf '\357\273\277{"id":"b1","provider":"x"}\n{"id":"b2","provider":"x"}\n{"id":"b3"}\n' > "$W/bom.ndjson"
check "BOM NDJSON: both good events, the bad one listed" eq "$(run $TM ingest --json "$W/bom.ndjson")/$(cat "$W/out")" \
    "2/{\"accepted\": 2, \"duplicates\": 0, \"rejected\": [{\"index\": 2, \"line\": 3, \"error\": \"$MISSING\"}]}"
check "BOM NDJSON: the stderr line" eq "$(cat "$W/err")" "line 3: $MISSING"
printf '{\n  "id": "p1",\n  "provider": "x",\n  "input_tokens": 5\n}\n' > "$W/pretty.json"
check "a pretty-printed object on stdin" eq "$(run $TM ingest --json - < "$W/pretty.json")/$(cat "$W/out")" '0/{"accepted": 1, "duplicates": 0, "rejected": []}'
printf '\357\273\277[\n  {"id": "p2", "provider": "x"},\n  {"id": "p3", "input_tokens": -1}\n]\n' > "$W/pretty-array.json"
check "a pretty-printed array with a BOM" eq "$(run $TM ingest --json - < "$W/pretty-array.json")/$(cat "$W/out")" \
    '2/{"accepted": 1, "duplicates": 0, "rejected": [{"index": 1, "error": "input_tokens: must be a non-negative integer"}]}'
check "ingest --json: rejected has the daemon's shape" eq "$(jget 'sorted(d["rejected"][0])' < "$W/out")" "['error', 'index']"

# --- errors: one form, naming the thing -----------------------------------------
check "--config missing: exit 1" eq "$(run $TM --config "$W/missing.json" report)" 1
check "--config missing: names the config file" eq "$(cat "$W/err")" "tokmeter report: cannot read the config file $W/missing.json: No such file or directory"
check "serve --config missing: names the config file" eq "$(run $TM --config "$W/missing.json" serve)/$(cat "$W/err")" "1/tokmeter serve: cannot read the config file $W/missing.json: No such file or directory"
check "--prices missing: names the price file" eq "$(run $TM --prices "$W/missing.json" events)/$(cat "$W/err")" "1/tokmeter events: cannot read the price file $W/missing.json: No such file or directory"
FORMS="give RFC 3339 (2026-10-01T13:05:00Z), a date (2026-10-01), epoch milliseconds, or a span back from now (30m, 24h, 7d, 2w)"
check "report --from 2026/10/01" eq "$(run $TM report --from 2026/10/01)/$(cat "$W/err")" "64/tokmeter report: --from: '2026/10/01' is not a time: $FORMS"
check "report --from yesterday" eq "$(run $TM report --from yesterday)/$(cat "$W/err")" "64/tokmeter report: --from: 'yesterday' is not a time: $FORMS"
check "events --since yesterday: the same words" eq "$(run $TM events --since yesterday)/$(cat "$W/err")" "64/tokmeter events: --since: 'yesterday' is not a time: $FORMS"
check "report --from 7d works" eq "$(run $TM report --from 7d)" 0
check "keys revoke nope: no doubled prefix" eq "$(run $TM keys revoke nope)/$(cat "$W/err")" "1/tokmeter keys: no active key with id nope"
check "prices frob: an unknown subcommand, listed" eq "$(run $TM prices frob)/$(cat "$W/err")" "64/tokmeter prices: unknown subcommand 'frob' (one of: list, show, cost, import)"
check "prices shwo: the nearest" eq "$(run $TM prices shwo x)/$(cat "$W/err")" "64/tokmeter prices: unknown subcommand 'shwo' (one of: list, show, cost, import); did you mean 'show'?"
check "reprot: did you mean report" eq "$(run $TM reprot)/$(cat "$W/err")" "64/tokmeter: unknown command 'reprot'; did you mean 'report'? (see tokmeter --help)"
check "frobnicate: no suggestion" eq "$(run $TM frobnicate)/$(cat "$W/err")" "64/tokmeter: unknown command 'frobnicate' (see tokmeter --help)"
# Every command's errors read "tokmeter CMD: ..." (main's own "tokmeter: ...").
for c in "track --bogus" "report --limit x" "usage" "events --limit x" "keys lst" "ingest a b" \
         "report --interval fortnight" "quota" "alerts chek" "sources rmove" "import nothing"; do
    run $TM $c >/dev/null
    cmd=${c%% *}
    case "$(head -1 "$W/err")" in
        "tokmeter $cmd: "*|"tokmeter $cmd "*": "*) ok ;;
        *) bad "error form of '$c': $(head -1 "$W/err")" ;;
    esac
done

# --- exit codes -------------------------------------------------------------------
check "report --csv --json is refused" eq "$(run $TM report --csv --json)/$(cat "$W/err")" "64/tokmeter report: --csv and --json: choose one"
check "serve --listen nonsense: a usage error" eq "$(run $TM serve --listen nonsense)/$(cat "$W/err")" "64/tokmeter serve: listen: 'nonsense' must be HOST:PORT, like 127.0.0.1:8787"
check "prices show gpt-9: unpriced is 2" eq "$(run $TM prices show gpt-9)" 2
check "prices cost --model nope: unpriced is 2 too" eq "$(run $TM prices cost --model nope --input-tokens 5)" 2
check "prices cost of a priced model: 0" eq "$(run $TM prices cost --provider openai --model gpt-4o-mini --input-tokens 5)" 0

# --- quota: a tier no loaded config defines ----------------------------------------
printf '{"tiers": {"pro": {"limits": {"cost_usd": "10"}}, "team": {}}}' > "$W/tiers.json"
check "set-tier without a config: says none is configured and where" eq "$(run $TM users set-tier u1 pro)/$(cat "$W/err")" \
    "64/tokmeter users set-tier: tier: no tier named 'pro': no tiers are configured (the config file: --config FILE or \$TOKMETER_CONFIG)"
check "set-tier of a tier the config lacks" eq "$(run $TM --config "$W/tiers.json" users set-tier u1 gold)/$(cat "$W/err")" \
    "64/tokmeter users set-tier: tier: no tier named 'gold' in the config (its tiers: pro, team)"
check "set-tier with the config" eq "$(run $TM --config "$W/tiers.json" users set-tier u1 pro)" 0
run $TM quota u1 >/dev/null
check "quota without the config: the tier is named" has "$(cat "$W/out")" "u1: tier pro (not defined)"
check "quota without the config: where it is looked for" has "$(cat "$W/out")" "(no limits: u1 is on tier 'pro', which is not in any loaded config: none was
 given and none is at $W/home/.config/tokmeter/config.json; use --config FILE or \$TOKMETER_CONFIG)"
check "quota with the config: the limit" has "$($TM --config "$W/tiers.json" quota u1)" "cost_usd"

# --- import: the wrong kind of log says so ----------------------------------------
echo '{"type":"session_meta","payload":{}}' > "$W/notcodex.jsonl"
check "import codex FILE of another kind: exit 2" eq "$(run $TM import codex --quiet "$W/notcodex.jsonl")" 2
check "import codex FILE of another kind: says why" eq "$(cat "$W/err")" "tokmeter import: none of the 1 lines read holds a codex usage record: are these codex logs? (see docs/importers.md)"
mkdir -p "$W/claude-logs/projects/-p"; cp tests/fixtures/claude/projects/-home-u-beta/s3.jsonl "$W/claude-logs/projects/-p/"
check "import opencode DIR of Claude logs: exit 2" eq "$(run $TM import opencode --quiet "$W/claude-logs")" 2
check "import opencode DIR of Claude logs: a warning" eq "$(cat "$W/err")" "tokmeter import: no opencode files found (storage/message/**/*.json messages) under $W/claude-logs"

# --- tables ---------------------------------------------------------------------
export TOKMETER_DB="$W/tables.db"
$TM track --provider openai --model gpt-4o-mini --user-id u1 --input-tokens 1200 --output-tokens 300 --cache-read-tokens 4000 --latency-ms 812.4 >/dev/null
$TM track --provider cerebras --model llama3.1-8b --user-id 'ünï' --input-tokens 100 >/dev/null
$TM track --provider x --model 'модель-名前-a-very-long-model-name-that-goes-on' --user-id u2 --input-tokens 123456789 >/dev/null
$TM events > "$W/events.txt"
# Columns line up by display width: LAT MS's right edge is at the same column on every line.
python3 - "$W/events.txt" <<'PY'; check "events: columns line up by display width" eq "$?" 0
import sys, unicodedata
def width(s):
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(sys.argv[1]).read().splitlines()
ends = {width(l.rsplit(None, 1)[0]) for l in lines}  # up to LAT MS's right edge
if len(ends) != 1:
    print("  line widths differ:", sorted(ends), file=sys.stderr); sys.exit(1)
PY
check "events: a long model cut with an ellipsis" has "$(cat "$W/events.txt")" "модель-名前-a-very-long…"
check "events: thousands separators" has "$(cat "$W/events.txt")" "123,456,789"
check "events: the cache buckets are shown" eq "$(head -1 "$W/events.txt" | grep -o 'INPUT *CACHE READ *CACHE WRITE *OUTPUT *TOTAL')" "INPUT   CACHE READ  CACHE WRITE       OUTPUT        TOTAL"
check "events: the buckets add up" has "$(grep gpt-4o-mini "$W/events.txt")" "1,200        4,000            0          300        5,500"
$TM report --group-by model > "$W/report.txt"
check "report: a \$0.000006 call is not 0.0000" has "$(grep llama "$W/report.txt")" "0.000006"
check "report: an unpriced row says so" has "$(grep 'модель' "$W/report.txt")" "unpriced"
check "report: thousands separators" has "$(grep TOTAL "$W/report.txt")" "123,462,389"
check "report: a partly unpriced total is marked" has "$(cat "$W/report.txt")" "* some events of the row have no price"
check "report: rows as wide as the header" eq "$(python3 -c "
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in 'WF' else 1 for c in s)
print(len({w(l) for l in open(sys.argv[1]).read().splitlines()[:-1]}))" "$W/report.txt")" 1
lt=$(readlink /etc/localtime 2>/dev/null | sed -n 's|.*zoneinfo/||p')
[ -z "$lt" ] || check "report --json: the local zone by name" eq "$($TM report --json | jget 'd["tz"]')" "$lt"
check "report --json: TZ's zone by name" eq "$(TZ=Europe/Berlin $TM report --json | jget 'd["tz"]')" "Europe/Berlin"

# --- the README's tour (and its daemon) give what they show; then the daemon:
# {} refused, a BOM accepted, 405 with Allow, the right port -------------------------
# Port 0: the daemon picks a free one and names it in its first log line.
$TMSAN --db "$W/readme.db" serve --listen 127.0.0.1:0 2>"$W/serve.log" & echo $! > "$W/pid"
i=0; until grep -q ' port=' "$W/serve.log" 2>/dev/null || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
P=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$W/serve.log" | head -1); U="http://127.0.0.1:$P"
check "the daemon started" test -n "$P"
out=$(python3 tests/cli/readme.py "$W/readme.db" "$P" README.md "A tour" "The daemon:1"); rc=$?
echo "  $out" >&2
check "README.md: every shown output" eq "$rc" 0
out=$(python3 tests/cli/readme.py "$W/cli.db" "$P" docs/cli.md "Exit status" "track"); rc=$?
echo "  $out" >&2
check "docs/cli.md: the error and track examples" eq "$rc" 0
check "POST {}: refused, naming what is missing" eq "$(curl -s "$U/v1/events" -d '{}')" "{\"accepted\":0,\"duplicates\":0,\"rejected\":[{\"index\":0,\"error\":\"$MISSING\"}]}"
check "POST a body with a BOM" eq "$(printf '\357\273\277{"id":"h1","provider":"x"}' | curl -s "$U/v1/events" --data-binary @-)" '{"accepted":1,"duplicates":0,"rejected":[]}'
check "POST NDJSON with a BOM" eq "$(printf '\357\273\277{"id":"h2","provider":"x"}\n{"id":"h3","provider":"x"}\n' | curl -s "$U/v1/events" -H 'Content-Type: application/x-ndjson' --data-binary @-)" '{"accepted":2,"duplicates":0,"rejected":[]}'
check "405 has Allow" eq "$(curl -s -o /dev/null -D - -X DELETE "$U/v1/events" | tr -d '\r' | grep -i '^allow:')" "Allow: POST"
check "405 on a user: Allow" eq "$(curl -s -o /dev/null -D - -X DELETE "$U/v1/users/u1" | tr -d '\r' | grep -i '^allow:')" "Allow: PUT"
check "405 on a GET route: Allow" eq "$(curl -s -o /dev/null -D - -X POST "$U/v1/usage" -d x | tr -d '\r' | grep -i '^allow:')" "Allow: GET, HEAD"
run $TM --db "$W/http2.db" serve --listen "127.0.0.1:$P" --quiet >/dev/null
check "port in use: the right port, no port 0" eq "$(grep -c 'port 0' "$W/err")/$(grep -c "port $P" "$W/err")/$(tail -1 "$W/err")" \
    "0/1/tokmeter serve: listen: cannot listen on 127.0.0.1:$P: Address already in use"
kill -TERM "$(cat "$W/pid")"; wait "$(cat "$W/pid")"; check "daemon exits 0" eq "$?" 0; rm -f "$W/pid"
finish
