#!/usr/bin/env python3
"""tests/cli/slow.py HOST PORT N SECONDS [FROM] — a bounded slowloris.

Opens N connections from FROM (default 127.0.0.2) that send a request line
and then one header byte every half second, for SECONDS seconds, watching
each for the server closing it. Prints three numbers: how many the server
closed (refused, evicted or timed out), how many were still open at the
end, and the longest any connection stayed open before the server closed
it, in seconds (SECONDS for one still open at the end).
Traffic stays on loopback and stops by itself.
"""
import select, socket, sys, time

host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
src = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.2"
opened, closed, longest = {}, 0, 0.0
start = time.time()
for _ in range(n):
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.bind((src, 0))
        s.connect((host, port))
        s.send(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        opened[s] = time.time()
    except OSError:
        closed += 1


def gone(s):
    """The server closed s: note how long it was open."""
    global closed, longest
    longest = max(longest, time.time() - opened.pop(s))
    closed += 1
    s.close()


end = start + secs
next_drip = time.time()
while time.time() < end and opened:
    r, _, _ = select.select(list(opened), [], [], 0.05)
    for s in r:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # an answer is not a close; an end of stream is
            gone(s)
    if time.time() >= next_drip:
        next_drip += 0.5
        for s in list(opened):
            try:
                s.send(b"X")
            except OSError:
                gone(s)
still = len(opened)
if still:
    longest = max(longest, secs)
for s in opened:
    s.close()
print(closed, still, "%.2f" % longest)
