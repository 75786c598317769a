#!/usr/bin/env python3
"""tests/cli/slow.py HOST PORT N SECONDS — a bounded slowloris from 127.0.0.2.

Opens N connections from 127.0.0.2 that send a request line and then one
header byte every half second, for SECONDS seconds, then prints how many
the server had closed (refused past the per-address limit, or timed out).
Traffic stays on loopback and stops by itself.
"""
import socket, sys, time

host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks, closed = [], 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.bind(("127.0.0.2", 0))
        s.connect((host, port))
        s.send(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    except OSError:
        closed += 1
end = time.time() + secs
while time.time() < end:
    for s in list(socks):
        try:
            s.send(b"X")
        except OSError:
            socks.remove(s)
            closed += 1
    time.sleep(0.5)
for s in socks:
    s.close()
print(closed)
