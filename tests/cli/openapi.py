#!/usr/bin/env python3
"""tests/cli/openapi.py — docs/openapi.yaml against the routes the daemon
registers (the tm__routes table of src/server/routes.c) and against a live
daemon: the same (method, path) pairs both ways, every documented route
answers (not 404 or 405), and GET /openapi.yaml serves the file byte for byte.

usage: openapi.py ROUTES_C OPENAPI_YAML PORT
"""
import re, sys, urllib.error, urllib.request

routes_c, yaml_path, port = sys.argv[1], sys.argv[2], sys.argv[3]
src = open(routes_c).read()
table = src[src.index("const route tm__routes[]"):]
table = table[:table.index("};")]
registered = {(m.lower(), name) for m, name in
              re.findall(r'\{"([A-Z]+)",\s*"[^"]*",\s*"[^"]*",\s*"([^"]*)"', table)}

text = open(yaml_path, "rb").read()
documented, path = set(), None
for line in text.decode().split("\n"):
    m = re.match(r"^  (/\S*):\s*$", line)
    if m:
        path = m.group(1)
        continue
    m = re.match(r"^    (get|post|put|delete|patch):", line)
    if m and path:
        documented.add((m.group(1), path))
    elif re.match(r"^\S", line):
        path = None

fails = 0
for what, pairs in (("registered but not in openapi.yaml", registered - documented),
                    ("in openapi.yaml but not registered", documented - registered)):
    for method, p in sorted(pairs):
        print(f"FAIL: {method.upper()} {p}: {what}")
        fails += 1

base = f"http://127.0.0.1:{port}"
for method, p in sorted(documented):
    # A path parameter is a user id, but for the dashboard's files a file.
    url = base + re.sub(r"\{([^}]+)\}", lambda m: "app.js" if m.group(1) == "file" else "u1", p)
    body = b"{}" if method in ("post", "put") else None
    req = urllib.request.Request(url, data=body, method=method.upper())
    try:
        status = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    if status in (404, 405):
        print(f"FAIL: {method.upper()} {p}: the daemon answers {status}, wanted a route")
        fails += 1

served = urllib.request.urlopen(base + "/openapi.yaml", timeout=10)
got = served.read()
if got != text or served.headers.get("Content-Type") != "application/yaml":
    print(f"FAIL: GET /openapi.yaml: {len(got)} bytes ({served.headers.get('Content-Type')}), "
          f"wanted the {len(text)} bytes of {yaml_path} as application/yaml")
    fails += 1
if fails:
    sys.exit(1)
print(f"openapi.yaml: {len(documented)} routes, the same as the daemon registers; all answer; served as is")
