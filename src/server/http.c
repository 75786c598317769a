/*
 * http.c — the daemon on libmicrohttpd: request bodies, routing, API keys,
 * limits, JSON errors, metrics counters, structured logs, signals.
 *
 * A request goes:  headers → route lookup → auth → body (capped; a declared
 * length over the cap is refused with 413 before it is read; a body that
 * takes longer than request_timeout_s gets 408) → handler → reply → log.
 *
 * Threads: a pool of cfg.threads threads each runs its own epoll loop. A
 * request that stores events does not hold its thread while they commit:
 * route_events.c suspends the connection once the events are with the
 * writer, and the writer's completion resumes it (the handler runs again
 * and answers; a 200 still means on disk). Shutdown first stops suspending
 * and waits for the suspended requests to be answered (tm__events_drain),
 * then stops libmicrohttpd, which must not stop with one suspended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/event.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "../policy/alert.h"
#include "proxy.h"
#include "server_int.h"

const unsigned tm__statuses[NSTATUS] = {200, 400, 401, 403, 404, 405, 408,
                                        413, 414, 415, 429, 500, 503, 0};
const double tm__dur_bounds[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05, 0.1, 0.25, 1, 5};

static int status_ix(unsigned st)
{
    for (int i = 0; i < NSTATUS - 1; i++)
        if (tm__statuses[i] == st)
            return i;
    return NSTATUS - 1;
}

/* ---- logging ---- */

void tm__log(const srv *s, int level, const char *msg, const char *const *kv)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < __atomic_load_n(&s->cfg.log_level, __ATOMIC_RELAXED))
        return;
    char ts[32];
    tm__time_format(tm__now_us(), ts);
    tm_buf b = TM_BUF_INIT;
    if (s->cfg.log_json) {
        tm__buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[level]);
        tm__json_str(&b, msg, strlen(msg));
        for (size_t i = 0; kv && kv[i]; i += 2) {
            tm__buf_printf(&b, ",\"%s\":", kv[i]);
            tm__json_str(&b, kv[i + 1], strlen(kv[i + 1]));
        }
        tm__buf_puts(&b, "}\n");
    } else {
        tm__buf_printf(&b, "ts=%s level=%s msg=", ts, names[level]);
        tm__json_str(&b, msg, strlen(msg));
        for (size_t i = 0; kv && kv[i]; i += 2) {
            const char *v = kv[i + 1];
            tm__buf_printf(&b, " %s=", kv[i]);
            if (*v && !strpbrk(v, " \"=\\\n"))
                tm__buf_puts(&b, v);
            else
                tm__json_str(&b, v, strlen(v));
        }
        tm__buf_putc(&b, '\n');
    }
    if (b.data)
        fputs(b.data, stderr);
    tm__buf_free(&b);
}

/* libmicrohttpd's messages, on stderr as with MHD_USE_ERROR_LOG; notes on
 * the calling thread when a resume could not be signalled (tm__resume). */
static _Thread_local int resume_unsignalled;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (strstr(fmt, "signal resume"))
        resume_unsignalled = 1;
    vfprintf(stderr, fmt, ap);
}

/* A connection to the listening socket wakes the pool threads (each polls
 * it) and each then takes its pending resumes; the one that accepts it
 * sees it closed at once. One per thread: a wake may reach only one. */
