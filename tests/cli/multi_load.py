#!/usr/bin/env python3
"""multi_load.py — load for tests/cli/multi.sh and store.sh: daemons on one
store (and one Redis), while one daemon is killed (and Redis is stopped).

  multi_load.py PORTS OUT IDS WORKERS SECONDS CHECKERS RLUSER KILL_AT KILL_CMD REDIS_AT REDIS_CMD

WORKERS threads each send batches of 40 events, for SECONDS, with overlapping ids
(id m-K always carries input_tokens K) to a random daemon, trying the next
when one does not answer. CHECKERS threads send POST /v1/check for user
RLUSER (a rate-limited user) to random daemons until the workers are done.
KILL_AT and REDIS_AT seconds after the start, KILL_CMD and REDIS_CMD run
(SIGKILL a daemon, stop Redis). Writes to OUT a JSON object: batches sent,
failed, the acknowledged ids, and every answered check as [seconds since
the start, allowed, port, seconds it took]; when the two commands began
and ended (seconds since the start) and began (Unix time)."""
import http.client
import json
import random
import subprocess
import sys
import threading
import time

(ports, out, ids_total, workers, per_worker, checkers, rl_user, kill_at, kill_cmd, redis_at,
 redis_cmd) = sys.argv[1:12]
ports = [int(p) for p in ports.split(",")]
ids_total, workers, seconds, checkers = int(ids_total), int(workers), float(per_worker), int(checkers)
kill_at, redis_at = float(kill_at), float(redis_at)
lock = threading.Lock()
t0 = time.monotonic()
acked, checks, state = set(), [], {"sent": 0, "failed": 0, "done": False, "times": {}}


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", path, body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if r.status == 200 else None
    finally:
        c.close()


def worker(seed):
    rnd = random.Random(seed)
    while time.monotonic() - t0 < seconds:
        ids = rnd.sample(range(ids_total), 40)
        body = json.dumps([{"id": "m-%d" % k, "provider": "openai", "model": "gpt-4o",
                            "user_id": "u%d" % (k % 3), "input_tokens": k} for k in ids])
        for port in rnd.sample(ports, len(ports)):
            try:
                status, res = post(port, "/v1/events", body)
            except OSError:
                continue
            if status == 200 and res["accepted"] + res["duplicates"] == len(ids):
                with lock:
                    acked.update(ids)
                break
        else:
            with lock:
                state["failed"] += 1
        with lock:
            state["sent"] += 1


def checker(seed):
    rnd = random.Random(1000 + seed)
    body = json.dumps({"user_id": rl_user})
    while not state["done"]:
        port = rnd.choice(ports)
        begin = time.monotonic()
        try:
            status, res = post(port, "/v1/check", body)
        except OSError:
            continue
        if status == 200:
            with lock:
                checks.append([time.monotonic() - t0, 1 if res["allowed"] else 0, port,
                               time.monotonic() - begin])


def at(name, when, cmd):
    time.sleep(max(0.0, when - (time.monotonic() - t0)))
    begin, wall = time.monotonic() - t0, time.time()
    subprocess.run(cmd, shell=True, check=True)
    state["times"][name] = [begin, time.monotonic() - t0, wall]


threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
cthreads = [threading.Thread(target=checker, args=(i,)) for i in range(checkers)]
events = [threading.Thread(target=at, args=("kill", kill_at, kill_cmd)),
          threading.Thread(target=at, args=("redis_stop", redis_at, redis_cmd))]
for t in threads + cthreads + events:
    t.start()
for t in threads + events:
    t.join()
state["done"] = True
for t in cthreads:
    t.join()
with open(out, "w") as f:
    json.dump({"sent": state["sent"], "failed": state["failed"], "acked": sorted(acked),
               "checks": checks, "times": state["times"], "end": time.monotonic() - t0}, f)
