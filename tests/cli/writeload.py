#!/usr/bin/env python3
"""tests/cli/writeload.py — clients of the daemon's write path (writepath.sh).

  writeload.py load PORT CLIENTS DIR
      CLIENTS keep-alive connections POST events with ids until the daemon
      goes away: even requests one event, odd ones a batch of 5. Each
      client writes DIR/sent.N (every id it sent, acknowledged or not) and
      DIR/acked.N (the ids of every request answered 200, as it is answered).
  writeload.py resend PORT DIR
      POSTs every id in DIR/sent.* again, one request per id, and prints
      three numbers: ids acknowledged before, how many of those came back
      other than as a duplicate (must be 0), and requests that failed.
  writeload.py drop PORT N EVENTS
      N clients each send a body of EVENTS events and close at once, before
      the answer (the connection is suspended meanwhile); prints N.
  writeload.py big PORT N EVENTS DIR
      N clients each POST EVENTS events (ids big-C-I) and wait for the answer;
      DIR/big.C holds the status (000: no answer) and the ids when 200.
Traffic stays on loopback.
"""
import glob, http.client, json, os, socket, sys, threading


def event(eid, n):
    return {"id": eid, "provider": "openai", "model": "gpt-4o-mini", "user_id": "u%d" % (n % 50),
            "endpoint": "/chat", "input_tokens": 10 + n % 90, "output_tokens": 5}


def load(port, c, d):
    sent = open(os.path.join(d, "sent.%d" % c), "w")
    acked = open(os.path.join(d, "acked.%d" % c), "w")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while True:
        ids = ["k%d-%d" % (c, n)] if n % 2 == 0 else ["k%d-%d-%d" % (c, n, i) for i in range(5)]
        body = json.dumps(event(ids[0], n) if len(ids) == 1 else [event(x, n) for x in ids])
        sent.write("".join(x + "\n" for x in ids))
        sent.flush()
        try:
            conn.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            break
        if r.status == 200:
            acked.write("".join(x + "\n" for x in ids))
            acked.flush()
        n += 1


def resend(port, d):
    acked = set()
    for f in glob.glob(os.path.join(d, "acked.*")):
        acked.update(open(f).read().split())
    sent = []
    for f in sorted(glob.glob(os.path.join(d, "sent.*"))):
        sent.extend(open(f).read().split())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bad = failed = 0
    for i, eid in enumerate(sent):
        conn.request("POST", "/v1/events", json.dumps(event(eid, i)), {"Content-Type": "application/json"})
        r = conn.getresponse()
        a = json.loads(r.read() or b"{}")
        if r.status != 200:
            failed += 1
        elif eid in acked and a.get("duplicates") != 1:
            bad += 1
    print(len(acked), bad, failed)


def drop(port, n, events):
    body = "\n".join(json.dumps(event("drop-%d-%d" % (c, i), i)) for c in range(1) for i in range(events))

    def one(c):
        b = body.replace("drop-0-", "drop-%d-" % c).encode()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(b) + b)
        s.close()

    ts = [threading.Thread(target=one, args=(c,)) for c in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(n)


def big(port, n, events, d):
    def one(c):
        ids = ["big-%d-%d" % (c, i) for i in range(events)]
        body = "\n".join(json.dumps(event(x, i)) for i, x in enumerate(ids))
        status = "000"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            r.read()
            status = str(r.status)
        except (OSError, http.client.HTTPException):
            pass
        with open(os.path.join(d, "big.%d" % c), "w") as f:
            f.write(status + "\n" + ("".join(x + "\n" for x in ids) if status == "200" else ""))

    ts = [threading.Thread(target=one, args=(c,)) for c in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "load":
    ts = [threading.Thread(target=load, args=(port, c, sys.argv[4])) for c in range(int(sys.argv[3]))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
elif cmd == "resend":
    resend(port, sys.argv[3])
elif cmd == "drop":
    drop(port, int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "big":
    big(port, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
