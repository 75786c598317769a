#!/usr/bin/env python3
"""fake_usage.py — a stand-in for the OpenAI and Anthropic organisation
usage and cost APIs on loopback, for tests/cli/ingest.sh.

    python3 fake_usage.py PORT STATE_DIR

Serves the documented shapes with pagination over three UTC days
(2026-11-01..03). Behaviour:
  key "good"           answers; the first usage request of each provider
                       gets a 429 with Retry-After: 1, then the data
  key anything else    401
  path prefix /down    503 on every request
  path prefix /slow    answers after 3 s (for timeouts)
  path prefix /busy    429 without Retry-After, always
  path prefix /junk    200 with an HTML body
  STATE_DIR/closed     present: the last day's bucket has closed and grown
Every request is appended to STATE_DIR/requests.log as "METHOD PATH?QUERY KEY".
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT, STATE = int(sys.argv[1]), sys.argv[2]
DAYS = [1793491200, 1793577600, 1793664000]  # 2026-11-01, 02, 03 00:00 UTC
ISO = ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"]
seen_429 = set()


def closed():
    return os.path.exists(os.path.join(STATE, "closed"))


def openai_usage(i):
    grow = 2 if (i == 2 and closed()) else 1
    return [
        {"object": "organization.usage.completions.result", "input_tokens": 1000000 * grow,
         "output_tokens": 200000 * grow, "input_cached_tokens": 400000 * grow,
         "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 100 * grow,
         "project_id": "proj_a", "user_id": None, "api_key_id": None,
         "model": "gpt-4o-mini-2024-07-18", "batch": None},
        {"object": "organization.usage.completions.result", "input_tokens": 5000,
         "output_tokens": 1000, "input_cached_tokens": 0, "num_model_requests": 3,
         "project_id": None, "user_id": None, "api_key_id": None,
         "model": "gpt-4o-mini-2024-07-18", "batch": None},
    ]


def anthropic_usage(i):
    grow = 2 if (i == 2 and closed()) else 1
    return [{"uncached_input_tokens": 100000 * grow,
             "cache_creation": {"ephemeral_1h_input_tokens": 10000, "ephemeral_5m_input_tokens": 20000},
             "cache_read_input_tokens": 300000, "output_tokens": 50000 * grow,
             "server_tool_use": {"web_search_requests": 0}, "api_key_id": None,
             "workspace_id": "wrkspc_1", "model": "claude-sonnet-4-5-20250929",
             "service_tier": "standard", "context_window": "0-200k"}]


def page(items, q, make):
    """Two buckets on the first page, the rest on the second."""
    start = 2 if q.get("page", [""])[0] == "p2" else 0
    end = 2 if start == 0 else len(items)
    data = [make(i) for i in range(start, end)]
    more = end < len(items)
    return {"object": "page", "data": data, "has_more": more, "next_page": "p2" if more else None}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, headers=()):
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else self.headers.get("x-api-key", "")
        with open(os.path.join(STATE, "requests.log"), "a") as f:
            f.write("GET %s %s %s\n" % (self.path, key, self.headers.get("anthropic-version", "-")))
        if u.path.startswith("/slow"):
            time.sleep(3)
        if u.path.startswith("/junk"):  # a proxy's error page with a 200
            raw = b"<html>502 Bad Gateway</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        if u.path.startswith("/busy"):
            return self.send(429, {"error": {"message": "rate limited"}})
        if u.path.startswith("/down"):
            return self.send(503, {"error": {"message": "Service Unavailable"}})
        if key != "good":
            return self.send(401, {"error": {"message": "invalid x-api-key", "type": "authentication_error"}})
        if u.path in ("/v1/organization/usage/completions", "/v1/organizations/usage_report/messages"):
            if u.path not in seen_429:
                seen_429.add(u.path)
                return self.send(429, {"error": {"message": "rate limited"}}, [("Retry-After", "1")])
        if u.path == "/v1/organization/usage/completions":
            return self.send(200, page(DAYS, q, lambda i: {
                "object": "bucket", "start_time": DAYS[i], "end_time": DAYS[i] + 86400,
                "results": openai_usage(i)}))
        if u.path == "/v1/organizations/usage_report/messages":
            return self.send(200, page(DAYS, q, lambda i: {
                "starting_at": ISO[i], "ending_at": ISO[i + 1], "results": anthropic_usage(i)}))
        if u.path == "/v1/organization/costs":
            # Day 1 and the closed day 3 are what the catalog gives; day 2 is 2% higher.
            def cost(i):
                usd = {0: "0.24135", 1: "0.246177", 2: "0.48135"}[i]
                return {"object": "bucket", "start_time": DAYS[i], "end_time": DAYS[i] + 86400,
                        "results": [{"object": "organization.costs.result",
                                     "amount": {"value": float(usd), "currency": "usd"},
                                     "line_item": "gpt-4o-mini-2024-07-18, input", "project_id": None}]}
            return self.send(200, page(DAYS, q, cost))
        if u.path == "/v1/organizations/cost_report":
            return self.send(200, page(DAYS, q, lambda i: {
                "starting_at": ISO[i], "ending_at": ISO[i + 1],
                "results": [{"currency": "USD", "amount": "232.50" if i == 2 else "127.50", "workspace_id": None,
                             "description": "Claude Sonnet 4.5 Usage", "cost_type": "tokens",
                             "context_window": "0-200k", "model": "claude-sonnet-4-5-20250929",
                             "service_tier": "standard", "token_type": None}]}))
        return self.send(404, {"error": {"message": "no such route " + u.path}})


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
