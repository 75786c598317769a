#!/usr/bin/env python3
"""tests/cli/hook.py PORT SECRET OUT [STATUS] — a webhook receiver on loopback.

Answers every POST with STATUS (default 200), checks the
X-Tokmeter-Signature HMAC-SHA256 of the body against SECRET, and appends
one line per POST to OUT: "ok <body>", "badsig <body>", or "nosig <body>"
when the request has no signature. Stops on SIGTERM.
"""
import hashlib, hmac, http.server, sys

port, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
status = int(sys.argv[4]) if len(sys.argv) > 4 else 200

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Tokmeter-Signature")
        ok = got is not None and hmac.compare_digest(want, got)
        with open(out, "a") as f:
            f.write(("ok " if ok else "nosig " if got is None else "badsig ") + body.decode() + "\n")
        self.send_response(status)
        self.end_headers()
    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
