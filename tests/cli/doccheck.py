#!/usr/bin/env python3
"""tests/cli/doccheck.py — runs the curl examples of docs/api.md.

Each ```sh block is run (with the daemon's real port) in order; when a
```json block follows it, the output must be the same JSON value: the same
keys, the same strings and numbers, arrays of the same length and order.
Only the dates that depend on the clock are not compared literally:
period_start and reset_at must be this month's and next month's first
(UTC), end_date within a minute of now, start_date end_date less the
route's hours or days. Prints one line per mismatch and exits 1.

usage: doccheck.py DOC PORT [--print]   (--print shows what each example got)
"""
import datetime as dt, json, re, subprocess, sys, urllib.parse

doc, port = sys.argv[1], sys.argv[2]
show = "--print" in sys.argv
text = open(doc).read()
blocks = re.findall(r"```(sh|json)\n(.*?)```", text, re.S)
now = dt.datetime.now(dt.timezone.utc)

def when(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)

def clock_ok(key, got, ctx):
    """The clock-bound dates: what they must be now."""
    try:
        t = when(got)
    except (TypeError, ValueError):
        return f"not an RFC 3339 time in whole seconds ({got!r})"
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    if key == "period_start" and t != first:
        return f"{got}, wanted {first:%Y-%m-%dT%H:%M:%SZ} (this month's first)"
    if key == "reset_at" and t != nxt:
        return f"{got}, wanted {nxt:%Y-%m-%dT%H:%M:%SZ} (next month's first)"
    if key == "end_date" and abs((t - now).total_seconds()) > 60:
        return f"{got}, wanted now ({now:%Y-%m-%dT%H:%M:%SZ})"
    if key == "start_date":
        end = when(ctx["end_date"])
        span = dt.timedelta(hours=ctx["period_hours"]) if "period_hours" in ctx else \
            dt.timedelta(days=int(ctx.get("_days", 7)))
        if t != end - span:
            return f"{got}, wanted end_date less {span}"
    return None

CLOCK = {"period_start", "reset_at", "start_date", "end_date"}

def same(want, got, path="$", ctx=None):
    if isinstance(want, dict) and isinstance(got, dict):
        if set(want) != set(got):
            return f"{path}: keys {sorted(want)} in the docs, {sorted(got)} from the daemon"
        c = dict(got, _days=(ctx or {}).get("_days"))
        for k in want:
            if k in CLOCK:
                e = clock_ok(k, got[k], c)
                e = e and f"{path}.{k}: {e}"
            else:
                e = same(want[k], got[k], f"{path}.{k}", c)
            if e:
                return e
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{path}: {len(want)} items in the docs, {len(got)} from the daemon"
        for i, (a, b) in enumerate(zip(want, got)):
            e = same(a, b, f"{path}[{i}]", ctx)
            if e:
                return e
        return None
    if type(want) != type(got) or want != got:
        return f"{path}: {json.dumps(want)} in the docs, {json.dumps(got)} from the daemon"
    return None

n = fails = 0
for i, (lang, body) in enumerate(blocks):
    if lang != "sh":
        continue
    cmd = body.replace("127.0.0.1:8787", f"127.0.0.1:{port}")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30).stdout
    n += 1
    if show:
        print(f"--- example {n}: {cmd.strip()[:120]}\n{out}")
    if i + 1 < len(blocks) and blocks[i + 1][0] == "json":
        want = json.loads(blocks[i + 1][1])
        try:
            got = json.loads(out)
        except ValueError:
            print(f"FAIL example {n}: not JSON: {out[:300]!r}\n  {cmd.strip()[:200]}")
            fails += 1
            continue
        url = re.search(r"https?://\S+?(?=['\s]|$)", cmd)
        days = urllib.parse.parse_qs(urllib.parse.urlparse(url.group(0)).query).get("days", ["7"])[0] if url else "7"
        err = same(want, got, ctx={"_days": days})
        if err:
            print(f"FAIL example {n}: {err}\n  {cmd.strip()[:200]}\n  got: {out[:600]}")
            fails += 1
    elif not out.strip():
        print(f"FAIL example {n}: no output\n  {cmd.strip()[:200]}")
        fails += 1
if fails:
    sys.exit(1)
print(f"docs/api.md: {n} examples ran, every documented value matched")
