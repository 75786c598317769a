#!/usr/bin/env python3
"""tests/cli/doccheck.py — runs the curl examples of docs/api.md.

Each ```sh block is run (with the daemon's real port) in order; when a
```json block follows it, the output must have the same shape: the same
keys in every object, the same value types, arrays empty or not alike.
Prints one line per example and exits 1 on the first mismatch.
"""
import json, re, subprocess, sys

doc, port = sys.argv[1], sys.argv[2]
text = open(doc).read()
blocks = re.findall(r"```(sh|json)\n(.*?)```", text, re.S)

def kind(v):
    return {dict: "object", list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(v), "number")

def shape(a, b, path="$"):
    if kind(a) != kind(b):
        return f"{path}: {kind(a)} in the docs, {kind(b)} from the daemon"
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} in the docs, {sorted(b)} from the daemon"
        for k in a:
            e = shape(a[k], b[k], f"{path}.{k}")
            if e:
                return e
    if isinstance(a, list):
        if bool(a) != bool(b):
            return f"{path}: {'empty' if not a else 'non-empty'} in the docs, not from the daemon"
        if a:
            return shape(a[0], b[0], f"{path}[0]")
    return None

n = 0
for i, (lang, body) in enumerate(blocks):
    if lang != "sh":
        continue
    cmd = body.replace("127.0.0.1:8787", f"127.0.0.1:{port}")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=30).stdout
    n += 1
    if i + 1 < len(blocks) and blocks[i + 1][0] == "json":
        want = json.loads(blocks[i + 1][1])
        try:
            got = json.loads(out)
        except ValueError:
            print(f"FAIL example {n}: not JSON: {out[:300]!r}\n  {cmd.strip()[:200]}")
            sys.exit(1)
        err = shape(want, got)
        if err:
            print(f"FAIL example {n}: {err}\n  {cmd.strip()[:200]}\n  got: {out[:600]}")
            sys.exit(1)
    elif not out.strip():
        print(f"FAIL example {n}: no output\n  {cmd.strip()[:200]}")
        sys.exit(1)
print(f"docs/api.md: {n} examples ran, every documented shape matched")
