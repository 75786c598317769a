#!/usr/bin/env python3
"""multi_daemon.py — load for tests/cli/store.sh: WORKERS threads send
batches of events with overlapping ids (id k always carries input_tokens k)
to the daemons at PORTS, each batch to a random daemon, retrying another
daemon when one does not answer. After KILL_AFTER batches in all it runs
KILL_CMD (a SIGKILL of one daemon). Writes the acknowledged ids, one a line,
to OUT and prints "batches acked failed"."""
import http.client
import json
import random
import subprocess
import sys
import threading

ports = [int(p) for p in sys.argv[1].split(",")]
out, ids_total, workers, per_worker, kill_after, kill_cmd = (
    sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
lock = threading.Lock()
acked, state = set(), {"sent": 0, "failed": 0, "killed": False}


def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if r.status == 200 else None
    finally:
        c.close()


def worker(seed):
    rnd = random.Random(seed)
    for _ in range(per_worker):
        ids = rnd.sample(range(ids_total), 40)
        body = json.dumps([{"id": "m-%d" % k, "provider": "openai", "model": "gpt-4o",
                            "user_id": "u%d" % (k % 3), "input_tokens": k} for k in ids])
        order = rnd.sample(ports, len(ports))
        for port in order:
            try:
                status, res = post(port, body)
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
            kill = state["sent"] >= kill_after and not state["killed"]
            state["killed"] |= kill
        if kill:
            subprocess.run(kill_cmd, shell=True, check=True)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out, "w") as f:
    for k in sorted(acked):
        f.write("m-%d\n" % k)
print(state["sent"], len(acked), state["failed"])
