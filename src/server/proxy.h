/*
 * proxy.h — the gateway inside `tokmeter serve` (docs/proxy.md): requests
 * under /proxy/{upstream}/, /openai/ and /anthropic/ are checked against
 * the quotas, forwarded to the upstream with libcurl, streamed back as
 * they arrive, and recorded as one usage event each.
 */
#ifndef TM_SERVER_PROXY_H
#define TM_SERVER_PROXY_H

#include "server_int.h"

typedef struct tm_proxy tm_proxy;

/* Reads "upstreams" and "proxy" from the config file (NULL: the built-in
 * openai and anthropic upstreams, passing the client's key through) and
 * starts the forwarding thread. Errors: TM_EINVAL naming the file and key
 * (or the unset key_env variable), TM_ENOMEM. */
int tm__proxy_start(tm_proxy **out, srv *s, const char *config_path);

/* Waits up to wait_s seconds for calls in flight, ends the rest (their
 * clients see the stream cut), records them and stops the thread. Calls
 * arriving after this get 503. NULL is a no-op. */
void tm__proxy_stop(tm_proxy *p, unsigned wait_s);
void tm__proxy_free(tm_proxy *p);

/* 1 when url is the proxy's (/proxy/, /openai/, /anthropic/). */
int tm__proxy_owns(const char *url);

/* The access handler for a proxied request (every call of it). */
enum MHD_Result tm__proxy_request(req *r, const char *upload, size_t *upload_size);

/* The request is over (completed or the client went away). */
void tm__proxy_completed(req *r);

/* tokmeter_proxy_* lines for /metrics. */
void tm__proxy_metrics(tm_proxy *p, tm_buf *b);

#endif