static void wake(srv *s)
{
    for (unsigned i = 0; s->selflen && i < s->cfg.threads; i++) {
        int fd = socket(s->self.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        int rc = connect(fd, (struct sockaddr *)&s->self, s->selflen);
        (void)rc; /* nothing more to try now: the reaper tries again */
        close(fd);
    }
}

void tm__resume(req *r)
{
    resume_unsignalled = 0;
    MHD_resume_connection(r->c);
    if (!resume_unsignalled)
        return;
    pthread_mutex_lock(&r->s->wmu);
    r->unsignalled = 1;
    r->s->nunsignalled++;
    /* libmicrohttpd can't signal its threads (its write(2) fails): until
     * it can again, storing requests wait on their own thread, as at
     * shutdown, so only the requests already suspended need the wake. */
    r->s->plain_until_us = tm__now_us() + 10 * 1000000LL;
    pthread_mutex_unlock(&r->s->wmu);
    wake(r->s);
}

void tm__resumed(req *r)
{
    pthread_mutex_lock(&r->s->wmu);
    if (r->unsignalled)
        r->s->nunsignalled--;
    r->unsignalled = 0;
    pthread_mutex_unlock(&r->s->wmu);
}

void tm__wake_lost(srv *s)
{
    pthread_mutex_lock(&s->wmu);
    unsigned lost = s->nunsignalled;
    pthread_mutex_unlock(&s->wmu);
    if (lost)
        wake(s);
}

/* ---- replies ---- */

enum MHD_Result tm__reply_as(req *r, unsigned status, const void *data, size_t len,
                             int persistent, const char *type, const char *const *extra)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(data ? data : ""), persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    for (size_t i = 0; extra && extra[i]; i += 2)
        MHD_add_response_header(resp, extra[i], extra[i + 1]);
    r->status = status;
    enum MHD_Result ok = tm__conn_enter(r->s, r->c, CONN_BUSY) ? MHD_NO : MHD_queue_response(r->c, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

enum MHD_Result tm__reply(req *r, unsigned status, const tm_buf *b)
{
    const char *extra[5] = {NULL};
    size_t n = 0;
    if (status == 401)
        extra[n++] = "WWW-Authenticate", extra[n++] = "Bearer realm=\"tokmeter\"";
    if (status == 405 && r->allow[0])
        extra[n++] = "Allow", extra[n++] = r->allow;
    return tm__reply_as(r, status, b->data, b->len, 0, "application/json", extra);
}

enum MHD_Result tm__reply_error(req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    tm__json_str(&b, msg, strlen(msg));
    tm__buf_puts(&b, "}}\n");
    enum MHD_Result ok = tm__reply(r, status, &b);
    tm__buf_free(&b);
    return ok;
}

enum MHD_Result tm__reply_rc(req *r, int rc, const char *invalid)
{
    const char *m = tm_errmsg();
    switch (rc) {
    case TM_EINVAL: return tm__reply_error(r, 400, invalid, "%s", m);
    case TM_ETOOBIG: return tm__reply_error(r, 413, "too_large", "%s", m);
    case TM_ENOTFOUND: return tm__reply_error(r, 404, "not_found", "%s", m);
    case TM_EBUSY:
    case TM_ECLOSED:
    case TM_ENOMEM: return tm__reply_error(r, 503, "store_error", "%s", *m ? m : tm_strerror(rc));
    default: return tm__reply_error(r, 500, "store_error", "%s", *m ? m : tm_strerror(rc));
    }
}

const char *tm__arg(req *r, const char *key)
{
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, key);
}

int tm__forbid_user(req *r, const char *user, enum MHD_Result *ret)
{
    if (!r->has_key || !r->key.user[0] || (user && strcmp(user, r->key.user) == 0))
        return 0;
    *ret = tm__reply_error(r, 403, "forbidden",
                           user ? "this key may read only user %s's usage"
                                : "this key may read only user %s's usage, not aggregates "
                                  "over users",
                           r->key.user);
    return 1;
}

/* ---- auth ---- */

/* Auth is a state that only ever closes: a daemon is open to anonymous
 * clients only while it listens on loopback and its store has never held
 * a key. Once a key exists (seen at start or by a later anonymous request),
 * keys_required is set and stays set, so revoking every key leaves a daemon
 * that refuses everything but the open routes, never one that is open. */
int tm__anonymous_ok(srv *s)
{
    if (__atomic_load_n(&s->keys_required, __ATOMIC_ACQUIRE))
        return 0;
    /* "No key was ever created" is remembered for a second, so anonymous
     * requests on loopback do not each query the store; the first key
     * created is enforced within a second. */
    int64_t now = tm__now_us();
    if (now < __atomic_load_n(&s->nokeys_until_us, __ATOMIC_RELAXED))
        return 1;
    int active = 0, ever = 0;
    if (tm__keys_count(s->t, &active, &ever) != TM_OK)
        return -1;
    if (ever == 0) {
        __atomic_store_n(&s->nokeys_until_us, now + 1000000, __ATOMIC_RELAXED);
        return 1;
    }
    __atomic_store_n(&s->keys_required, 1, __ATOMIC_RELEASE);
    return 0;
}

/* 0 to go on; else a reply was queued and *ret holds its result. */
static int authorize(req *r, enum MHD_Result *ret)
{
    const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization");
    if (r->rt->scope == SC_OPEN)
        return 0;
    int open = h ? 0 : tm__anonymous_ok(r->s);
    if (open < 0) {
        *ret = tm__reply_error(r, 503, "store_error", "%s", tm_errmsg());
        return 1;
    }
    if (open)
        return 0;
    if (!h) {
        *ret = tm__reply_error(r, 401, "unauthorized", "send an API key: Authorization: Bearer KEY");
        return 1;
    }
    if (strncmp(h, "Bearer ", 7) != 0) {
        *ret = tm__reply_error(r, 401, "unauthorized", "the Authorization header must be 'Bearer KEY'");
        return 1;
    }
    int rc = tm__key_check(r->s->t, h + 7, &r->key);
    if (rc != TM_OK) { /* an unknown key is 401; a store that could not say, 503 */
        *ret = rc == TM_ENOTFOUND ? tm__reply_error(r, 401, "unauthorized", "%s", tm_errmsg())
                                  : tm__reply_error(r, 503, "store_error", "%s", tm_errmsg());
        return 1;
    }
    r->has_key = 1;
    const char *sc = r->key.scope;
    int admin = strcmp(sc, "admin") == 0;
    int ok = admin || (r->rt->scope == SC_INGEST && strcmp(sc, "ingest") == 0) ||
             (r->rt->scope == SC_READ && strcmp(sc, "read") == 0) ||
             (r->rt->scope == SC_METRICS && strcmp(sc, "read") == 0 && !r->key.user[0]);
    if (!ok) {
        *ret = tm__reply_error(r, 403, "forbidden", "a %s key may not use %s %s", sc, r->method,
                               r->rt->path);
        return 1;
    }
    return 0;
}

/* ---- the request cycle ---- */

static int route_matches(const route *rt, const char *url)
{
    size_t n = strlen(rt->path), sl = strlen(rt->suffix), ul = strlen(url);
    if (rt->path[n - 1] != '/' || n == 1) /* "/" is the page itself, not a prefix */
        return strcmp(url, rt->path) == 0;
    return ul > n + sl && strncmp(url, rt->path, n) == 0 && strcmp(url + ul - sl, rt->suffix) == 0 &&
           !memchr(url + n, '/', ul - n - sl);
}

/* The methods url answers to, for a 405's Allow header ("GET, HEAD, PUT"). */
static void allowed_methods(const char *url, char *out, size_t cap)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT"};
    size_t len = 0;
    out[0] = '\0';
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        const char *want = strcmp(methods[m], "HEAD") == 0 ? "GET" : methods[m];
        for (size_t i = 0; i < tm__nroutes; i++)
            if (strcmp(tm__routes[i].method, want) == 0 && route_matches(&tm__routes[i], url)) {
                len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", methods[m]);
                break;
            }
    }
}

