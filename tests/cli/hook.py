#!/usr/bin/env python3
"""tests/cli/hook.py PORT SECRET OUT — a webhook receiver on loopback.

Answers every POST with 200, checks the X-Tokmeter-Signature HMAC-SHA256
of the body against SECRET, and appends one line per POST to OUT:
"ok <body>" or "badsig <body>". Stops on SIGTERM.
"""
import hashlib, hmac, http.server, sys

port, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Tokmeter-Signature", ""))
        with open(out, "a") as f:
            f.write(("ok " if ok else "badsig ") + body.decode() + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
