#!/usr/bin/env python3
"""bench/soak.py — a long mixed load against a real `tokmeter serve`, with
the daemon's memory (RSS) and open file descriptors sampled throughout.

Started by bench/soak.sh (`make soak`). For SOAK_SECONDS (default 3600):
  4 client threads on keep-alive connections, each pausing PAUSE_S (0.05)
  between requests (about 80 requests and 300 events a second in all): single events, JSON arrays and
  NDJSON batches (POST /v1/events), reports (GET /v1/usage, grouped, hourly,
  in several zones), per-user usage and quota, PUT /v1/users/{id},
  POST /v1/check, /metrics, /healthz;
  every 20 s: SIGHUP, alternating between two valid configs (different tier
  limits and rate rules);
  every 15 s: `tokmeter keys create` and `keys revoke` of a key from the CLI
  (a second writer on the same store), and one request with the new key
  before and after it is revoked (200, then 401);
  every SAMPLE_S (5) s: VmRSS from /proc/PID/status and the count of
  /proc/PID/fd.

Prints start, end and max of both and the request tally. Fails when:
  - after the warm-up (the first 10% of the run, at least 30 s), RSS grows
    beyond warm-up RSS + 224 MiB (RSS_SLACK_MB): the store's three SQLite
    connections may each fill a 64 MiB page cache as the store grows (192
    MiB), plus 32 MiB; or open descriptors grow beyond warm-up + 8
    (FD_SLACK), at any sample;
  - any answer is a 5xx, a connection fails, or the daemon dies;
  - an acknowledged event is not in the store at the end, or verify fails.
"""
import http.client, json, os, random, signal, subprocess, sys, threading, time

TM = os.environ.get("TM", "./build/tokmeter")
secs = float(os.environ.get("SOAK_SECONDS", "3600"))
sample_s = float(os.environ.get("SAMPLE_S", "5"))
rss_slack = float(os.environ.get("RSS_SLACK_MB", "224")) * 1024
pause = float(os.environ.get("PAUSE_S", "0.05"))
fd_slack = int(os.environ.get("FD_SLACK", "8"))
work = sys.argv[1]
db = os.path.join(work, "soak.db")
cfgs = [os.path.join(work, "a.json"), os.path.join(work, "b.json")]
cfg = os.path.join(work, "config.json")

def config(i):
    return {
        "listen": "127.0.0.1:0", "threads": 8,
        "limits": {"max_events_per_request": 1000, "request_timeout_s": 30},
        "log": {"level": "warn"},
        "tiers": {"free": {"period": "month", "limits": {"requests": 10 ** 9 - i}},
                  "pro": {"period": "day", "tz": "Europe/Berlin",
                          "limits": {"cost_usd": {"limit": "5000", "soft": True},
                                     "total_tokens": 10 ** 12 + i}}},
        "default_tier": "free",
        "rate_limits": [{"scope": "user", "requests_per_second": 1000 + i},
                        {"scope": "global", "tokens_per_minute": 1000000000}],
    }

for i, p in enumerate(cfgs):
    json.dump(config(i), open(p, "w"))
json.dump(config(0), open(cfg, "w"))

def cli(*args):
    return subprocess.run([TM, "--db", db, *args], capture_output=True, text=True)

def key(scope):
    r = cli("keys", "create", "--scope", scope, "--json")
    if r.returncode:
        sys.exit("soak: keys create failed: " + r.stderr)
    d = json.loads(r.stdout)
    return d["key"], d["id"]

admin, _ = key("admin")
log = open(os.path.join(work, "serve.log"), "w")
daemon = subprocess.Popen([TM, "--db", db, "serve", "--config", cfg], stderr=subprocess.PIPE, text=True)
port = None
for line in daemon.stderr:
    log.write(line)
    if "port=" in line:
        port = int(line.split("port=")[1].split()[0])
        break
if not port:
    sys.exit("soak: the daemon did not start")