static const route *find_route(const char *method, const char *url, int *ix, int *wrong_method)
{
    *wrong_method = 0;
    for (size_t i = 0; i < tm__nroutes; i++) {
        const route *rt = &tm__routes[i];
        int exact = rt->path[strlen(rt->path) - 1] != '/' || !rt->path[1];
        if (!route_matches(rt, url))
            continue;
        if (strcmp(method, rt->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            *ix = (int)i;
            return rt;
        }
        *wrong_method = 1;
        if (exact) /* a fixed path with another method: not a parameter route */
            break;
    }
    *ix = (int)tm__nroutes;
    return NULL;
}

static req *req_new(srv *s)
{
    req *r = calloc(1, sizeof *r);
    if (r) {
        r->s = s;
        r->start_us = tm__now_us();
        r->route_ix = (int)tm__nroutes;
    }
    return r;
}

/* libmicrohttpd calls this with the raw request target as soon as the
 * request line is in, before it parses the query arguments, each into a
 * record in the connection's fixed memory pool. Too many of them exhaust
 * the pool, and libmicrohttpd 0.9.75 then leaves the client hanging until
 * the idle timeout. So the arguments are counted here; over the limit, the
 * query is cut off in place (the target lies in the connection's own
 * writable read buffer, and libmicrohttpd parses the arguments only after
 * this returns) and the handler answers 414. The request starts here. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    req *r = req_new(cls);
    char *q = strchr(uri, '?');
    tm__conn_enter(cls, c, CONN_HEAD);
    if (r && q) {
        size_t n = 1;
        for (const char *p = q + 1; *p; p++)
            n += *p == '&';
        if (n > TM_MAX_QUERY_ARGS) {
            r->nargs = n;
            q[1] = '\0';
        }
    }
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    req *r = *con_cls;
    enum MHD_Result ret = MHD_YES;
    (void)version;
    if (!r && !(r = *con_cls = req_new(s)))
        return MHD_NO;
    if (!r->c) { /* the first call: the headers are in */
        if (tm__conn_enter(s, c, CONN_BODY))
            return MHD_NO; /* past the header deadline: closed */
        r->c = c;
        r->url = url;
        r->method = method;
        r->body.max = __atomic_load_n(&s->cfg.max_body, __ATOMIC_RELAXED);
        if (r->nargs) {
            char n[24];
            snprintf(n, sizeof n, "%zu", r->nargs);
            const char *kv[] = {"method", method, "path", url, "arguments", n, NULL};
            tm__log(s, 2, "refused: too many query arguments", kv);
            return tm__reply_error(r, 414, "too_many_query_arguments",
                                   "query: %zu arguments; at most %d are allowed", r->nargs,
                                   TM_MAX_QUERY_ARGS);
        }
        if (s->proxy && tm__proxy_owns(url)) { /* the gateway: proxy.c answers it all */
            /* Busy from here on for conns.c: the body streams upstream and
             * the answer may stream for minutes; only libmicrohttpd's idle
             * timeout applies to a gateway call. */
            if (tm__conn_enter(s, c, CONN_BUSY))
                return MHD_NO;
            r->proxied = 1;
            for (size_t i = 0; i < tm__nroutes; i++)
                if (strcmp(tm__routes[i].name, "proxy") == 0)
                    r->route_ix = (int)i;
            return tm__proxy_request(r, upload, upload_size);
        }
        int wrong = 0;
        r->rt = find_route(method, url, &r->route_ix, &wrong);
        if (!r->rt) {
            if (wrong) {
                allowed_methods(url, r->allow, sizeof r->allow);
                return tm__reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", method, url, r->allow);
            }
            return tm__reply_error(r, 404, "not_found", "no route %s %.200s (see docs/api.md)", method, url);
        }
        if (authorize(r, &ret))
            return ret;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > r->body.max) {
            r->too_big = 1;
            return tm__reply_error(r, 413, "body_too_large", "body: larger than the limit of %zu bytes",
                                   r->body.max);
        }
        if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
            static const char *const ok_types[] = {"application/json", "application/x-ndjson",
                                                   "application/x-www-form-urlencoded", "text/plain"};
            int ok = !ct;
            for (size_t i = 0; !ok && i < sizeof ok_types / sizeof ok_types[0]; i++)
                ok = strncasecmp(ct, ok_types[i], strlen(ok_types[i])) == 0;
            if (!ok)
                return tm__reply_error(r, 415, "unsupported_media_type",
                                       "send JSON (application/json) or NDJSON (application/x-ndjson), "
                                       "not %.100s", ct);
        }
        return MHD_YES;
    }
    if (r->proxied)
        return tm__proxy_request(r, upload, upload_size);
    if (r->status) { /* already answered (an early error): drop the rest */
        *upload_size = 0;
        return MHD_YES;
    }
    if (tm__conn_enter(s, c, *upload_size ? CONN_BODY : CONN_BUSY))
        return MHD_NO; /* answered 408 by the reaper (conns.c) */
    if (*upload_size) {
        unsigned limit = __atomic_load_n(&s->cfg.request_timeout_s, __ATOMIC_RELAXED);
        if (tm__now_us() - r->start_us > (int64_t)limit * 1000000)
            r->too_slow = 1;
        else if (!r->too_big && tm__buf_add(&r->body, upload, *upload_size) != TM_OK) {
            r->too_big = 1;
            tm__buf_free(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_slow)
        return tm__reply_error(r, 408, "request_timeout", "the request took longer than %u s",
                               s->cfg.request_timeout_s);
    if (r->too_big)
        return tm__reply_error(r, 413, "body_too_large", "body: larger than the limit of %zu bytes",
                               r->body.max);
    return r->rt->fn(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    req *r = *con_cls;
    (void)c, (void)toe;
    if (!r)
        return;
    if (tm__conn_enter(s, c, CONN_IDLE) == 408 && !r->status)
        r->status = 408; /* answered by the reaper (conns.c) */
    if (!r->c) { /* refused by libmicrohttpd before the handler (431, 400) */
        free(r);
        *con_cls = NULL;
        return;
    }
    tm__events_completed(r);
    int64_t took_us = tm__now_us() - r->start_us;
    double secs = (double)took_us / 1e6;
    int ix = r->route_ix;
    __atomic_fetch_add(&s->requests[ix][status_ix(r->status)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->dur_count[ix], 1, __ATOMIC_RELAXED);
    for (int b = 0; b < NBUCKETS; b++)
        if (secs <= tm__dur_bounds[b])
            __atomic_fetch_add(&s->dur_le[ix][b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->dur_sum_us[ix], (uint64_t)took_us, __ATOMIC_RELAXED);
    int level = r->status >= 500 ? 3 : 1;
    if (level >= __atomic_load_n(&s->cfg.log_level, __ATOMIC_RELAXED)) {
        /* Formatted only when it is logged (level warn: not for a 200). */
        char st[8], ms[32], ev[24];
        snprintf(st, sizeof st, "%u", r->status);
        snprintf(ms, sizeof ms, "%.3f", secs * 1e3);
        snprintf(ev, sizeof ev, "%zu", r->nevents);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char ip[64] = "?";
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        }
        const char *kv[] = {"method", r->method, "path", r->url, "status", st, "ms", ms,
                            "ip", ip, "events", ev, "key", r->has_key ? r->key.id : "-", NULL};
        tm__log(s, level, "request", kv);
    }
    if (r->px)
        tm__proxy_completed(r);
    tm__buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* The debug log line for every tracked event, in the spirit of the seed
 * RAG step's "UsageTracker.track ... | attrs={...}". */
static void event_log(void *arg, const tm_event *ev)
{
    srv *s = arg;
    if (__atomic_load_n(&s->cfg.log_level, __ATOMIC_RELAXED) > 0)
        return;
    tm_buf b = TM_BUF_INIT;
    tm__event_json(&b, ev);
    const char *kv[] = {"attrs", b.data ? b.data : "{}", NULL};
    tm__log(s, 0, "UsageTracker.track", kv);
    tm__buf_free(&b);
}

/* ---- alerts ---- */

static void alert_logged(void *arg, const char *body, int delivered)
{
    srv *s = arg;
    const char *kv[] = {"alert", body, "delivered", delivered ? "no" : "yes",
                        "error", delivered ? tm_errmsg() : "-", NULL};
    tm__log(s, delivered ? 3 : 2, "alert transition", kv);
}

void tm__alerts_nudge(srv *s)
{
    pthread_mutex_lock(&s->amu);
    if (s->alerts && s->alerts->nrules && !s->adirty) {
        s->adirty = 1;
        pthread_cond_signal(&s->acv);
    }
    pthread_mutex_unlock(&s->amu);
}

void tm__soft_limit_alert(srv *s, const char *user, const char *warning, int64_t reset_us)
{
    char rule[128], key[300], at[32], reset[32];
    tm_buf b = TM_BUF_INIT;
    /* Keyed by the period, so the next period can raise it again. */
    snprintf(rule, sizeof rule, "soft-limit");
    tm__time_format(reset_us, reset);
    snprintf(key, sizeof key, "%s@%s", user, reset);
    tm__time_format(tm__now_us(), at);
    tm__buf_puts(&b, "{\"rule\": \"soft-limit\", \"key\": ");
    tm__json_str(&b, key, strlen(key));
    tm__buf_puts(&b, ", \"scope\": \"user_id\", \"state\": \"firing\", \"metric\": \"quota\", \"message\": ");
    tm__json_str(&b, warning, strlen(warning));
    tm__buf_printf(&b, ", \"at\": \"%s\"}", at);
    tm_alert_change c = {rule, key, "", "", b.data, 1, 0};
    /* With Redis, one daemon claims it (for a minute: one killed meanwhile
     * leaves it to a later check), records it and then holds the claim
     * until the period resets; the others skip the store write. Redis
     * failing: record as if alone (the store's row lock keeps it once). */
    char claim[400];
    tm_policy *p = tm__pctx_policy(tm__pctx(s->t));
    int64_t hold = (reset_us - tm__now_us()) / 1000 + 3600 * 1000;
    snprintf(claim, sizeof claim, "%s:soft-limit:%s", tm__store_tag(s->t), key);
    if (b.data && !tm__policy_claim(p, claim, 60 * 1000)) {
        tm__buf_free(&b);
        return;
    }
    int rc = b.data ? tm__alert_record(tm__pctx(s->t), &c) : TM_ENOMEM;
    if (rc)
        tm__policy_unclaim(p, claim); /* not recorded: let a later check try */
    else
        tm__policy_claim_done(p, claim, hold > 40LL * 86400 * 1000 ? 40LL * 86400 * 1000 : hold);
    if (rc == TM_OK && c.changed) {
        const char *kv[] = {"alert", b.data, NULL};
        tm__log(s, 2, "alert transition", kv);
        pthread_mutex_lock(&s->amu);
        if (s->noutbox < 64) {
            s->outbox[s->noutbox++] = b.data;
            b.data = NULL;
            pthread_cond_signal(&s->acv);
        }
        pthread_mutex_unlock(&s->amu);
    }
    tm__buf_free(&b);
}

/* Evaluates the rules every interval_s, and soon after events arrive (at
 * most once a second), until stopped; delivers queued notifications. Webhook
 * retries happen here, so a receiver that is down never holds a request
 * thread. */
static void *evaluator(void *arg)
{
    srv *s = arg;
    int64_t last = 0;
    pthread_mutex_lock(&s->amu);
    while (!s->astop) {
        unsigned every = s->alerts ? s->alerts->interval_s : 30;
        struct timespec until = tm__deadline((int64_t)every * 1000000);
        while (!s->astop && !s->noutbox && !(s->adirty && tm__now_us() - last >= 1000000) &&
               pthread_cond_timedwait(&s->acv, &s->amu, &until) == 0) {
            if (s->adirty && tm__now_us() - last < 1000000) /* throttle to once a second */
                until = tm__deadline(1000000 - (tm__now_us() - last));
        }
        while (s->noutbox && !s->astop) { /* soft-limit notifications */
            char *body = s->outbox[--s->noutbox];
            tm_alerts *a = s->alerts;
            int nh = a ? a->nhooks : 0;
            tm_webhook *hooks = nh ? malloc((size_t)nh * sizeof *hooks) : NULL;
            if (hooks)
                memcpy(hooks, a->hooks, (size_t)nh * sizeof *hooks);
            unsigned tries = a ? a->max_tries : 1;
            double backoff = a ? a->backoff_s : 1;
            pthread_mutex_unlock(&s->amu);
            for (int h = 0; hooks && h < nh; h++)
                if (tm__webhook_send(&hooks[h], body, tries, backoff) != TM_OK)
                    alert_logged(s, body, 1);
            free(hooks);
            free(body);
            pthread_mutex_lock(&s->amu);
        }
        s->adirty = 0;
        last = tm__now_us();
        pthread_mutex_unlock(&s->amu); /* a probe of a Redis that is down: up to 200 ms */
        tm__rate_redis_probe(tm__pctx_policy(tm__pctx(s->t)));
        pthread_mutex_lock(&s->amu);
        tm__redis_log(s);
        if (s->astop || !s->alerts || !s->alerts->nrules)
            continue;
        /* Evaluate a copy, unlocked: a reload or a stop need not wait for it. */
        tm_alerts copy = *s->alerts;
        copy.rules = malloc((size_t)copy.nrules * sizeof *copy.rules);
        copy.hooks = malloc((size_t)(copy.nhooks ? copy.nhooks : 1) * sizeof *copy.hooks);
        if (copy.rules && copy.hooks) {
            memcpy(copy.rules, s->alerts->rules, (size_t)copy.nrules * sizeof *copy.rules);
            memcpy(copy.hooks, s->alerts->hooks, (size_t)copy.nhooks * sizeof *copy.hooks);
            pthread_mutex_unlock(&s->amu);
            int n = 0;
            if (tm__alerts_evaluate(tm__pctx(s->t), &copy, tm__now_us(), 1, alert_logged, s, &n) != TM_OK) {
                const char *kv[] = {"error", tm_errmsg(), NULL};
                tm__log(s, 3, "alert evaluation failed", kv);
            }
            pthread_mutex_lock(&s->amu);
        }
        free(copy.rules);
        free(copy.hooks);
    }
    pthread_mutex_unlock(&s->amu);
    return NULL;
}

/* ---- start and stop ---- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, int *loopback)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return tm__fail(TM_EINVAL, "listen: '%s' must be HOST:PORT, like 127.0.0.1:8787", s);
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || end == colon + 1)
        return tm__fail(TM_EINVAL, "listen: port '%s' must be a number from 0 to 65535", colon + 1);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        size_t n = strlen(host);
        if (host[n - 1] != ']')
            return tm__fail(TM_EINVAL, "listen: '%s': unbalanced [ ]", s);
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return tm__fail(TM_EINVAL, "listen: '%s' is not an IPv6 address", host + 1);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return TM_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return tm__fail(TM_EINVAL, "listen: '%s' is not an IPv4 address (or [IPv6])", host);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return TM_OK;
}

/* SIGHUP: all or nothing. The config file (limits, log level, tiers, rate
 * limits, alert rules) and the price file are read and checked whole first;
 * on any error the running configuration stays as it was, every part of it,
 * and the error is logged at error level. */
static void reload(srv *s, const char *config_path)
{
    tm_server_config nc = s->cfg;
    tm_alerts *na = NULL;
    int rc = TM_OK;
    if (config_path) {
        tm__server_defaults(&nc);
        rc = tm__server_config_load(&nc, config_path);
        if (rc == TM_OK)
            rc = tm__alerts_load(&na, config_path);
    }
    const char *env = getenv("TOKMETER_PRICES");
    const char *prices = nc.prices[0] ? nc.prices : env && *env ? env : NULL;
    if (rc == TM_OK)
        rc = tm__reload(s->t, config_path, prices);
    if (rc) {
        tm__alerts_free(na);
        const char *kv[] = {"config", config_path ? config_path : "-", "error", tm_errmsg(), NULL};
        tm__log(s, 3, "reload failed; keeping the running configuration whole", kv);
        return;
    }
    if (config_path) {
        /* Against the file as it was, not the running values: --listen or
         * --db on the command line are not a change of the file. */
        if (strcmp(nc.listen, s->file_cfg.listen) || nc.threads != s->file_cfg.threads ||
            strcmp(nc.db, s->file_cfg.db))
            tm__log(s, 2, "listen, threads and db change only on restart", NULL);
        s->file_cfg = nc;
        __atomic_store_n(&s->cfg.max_body, nc.max_body, __ATOMIC_RELAXED);
        __atomic_store_n(&s->cfg.max_events, nc.max_events, __ATOMIC_RELAXED);
        __atomic_store_n(&s->cfg.request_timeout_s, nc.request_timeout_s, __ATOMIC_RELAXED);
        __atomic_store_n(&s->cfg.max_query_rows, nc.max_query_rows, __ATOMIC_RELAXED);
        __atomic_store_n(&s->cfg.log_level, nc.log_level, __ATOMIC_RELAXED);
        memcpy(s->cfg.prices, nc.prices, sizeof nc.prices);
        pthread_mutex_lock(&s->amu);
        tm__alerts_free(s->alerts);
        s->alerts = na;
        pthread_cond_signal(&s->acv);
        pthread_mutex_unlock(&s->amu);
    }
    const char *kv[] = {"config", config_path ? config_path : "-", "prices", prices ? prices : "built-in", NULL};
    tm__log(s, 1, "reloaded", kv);
}

int tm__server_check_listen(const char *listen)
{
    struct sockaddr_storage ss;
    int loopback;
    return parse_listen(listen, &ss, &loopback);
}

int tm__server_run(tm *t, tm_server_config *cfg, const char *config_path)
{
    struct sockaddr_storage ss;
    int loopback = 0, rc, sig = 0, nkeys = 0, everkeys = 0;
    srv *s = calloc(1, sizeof *s);
    if (!s)
        return TM_ENOMEM;
    s->t = t;
    s->cfg = *cfg;
    tm__server_defaults(&s->file_cfg);
    if (config_path && tm__server_config_load(&s->file_cfg, config_path) != TM_OK)
        s->file_cfg = *cfg; /* it loaded a moment ago; compare with what runs */
    pthread_mutex_init(&s->amu, NULL);
    pthread_cond_init(&s->acv, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->ccv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    pthread_t eval_thread, reaper_thread;
    int evaluating = 0, reaping = 0;
    if ((rc = parse_listen(cfg->listen, &ss, &loopback)) || (rc = tm__keys_count(t, &nkeys, &everkeys)) ||
        (rc = tm__alerts_load(&s->alerts, config_path)) ||
        (rc = tm__proxy_start(&s->proxy, s, config_path)) || (rc = tm__notify_enable(t)))
        goto out;
    /* Redis's state at start is logged now, not at the first check. */
    if (tm__notifier(t))
        tm__notify_log(tm__notifier(t), tm__notify_logged, s);
    tm__rate_redis_probe(tm__pctx_policy(tm__pctx(t)));
    tm__redis_log(s);
    if (!loopback && nkeys == 0) {
        rc = tm__fail(TM_EINVAL, "listen: %s is not a loopback address, and no API key exists: "
                                 "anyone could read and write usage; create one first "
                                 "(tokmeter keys create --scope admin)", cfg->listen);
        goto out;
    }
    s->keys_required = everkeys > 0 || !loopback;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */
    tm__set_event_hook(t, event_log, s);
    evaluating = pthread_create(&eval_thread, NULL, evaluator, s) == 0;
    reaping = pthread_create(&reaper_thread, NULL, tm__conn_reaper, s) == 0;
    /* The port is also given apart from the address so that MHD's own
     * messages ("Failed to bind to port N") name the right one. */
    uint16_t bind_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                        : ((struct sockaddr_in *)&ss)->sin_port);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
            (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        /* The logger first: libmicrohttpd warns on stderr about any option before it. */
        bind_port, NULL, NULL, handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
        /* conns.c keeps both limits by closing the longest waiting connection;
         * libmicrohttpd's hard limit leaves room for those being closed. */
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections + 64, MHD_OPTION_NOTIFY_CONNECTION,
        tm__conn_notify, s,
        MHD_OPTION_URI_LOG_CALLBACK, uri_seen, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_header + 16384 + TM_MAX_QUERY_ARGS * 64,
        MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_END);
    if (!d) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        tm__set_event_hook(t, NULL, NULL);
        rc = tm__fail(TM_EIO, "listen: cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *bound = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->self = ss; /* the address it listens on, with the port it got (0 picks one) */
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&s->self)->sin6_port = htons(bound ? bound->port : bind_port);
    else
        ((struct sockaddr_in *)&s->self)->sin_port = htons(bound ? bound->port : bind_port);
    s->selflen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!cfg->quiet) {
        const union MHD_DaemonInfo *info = bound;
        char port[16], keys[16];
        snprintf(port, sizeof port, "%u", info ? info->port : 0);
        snprintf(keys, sizeof keys, "%d", nkeys);
        char store[sizeof cfg->db];
        const char *kv[] = {"listen", cfg->listen, "port", port,
                            "store", tm__store_shown(cfg->db, store, sizeof store),
                            "keys", keys, "version", TM_VERSION, NULL};
        tm__log(s, s->cfg.log_level > 1 ? s->cfg.log_level : 1, "tokmeter serving", kv);
    }
    if (everkeys > 0 && nkeys == 0)
        tm__log(s, 2, "every API key is revoked: only /healthz and /readyz answer until one is "
                      "created (tokmeter keys create)", NULL);
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGHUP)
            break;
        reload(s, config_path);
    }
    char sn[8];
    snprintf(sn, sizeof sn, "%d", sig);
    const char *kv[] = {"signal", sn, NULL};
    tm__log(s, 1, "stopping: finishing requests in flight", kv);
    /* Requests suspended while their events commit are answered first (the
     * writer runs until tm_close), then proxied calls in flight end (their
     * suspended ones too): libmicrohttpd must not stop with one suspended. */
    tm__events_drain(s, 10);
    tm__proxy_stop(s->proxy, 10);
    MHD_stop_daemon(d); /* waits for in-flight requests */
    tm__set_event_hook(t, NULL, NULL);
    tm__log(s, 1, "stopped: every request answered; closing the store (commits what is queued, "
                  "saves the rollups snapshot)", NULL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    rc = TM_OK;
out:
    if (tm__notifier(t)) /* it outlives the server */
        tm__notify_log(tm__notifier(t), NULL, NULL);
    if (reaping) {
        pthread_mutex_lock(&s->cmu);
        s->cstop = 1;
        pthread_cond_signal(&s->ccv);
        pthread_mutex_unlock(&s->cmu);
        pthread_join(reaper_thread, NULL);
    }
    if (evaluating) {
        pthread_mutex_lock(&s->amu);
        s->astop = 1;
        pthread_cond_signal(&s->acv);
        pthread_mutex_unlock(&s->amu);
        pthread_join(eval_thread, NULL);
    }
    tm__alerts_free(s->alerts);
    tm__proxy_free(s->proxy);
    while (s->noutbox)
        free(s->outbox[--s->noutbox]);
    pthread_mutex_destroy(&s->amu);
    pthread_cond_destroy(&s->acv);
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccv);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    free(s);
    return rc;
}
