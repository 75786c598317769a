#!/bin/sh
# tests/cli/ccusage.sh — tokmeter's daily report over an imported Claude Code
# tree gives, per day and model, the tokens and cost that ccusage (npm
# package, pinned; `claude daily --json --offline -z UTC`) gives for the
# same tree: the fixture tree and a generated one of 20,000 records with
# content-block copies, resumed sessions, synthetic and cut-short lines.
# ccusage is installed into build/npm on first use (scripts/ccusage.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
W=$(mktemp -d /tmp/tmccu.XXXXXX)
trap 'rm -rf "$W"' EXIT

CCU=$(sh scripts/ccusage.sh) || { echo "FAIL: ccusage could not be installed or run" >&2; exit 1; }

# compare TREE NAME: every (day, model) cell of both reports, tokens exact,
# cost to 1e-9 relative (ccusage sums doubles; tokmeter is exact).
compare() {
    CLAUDE_CONFIG_DIR="$1" "$CCU" claude daily --json --offline -z UTC --breakdown > "$W/ccu.json" 2>"$W/ccu.err" ||
        { bad "$2: ccusage failed: $(cat "$W/ccu.err")"; return; }
    rm -f "$W/t.db"
    ./build/tokmeter --db "$W/t.db" import claude-code "$1" --quiet >/dev/null ||
        { bad "$2: import failed"; return; }
    ./build/tokmeter --db "$W/t.db" report --from 2020-01-01 --to 2030-01-01 --tz UTC \
        --interval day --group-by model --json > "$W/tm.json"
    if python3 - "$W/ccu.json" "$W/tm.json" "$2" <<'PY'; then ok; else bad "$2: reports differ"; fi
import json, sys
c, t, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
cc = {(d["date"], m["modelName"]): (m["inputTokens"], m["outputTokens"], m["cacheReadTokens"],
                                    m["cacheCreationTokens"], m["cost"])
      for d in c["daily"] for m in d["modelBreakdowns"]}
tt = {(r["period"], r["model"]): (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"],
                                  r["cache_write_tokens"], r["cost_usd"]) for r in t["rows"]}
bad = 0
for k in sorted(set(cc) | set(tt)):
    a, b = cc.get(k), tt.get(k)
    if a is None or b is None or a[:4] != b[:4] or abs(a[4] - b[4]) > 1e-9 * max(1.0, abs(a[4])):
        bad += 1
        if bad <= 5:
            print("  %s %s %s: ccusage %s, tokmeter %s" % (name, k[0], k[1], a, b), file=sys.stderr)
print("  %s: %d day/model cells, %d differ" % (name, len(cc), bad))
sys.exit(1 if bad or not cc else 0)
PY
}

compare tests/fixtures/claude fixtures
./build/gen_claude "$W/gen" 20000 7
compare "$W/gen" generated

finish