threading.Thread(target=lambda: [log.write(l) for l in daemon.stderr], daemon=True).start()

stop = threading.Event()
lock = threading.Lock()
tally = {}
acked = []
failures = []

def note(what):
    with lock:
        tally[what] = tally.get(what, 0) + 1

def fail(msg):
    with lock:
        if len(failures) < 20:
            failures.append(msg)
    stop.set()

USERS = [f"u{i}" for i in range(20)]
ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"]

def request(conn, method, path, body=None, ct="application/json", k=None):
    h = {"Authorization": "Bearer " + (k or admin)}
    if body is not None:
        h["Content-Type"] = ct
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r.status, data

def client(n):
    rnd = random.Random(n)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seq = 0
    while not stop.is_set():
        kind = rnd.choice(["one", "one", "array", "ndjson", "usage", "usage", "user", "quota",
                           "put", "check", "check", "metrics", "health"])
        try:
            ids = []
            if kind in ("one", "array", "ndjson"):
                m = 1 if kind == "one" else rnd.randint(2, 50)
                evs = []
                for _ in range(m):
                    seq += 1
                    i = f"s{n}-{seq}"
                    ids.append(i)
                    evs.append({"id": i, "provider": rnd.choice(["anthropic", "openai", "google"]),
                                "model": rnd.choice(["claude-sonnet-4", "gpt-4o", "gemini-2.5-pro"]),
                                "user_id": rnd.choice(USERS), "operation": rnd.choice(["chat", "embed"]),
                                "input_tokens": rnd.randint(0, 5000), "output_tokens": rnd.randint(0, 900),
                                "latency_ms": rnd.randint(1, 9000), "project": f"p{rnd.randint(0, 9)}"})
                if kind == "one":
                    st, data = request(conn, "POST", "/v1/events", json.dumps(evs[0]))
                elif kind == "array":
                    st, data = request(conn, "POST", "/v1/events", json.dumps(evs))
                else:
                    st, data = request(conn, "POST", "/v1/events", "\n".join(map(json.dumps, evs)),
                                       "application/x-ndjson")
                if st == 200:
                    if json.loads(data)["accepted"] != len(ids):
                        fail(f"{kind}: accepted {data[:200]!r} of {len(ids)}")
                    with lock:
                        acked.extend(ids)
            elif kind == "usage":
                q = rnd.choice(["group_by=provider,model", "group_by=user_id,project&interval=hour",
                                "interval=day&tz=" + rnd.choice(ZONES), "order_by=cost_usd&limit=5",
                                "where=provider=openai&group_by=operation&interval=week"])
                st, data = request(conn, "GET", "/v1/usage?from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400 * 3)) + "&" + q)
            elif kind == "user":
                st, data = request(conn, "GET", f"/v1/users/{rnd.choice(USERS)}/usage")
            elif kind == "quota":
                st, data = request(conn, "GET", f"/v1/users/{rnd.choice(USERS)}/quota")
            elif kind == "put":
                st, data = request(conn, "PUT", f"/v1/users/{rnd.choice(USERS)}",
                                   json.dumps({"tier": rnd.choice(["free", "pro"])}))
            elif kind == "check":
                st, data = request(conn, "POST", "/v1/check",
                                   json.dumps({"user_id": rnd.choice(USERS), "operation": "chat",
                                               "estimated_tokens": rnd.randint(1, 2000)}))
            elif kind == "metrics":
                st, data = request(conn, "GET", "/metrics")
            else:
                st, data = request(conn, "GET", "/healthz")
            note(f"{kind} {st}")
            time.sleep(pause)
            if st >= 500:
                fail(f"{kind}: {st} {data[:300]!r}")
        except Exception as e:  # a broken connection is a failure, then reconnect
            note(f"{kind} error")
            if not stop.is_set():
                fail(f"{kind}: {e!r}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

def sample():
    with open(f"/proc/{daemon.pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{daemon.pid}/fd"))

threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
t0 = time.time()
samples = []
next_hup, next_key, cfg_i = t0 + 20, t0 + 15, 0
warm = max(30.0, secs * 0.1)
base = None
while time.time() - t0 < secs and not stop.is_set():
    time.sleep(min(sample_s, max(0.0, secs - (time.time() - t0))))
    if daemon.poll() is not None:
        fail(f"the daemon exited with {daemon.returncode}")
        break
    now = time.time()
    if now >= next_hup:
        cfg_i ^= 1
        with open(cfgs[cfg_i]) as src, open(cfg + ".tmp", "w") as dst:
            dst.write(src.read())
        os.replace(cfg + ".tmp", cfg)
        daemon.send_signal(signal.SIGHUP)
        note("sighup")
        next_hup = now + 20
    if now >= next_key:
        k, kid = key(rnd_scope := random.choice(["read", "ingest", "admin"]))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        path = "/v1/usage" if rnd_scope != "ingest" else "/v1/events"
        body = None if rnd_scope != "ingest" else json.dumps({"provider": "p", "model": "m"})
        st1, _ = request(c, "GET" if body is None else "POST", path, body, k=k)
        r = cli("keys", "revoke", kid)
        st2, _ = request(c, "GET" if body is None else "POST", path, body, k=k)
        c.close()
        note(f"key {rnd_scope} {st1}/{st2}")
        if r.returncode or st1 != 200 or st2 != 401:
            fail(f"key change: {rnd_scope} key answered {st1} before and {st2} after revoke ({r.stderr.strip()})")
        next_key = now + 15
    rss, fds = sample()
    samples.append((now - t0, rss, fds))
    if base is None and now - t0 >= warm:
        base = (rss, fds)
    if base and (rss > base[0] + rss_slack or fds > base[1] + fd_slack):
        fail(f"growth at {now - t0:.0f}s: RSS {rss} KiB, {fds} fds; after warm-up {base[0]} KiB, {base[1]} fds")
stop.set()
for t in threads:
    t.join()
if daemon.poll() is None:
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail("the daemon did not stop within 60 s of SIGTERM")
        daemon.kill()
    if daemon.returncode not in (0, None):
        fail(f"the daemon exited with {daemon.returncode} on SIGTERM")

# every acknowledged event is in the store
import sqlite3
con = sqlite3.connect(db)
stored = set(r[0] for r in con.execute("SELECT id FROM events WHERE id LIKE 's%-%'"))
lost = [i for i in acked if i not in stored]
if lost:
    fail(f"{len(lost)} acknowledged events are not in the store (first {lost[:5]})")
v = cli("verify")
if v.returncode:
    fail("verify failed: " + v.stdout[-500:] + v.stderr[-500:])

if samples:
    rs = [s[1] for s in samples]
    fs = [s[2] for s in samples]
    print(f"soak: {secs:.0f} s, {len(samples)} samples every {sample_s:.0f} s")
    print(f"soak: RSS KiB  start {rs[0]}  after warm-up {base[0] if base else '-'}  end {rs[-1]}  max {max(rs)}")
    print(f"soak: fds      start {fs[0]}  after warm-up {base[1] if base else '-'}  end {fs[-1]}  max {max(fs)}")
    print(f"soak: bound    RSS <= warm-up + {rss_slack / 1024:.0f} MiB, fds <= warm-up + {fd_slack}")
print(f"soak: {len(acked)} events acknowledged, {len(lost)} lost; verify {'ok' if not v.returncode else 'FAILED'}")
print("soak: requests " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
with open(os.path.join(work, "samples.tsv"), "w") as f:
    f.write("t_s\trss_kib\tfds\n")
    for s in samples:
        f.write(f"{s[0]:.0f}\t{s[1]}\t{s[2]}\n")
if failures:
    print("soak: FAILED")
    for m in failures:
        print("  " + m)
    sys.exit(1)
print("soak: ok")
