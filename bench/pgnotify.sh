#!/bin/sh
# bench/pgnotify.sh — quota checks on PostgreSQL while two daemons write to
# other users: how many the usage cache answers, and what a check costs.
#
#   sh bench/pgnotify.sh [SECONDS] [TOKMETER...]     # default 20 build/tokmeter
#
# For each TOKMETER binary given (e.g. a build of main, then this one),
# alternating REPS times (default 2): a throwaway PostgreSQL 15
# (scripts/pg.sh) and Redis, two `serve` daemons on one schema, 100 users
# with 200 events each this month. Then for SECONDS: each daemon stores one
# event at a time for its own 5 writing users (2 clients each, durable: a
# commit per event), while 2 clients send POST /v1/check for the 100
# other users, half to each daemon. Printed: checks/s, the daemons' cache
# hits and misses (/metrics), and the CPU (user + system, from /proc) of
# the daemons and the PostgreSQL server per 1,000 checks (it holds under
# load better than wall time; the load average is printed too).
set -u
cd "$(dirname "$0")/.."
. tests/cli/lib.sh
SECS=${1:-20}
shift 2>/dev/null
[ $# -gt 0 ] || set -- ./build/tokmeter
REPS=${REPS:-2}

run_one() { # binary
    TM=$1
    W=$(mktemp -d /tmp/tmbn.XXXXXX)
    PG=$(mktemp -d /tmp/tmbn-pg.XXXXXX)
    URL=$(sh scripts/pg.sh start "$PG") || { echo "PostgreSQL did not start" >&2; exit 1; }
    redis_start
    S="$URL?schema=b"
    cat > "$W/cfg.json" <<JSON
{"redis": "redis://127.0.0.1:$RP",
 "tiers": {"std": {"period": "month", "limits": {"requests": 100000000, "total_tokens": 1000000000000}}},
 "default_tier": "std"}
JSON
    $TM --store "$S" migrate >/dev/null
    ports=""
    for d in 1 2; do
        p=$(free_port)
        $TM --store "$S" --config "$W/cfg.json" serve --listen "127.0.0.1:$p" 2>"$W/d$d.log" &
        echo $! > "$W/d$d.pid"
        ports="$ports${ports:+,}$p"
        i=0; until curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
    done
    dpids="$(cat "$W/d1.pid") $(cat "$W/d2.pid")"
    python3 - "$ports" "$SECS" "$W" "$dpids" <<'PY'
import http.client, json, os, sys, threading, time
ports = [int(p) for p in sys.argv[1].split(",")]
secs = float(sys.argv[2]); w = sys.argv[3]
dpids = sys.argv[4].split()
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))

def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)

def post(c, path, body):
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 200:
        raise SystemExit("%s: %d %s" % (path, r.status, data[:200]))
    return data

# 100 checked users, 200 events each (in batches of 1,000).
c = conn(ports[0])
evs = [{"id": "seed-%d" % k, "provider": "openai", "model": "gpt-4o", "user_id": "q%d" % (k % 100),
        "input_tokens": 10, "timestamp": now} for k in range(20000)]
for i in range(0, len(evs), 1000):
    post(c, "/v1/events", json.dumps(evs[i:i + 1000]))

def cpu(pids):
    t = 0
    for p in pids:
        try:
            f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except OSError:
            pass
    return t

def metric(port, name):
    c = conn(port); c.request("GET", "/metrics"); body = c.getresponse().read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0

stop = threading.Event()
counts = {"writes": 0, "checks": 0}
lock = threading.Lock()

def writer(d, k):
    c = conn(ports[d]); n = 0
    while not stop.is_set():
        post(c, "/v1/events", json.dumps({"id": "w%d-%d-%d" % (d, k, n), "provider": "openai", "model": "gpt-4o",
                                          "user_id": "w%d-%d" % (d, n % 5), "input_tokens": 5}))
        n += 1
    with lock: counts["writes"] += n

def checker(k):
    cs = [conn(p) for p in ports]; n = 0
    while not stop.is_set():
        d = json.loads(post(cs[n % 2], "/v1/check", json.dumps({"user_id": "q%d" % ((n * 7 + k) % 100)})))
        if d["quota"]["limits"]["requests"]["used"] != 200:
            raise SystemExit("q%d: used %s, wanted 200" % ((n * 7 + k) % 100, d["quota"]["limits"]["requests"]["used"]))
        n += 1
    with lock: counts["checks"] += n

def pg_pids(): # the PostgreSQL server's processes (the daemons' backends live through the run)
    out = []
    for x in os.listdir("/proc"):
        try:
            if x.isdigit() and open("/proc/%s/comm" % x).read().strip() == "postgres":
                out.append(x)
        except OSError:
            pass
    return out

h0 = sum(metric(p, 'tokmeter_quota_cache_total{result="hit"}') for p in ports)
m0 = sum(metric(p, 'tokmeter_quota_cache_total{result="miss"}') for p in ports)
cd0, cp0 = cpu(dpids), cpu(pg_pids())
ths = [threading.Thread(target=writer, args=(d, k)) for d in range(2) for k in range(2)]
ths += [threading.Thread(target=checker, args=(k,)) for k in range(2)]
t0 = time.time()
for t in ths: t.start()
time.sleep(secs); stop.set()
for t in ths: t.join()
took = time.time() - t0
cd1, cp1 = cpu(dpids), cpu(pg_pids())
h1 = sum(metric(p, 'tokmeter_quota_cache_total{result="hit"}') for p in ports)
m1 = sum(metric(p, 'tokmeter_quota_cache_total{result="miss"}') for p in ports)
tick = os.sysconf("SC_CLK_TCK")
n = counts["checks"]
print("checks %d in %.1f s: %.0f/s; writes %d (%.0f/s); hits %d misses %d (%.1f%% hits);"
      " CPU per 1000 checks: daemons %.2f s, PostgreSQL %.2f s; load %s" % (
      n, took, n / took, counts["writes"], counts["writes"] / took, h1 - h0, m1 - m0,
      100.0 * (h1 - h0) / max(1, h1 - h0 + m1 - m0), (cd1 - cd0) / tick * 1000 / max(n, 1),
      (cp1 - cp0) / tick * 1000 / max(n, 1), open("/proc/loadavg").read().split()[0]))
PY
    kill -TERM $dpids 2>/dev/null; wait $dpids 2>/dev/null
    redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
    sh scripts/pg.sh stop "$PG"
    rm -rf "$W"
}

for r in $(seq "$REPS"); do
    for b in "$@"; do
        printf '%s, run %d: ' "$b" "$r"
        run_one "$b"
    done
done
