#!/usr/bin/env python3
"""bench/read_stall.py PORT [READERS] [SECONDS] [QUERY] — does a heavy read
stall ingest? (issue 12, defect 10)

Runs READERS (default 8) threads each repeating GET QUERY (default an hourly
group_by=user_id,project over October 2026) against a daemon on 127.0.0.1:PORT,
and meanwhile POSTs one event at a time to /v1/events, timing each
acknowledgement. With TM_READ_KEY and TM_INGEST_KEY set, the requests
carry those keys (every request then checks its key in the store). Prints the ingest latencies (median, p95, max), how many
reads finished and their status codes. Point it at a store with many events
(bench/read_stall.sh makes one) to see whether readers hold up the writer.
"""
import http.client, os, sys, threading, time

port = int(sys.argv[1])
readers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10
query = sys.argv[4] if len(sys.argv) > 4 else (
    "/v1/usage?from=2026-10-01&to=2026-11-01&group_by=user_id,project&interval=hour")
stop = time.time() + secs
reads, read_times, lock = {}, [], threading.Lock()
auth = lambda k: {"Authorization": "Bearer " + os.environ[k]} if os.environ.get(k) else {}


def reader():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.time() < stop:
        t = time.time()
        c.request("GET", query, headers=auth("TM_READ_KEY"))
        r = c.getresponse()
        r.read()
        with lock:
            reads[r.status] = reads.get(r.status, 0) + 1
            read_times.append(time.time() - t)


ths = [threading.Thread(target=reader) for _ in range(readers)]
for t in ths:
    t.start()
time.sleep(0.5)  # let the reads get going
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
lat, n = [], 0
while time.time() < stop:
    body = '{"id":"stall-%d-%f","provider":"p","input_tokens":1}' % (n, time.time())
    t = time.time()
    c.request("POST", "/v1/events", body, {"Content-Type": "application/json", **auth("TM_INGEST_KEY")})
    r = c.getresponse()
    r.read()
    lat.append(time.time() - t)
    if r.status != 200:
        print("ingest status", r.status)
    n += 1
    time.sleep(0.05)
for t in ths:
    t.join()
lat.sort()
read_times.sort()
ms = lambda v: "%.1f ms" % (v * 1e3)
print("ingest with %d readers: %d events, median %s, p95 %s, max %s" % (
    readers, len(lat), ms(lat[len(lat) // 2]), ms(lat[int(len(lat) * 0.95)]), ms(lat[-1])))
if read_times:
    print("reads: %s, median %s" % (dict(sorted(reads.items())), ms(read_times[len(read_times) // 2])))
