/*
 * proxy.c — the gateway: forward an LLM API call to its upstream, stream
 * the answer back byte for byte, and record one usage event per call
 * through the library's ingest path (docs/proxy.md).
 *
 * A call goes:  headers (route, tokmeter key) → body (capped) → attribution
 * and the quota check (a denial is answered in the provider's own error
 * shape, never forwarded) → the connection is suspended and the call handed
 * to the forwarding thread → upstream headers arrive: resume, queue a
 * response whose content callback drains what the thread has received
 * (suspending while it waits) → the transfer ends: the event is tracked.
 *
 * Threads: MHD's pool runs the request side; one thread runs a curl multi
 * handle on epoll (curl_multi_socket_action) for every upstream transfer
 * (connection reuse, HTTP/2 over TLS where offered, easy handles reused).
 * The two meet in a call under its mutex; the thread wakes a waiting
 * request once per pass, after everything that pass received.
 *
 * Privacy: bodies are held in memory only to find usage; prompts and
 * answers are never stored or logged, and upstream keys never appear in a
 * log line, an error or an event.
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/event.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "proxy.h"

enum { API_OPENAI, API_ANTHROPIC };
enum { PX_BODY, PX_WAIT, PX_SENDING };              /* the request side's state */
enum { C_OK, C_ERROR, C_DENIED, C_UNREACHABLE, C_CUT, C_CLOSED, C_N };
static const char *const counter_names[C_N] = {"ok", "upstream_error", "denied", "unreachable",
                                               "upstream_cut", "client_closed"};

#define MAX_UPSTREAMS 32
#define OUT_HIGH (1u << 20)     /* bytes waiting for the client: pause the upstream */
#define SCAN_MAX (16u << 20)    /* a JSON answer larger than this is not scanned */

typedef struct upstream {
    char name[64], base[512], provider[64], key_env[128];
    int api;
    char *key; /* from key_env; NULL: the client's own key passes through */
} upstream;

struct tm_proxy {
    srv *s;
    upstream ups[MAX_UPSTREAMS];
    size_t nups;
    char user_header[64], project_header[64], operation_header[64];
    long idle_timeout_s;            /* an upstream silent this long is given up */
    CURLM *multi;
    int ep, evfd;                   /* epoll for curl's sockets; wake-ups    */
    int64_t deadline_us;            /* curl's timer (-1: none)               */
    struct px_call *wakes;          /* to wake after this pass (thread only) */
    CURL *pool[256];                /* idle easy handles, under mu           */
    int npool;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;             /* the lists below, stop, active         */
    struct px_call *added, *cancels, *unpauses;
    struct px_call *live;           /* in the multi handle (the thread's)    */
    int stop;
    long active;                    /* calls handed to the thread, not done  */
    uint64_t counts[C_N];
};

typedef struct px_call {
    pthread_mutex_t mu;
    int refs;                       /* the request, the response, the thread */
    tm_proxy *p;
    req *r;                         /* NULL once the request is over         */
    const upstream *up;
    int state, suspended;
    struct px_call *next_add, *next_cancel, *next_unpause; /* each holds a ref */
    struct px_call *live_prev, *live_next;
    struct px_call *next_wake;      /* holds a ref while queued             */
    int wake_queued;
    int cancel_queued, unpause_queued;
    /* the request (request side, then read-only) */
    tm_buf body;
    char *url;
    char endpoint[256], user[129], project[129], operation[129], req_model[129];
    int stream, strip;              /* strip: include_usage was ours        */
    int64_t start_us;
    CURL *e;
    struct curl_slist *hdrs;
    /* the answer (thread, published under mu) */
    unsigned status;
    int head, done, paused, cut;
    long long clen;                 /* upstream Content-Length, or -1       */
    tm_buf rh;                      /* response headers "Name\0value\0"...  */
    tm_buf out;                     /* bytes for the client, not yet sent   */
    size_t out_off;
    char cerr[CURL_ERROR_SIZE];
    /* usage scanning (thread only) */
    int sse, noscan;
    tm_buf acc;                     /* the JSON answer, or the SSE event being read */
    tm_buf fw;                      /* scratch: what to forward             */
    tm_buf usage, usage_start;      /* usage objects as JSON text           */
    char rid[129], body_id[129], model[129], err_type[129];
    int64_t first_us, end_us;
    tm_arena tmp;
} px_call;

/* ---- small helpers ---- */

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static const upstream *find_upstream(const tm_proxy *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->nups; i++)
        if (strlen(p->ups[i].name) == n && strncmp(p->ups[i].name, name, n) == 0)
            return &p->ups[i];
    return NULL;
}

static void count(tm_proxy *p, int which)
{
    __atomic_fetch_add(&p->counts[which], 1, __ATOMIC_RELAXED);
}

static void release(px_call *x)
{
    pthread_mutex_lock(&x->mu);
    int left = --x->refs;
    pthread_mutex_unlock(&x->mu);
    if (left)
        return;
    if (x->e) { /* kept for the next call: its buffers and settings' memory */
        tm_proxy *p = x->p;
        curl_easy_reset(x->e);
        pthread_mutex_lock(&p->mu);
        if (p->npool < (int)(sizeof p->pool / sizeof p->pool[0]))
            p->pool[p->npool++] = x->e, x->e = NULL;
        pthread_mutex_unlock(&p->mu);
        if (x->e)
            curl_easy_cleanup(x->e);
    }
    curl_slist_free_all(x->hdrs);
    free(x->url);
    tm__buf_free(&x->body);
    tm__buf_free(&x->rh);
    tm__buf_free(&x->out);
    tm__buf_free(&x->acc);
    tm__buf_free(&x->fw);
    tm__buf_free(&x->usage);
    tm__buf_free(&x->usage_start);
    tm__arena_free(&x->tmp);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* Wakes the request side if it waits (x->mu held). */
static void wake_request(px_call *x)
{
    if (x->suspended && x->r) {
        x->suspended = 0;
        MHD_resume_connection(x->r->c);
    }
}

/* The thread: wake x's request after this pass (one wake for a head, a
 * body and an end that arrive together). */
static void wake_later(px_call *x)
{
    if (x->wake_queued)
        return;
    pthread_mutex_lock(&x->mu);
    x->refs++;
    pthread_mutex_unlock(&x->mu);
    x->wake_queued = 1;
    x->next_wake = x->p->wakes;
    x->p->wakes = x;
}

static void nudge(tm_proxy *p)
{
    uint64_t one = 1;
    if (write(p->evfd, &one, sizeof one) < 0) { /* the counter is full: a wake is pending anyway */
    }
}

/* ---- errors in the provider's own shape ---- */

static enum MHD_Result reply_error(req *r, int api, unsigned status, const char *code,
                                   long retry_after, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void error_body(tm_buf *b, int api, unsigned status, const char *code, const char *msg)
{
    const char *type;
    if (api == API_ANTHROPIC) {
        type = status == 401 ? "authentication_error" : status == 403 ? "permission_error"
             : status == 404 ? "not_found_error" : status == 413 ? "request_too_large"
             : status == 429 ? "rate_limit_error" : status >= 500 ? "api_error"
             : "invalid_request_error";
        tm__buf_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
        tm__json_str(b, msg, strlen(msg));
        tm__buf_puts(b, "}}");
        return;
    }
    type = status == 429 ? "rate_limit_exceeded" : status >= 500 ? "api_error" : "invalid_request_error";
    tm__buf_puts(b, "{\"error\":{\"message\":");
    tm__json_str(b, msg, strlen(msg));
    tm__buf_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}", type, code);
}

static enum MHD_Result reply_error(req *r, int api, unsigned status, const char *code,
                                   long retry_after, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(msg, sizeof msg, "tokmeter: ");
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    tm_buf b = TM_BUF_INIT;
    error_body(&b, api, status, code, msg);
    char ra[24];
    snprintf(ra, sizeof ra, "%ld", retry_after);
    const char *extra[] = {retry_after > 0 ? "Retry-After" : NULL, ra, NULL};
    enum MHD_Result ok = tm__reply_as(r, status, b.data, b.len, 0, "application/json", extra);
    tm__buf_free(&b);
    return ok;
}

/* ---- configuration ---- */

static int up_fail(const char *path, size_t i, const char *key, const char *why)
{
    return tm__fail(TM_EINVAL, "%s: upstreams[%zu].%s: %s", path, i, key, why);
}

static int load_upstream(tm_proxy *p, const char *path, size_t i, const tm_jv *o)
{
    upstream u = {0};
    int api = -1;
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: upstreams[%zu]: must be an object", path, i);
    for (size_t k = 0; k < o->n; k++) {
        const char *key = o->keys[k];
        const tm_jv *v = o->vals[k];
        char *dst = strcmp(key, "name") == 0 ? u.name : strcmp(key, "base_url") == 0 ? u.base
                  : strcmp(key, "provider") == 0 ? u.provider : strcmp(key, "key_env") == 0 ? u.key_env
                  : NULL;
        size_t cap = dst == u.base ? sizeof u.base : dst == u.key_env ? sizeof u.key_env : sizeof u.name;
        if (strcmp(key, "api") == 0) {
            if (v->type != TM_J_STRING || (strcmp(v->s, "openai") && strcmp(v->s, "anthropic")))
                return up_fail(path, i, key, "must be \"openai\" or \"anthropic\"");
            api = strcmp(v->s, "anthropic") == 0 ? API_ANTHROPIC : API_OPENAI;
            continue;
        }
        if (!dst)
            return up_fail(path, i, key, "unknown key (name, base_url, provider, api, key_env)");
        if (v->type != TM_J_STRING || v->n == 0 || v->n >= cap || memchr(v->s, '\0', v->n)) {
            char why[80];
            snprintf(why, sizeof why, "must be a string of 1 to %zu bytes", cap - 1);
            return up_fail(path, i, key, why);
        }
        memcpy(dst, v->s, v->n + 1);
    }
    if (!u.name[0])
        return up_fail(path, i, "name", "is required");
    if (strspn(u.name, "abcdefghijklmnopqrstuvwxyz0123456789_-.") != strlen(u.name))
        return up_fail(path, i, "name", "must be lower-case letters, digits, '_', '-' or '.'");
    if (!u.base[0])
        return up_fail(path, i, "base_url", "is required");
    if (strncmp(u.base, "http://", 7) && strncmp(u.base, "https://", 8))
        return up_fail(path, i, "base_url", "must start with http:// or https://");
    if (strchr(u.base, '@') || strchr(u.base, '?') || strchr(u.base, '#'))
        return up_fail(path, i, "base_url", "must not hold credentials, a query or a fragment "
                                            "(put the key in key_env)");
    size_t bl = strlen(u.base);
    while (bl && u.base[bl - 1] == '/')
        u.base[--bl] = '\0';
    if (!u.provider[0])
        snprintf(u.provider, sizeof u.provider, "%s", u.name);
    u.api = api >= 0 ? api : strcmp(u.provider, "anthropic") == 0 ? API_ANTHROPIC : API_OPENAI;
    if (u.key_env[0]) {
        const char *k = getenv(u.key_env);
        if (!k || !*k)
            return up_fail(path, i, "key_env", "names an environment variable that is not set");
        if (!(u.key = strdup(k)))
            return TM_ENOMEM;
    }
    upstream *slot = (upstream *)find_upstream(p, u.name, strlen(u.name));
    if (!slot) {
        if (p->nups == MAX_UPSTREAMS) {
            free(u.key);
            return tm__fail(TM_EINVAL, "%s: upstreams: at most %d", path, MAX_UPSTREAMS - 2);
        }
        slot = &p->ups[p->nups++];
    }
    free(slot->key);
    *slot = u;
    return TM_OK;
}

static int load_section(tm_proxy *p, const char *path, const tm_jv *o)
{
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: proxy: must be an object", path);
    for (size_t k = 0; k < o->n; k++) {
        const char *key = o->keys[k];
        const tm_jv *v = o->vals[k];
        uint64_t n = 0;
        if (strcmp(key, "idle_timeout_s") == 0) {
            if (v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, 86400, &n) != TM_DEC_OK || n < 1)
                return tm__fail(TM_EINVAL, "%s: proxy.idle_timeout_s: must be a whole number from 1 "
                                           "to 86400", path);
            p->idle_timeout_s = (long)n;
            continue;
        }
        char *dst = strcmp(key, "user_header") == 0 ? p->user_header
                  : strcmp(key, "project_header") == 0 ? p->project_header
                  : strcmp(key, "operation_header") == 0 ? p->operation_header : NULL;
        if (!dst)
            return tm__fail(TM_EINVAL, "%s: proxy.%s: unknown key (user_header, project_header, "
                                       "operation_header, idle_timeout_s)", path, key);
        if (v->type != TM_J_STRING || v->n == 0 || v->n >= sizeof p->user_header ||
            strspn(v->s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != v->n)
            return tm__fail(TM_EINVAL, "%s: proxy.%s: must be a header name of 1 to 63 letters, "
                                       "digits, '-' or '_'", path, key);
        memcpy(dst, v->s, v->n + 1);
    }
    return TM_OK;
}

static void *run(void *arg);

/* curl says which of its sockets to watch for what. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *cls, void *sockp)
{
    tm_proxy *p = cls;
    (void)e, (void)sockp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    if (epoll_ctl(p->ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *cls)
{
    tm_proxy *p = cls;
    (void)m;
    p->deadline_us = timeout_ms < 0 ? -1 : tm__now_us() + timeout_ms * 1000;
    return 0;
}

int tm__proxy_start(tm_proxy **out, srv *s, const char *config_path)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    int rc = TM_OK;
    tm_proxy *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return TM_ENOMEM;
    p->s = s;
    p->ep = p->evfd = -1;
    p->deadline_us = -1;
    pthread_mutex_init(&p->mu, NULL);
    p->idle_timeout_s = 600;
    snprintf(p->user_header, sizeof p->user_header, "X-Tokmeter-User");
    snprintf(p->project_header, sizeof p->project_header, "X-Tokmeter-Project");
    snprintf(p->operation_header, sizeof p->operation_header, "X-Tokmeter-Operation");
    p->ups[0] = (upstream){"openai", "https://api.openai.com", "openai", "", API_OPENAI, NULL};
    p->ups[1] = (upstream){"anthropic", "https://api.anthropic.com", "anthropic", "", API_ANTHROPIC, NULL};
    p->nups = 2;
    if (config_path && (rc = tm__json_load_file(&a, config_path, 4u << 20, &root)) == TM_OK) {
        const tm_jv *ups = tm__json_get(root, "upstreams"), *sec = tm__json_get(root, "proxy");
        if (ups && ups->type != TM_J_ARRAY)
            rc = tm__fail(TM_EINVAL, "%s: upstreams: must be an array of objects", config_path);
        for (size_t i = 0; rc == TM_OK && ups && i < ups->n; i++)
            rc = load_upstream(p, config_path, i, ups->vals[i]);
        if (rc == TM_OK && sec)
            rc = load_section(p, config_path, sec);
    }
    tm__arena_free(&a);
    if (rc == TM_OK) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        p->ep = epoll_create1(EPOLL_CLOEXEC);
        p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = p->evfd};
        if (p->ep < 0 || p->evfd < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->evfd, &ev) != 0)
            rc = tm__fail(TM_EIO, "proxy: epoll: %s", strerror(errno));
        else if (!(p->multi = curl_multi_init()))
            rc = TM_ENOMEM;
    }
    if (rc == TM_OK) {
        curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, 1024L);
        curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
        if (pthread_create(&p->thread, NULL, run, p) != 0)
            rc = tm__fail(TM_ENOMEM, "proxy: cannot start its thread");
        else
            p->started = 1;
    }
    if (rc) {
        tm__proxy_free(p);
        return rc;
    }
    *out = p;
    return TM_OK;
}

void tm__proxy_stop(tm_proxy *p, unsigned wait_s)
{
    if (!p || !p->started)
        return;
    int64_t until = tm__now_us() + (int64_t)wait_s * 1000000;
    pthread_mutex_lock(&p->mu);
    p->stop = 1; /* no new calls */
    pthread_mutex_unlock(&p->mu);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        long active = p->active;
        pthread_mutex_unlock(&p->mu);
        if (!active || tm__now_us() >= until)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 2; /* the thread ends what is left, then exits */
    pthread_mutex_unlock(&p->mu);
    nudge(p);
    pthread_join(p->thread, NULL);
    p->started = 0;
}

void tm__proxy_free(tm_proxy *p)
{
    if (!p)
        return;
    tm__proxy_stop(p, 0);
    if (p->multi)
        curl_multi_cleanup(p->multi);
    while (p->npool)
        curl_easy_cleanup(p->pool[--p->npool]);
    if (p->ep >= 0)
        close(p->ep);
    if (p->evfd >= 0)
        close(p->evfd);
    for (size_t i = 0; i < p->nups; i++)
        free(p->ups[i].key);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void tm__proxy_metrics(tm_proxy *p, tm_buf *b)
{
    if (!p)
        return;
    tm__buf_puts(b, "# HELP tokmeter_proxy_calls_total Proxied calls by outcome.\n"
                    "# TYPE tokmeter_proxy_calls_total counter\n");
    for (int i = 0; i < C_N; i++)
        tm__buf_printf(b, "tokmeter_proxy_calls_total{result=\"%s\"} %llu\n", counter_names[i],
                       (unsigned long long)__atomic_load_n(&p->counts[i], __ATOMIC_RELAXED));
}

/* ---- routing ---- */

int tm__proxy_owns(const char *url)
{
    return strncmp(url, "/proxy/", 7) == 0 || strncmp(url, "/openai/", 8) == 0 ||
           strncmp(url, "/anthropic/", 11) == 0;
}

/* The upstream for url, and the path to send it (the rest of url). */
static const upstream *resolve(const tm_proxy *p, const char *url, const char **rest)
{
    if (strncmp(url, "/proxy/", 7) == 0) {
        const char *name = url + 7, *slash = strchr(name, '/');
        if (!slash)
            return NULL;
        *rest = slash;
        return find_upstream(p, name, (size_t)(slash - name));
    }
    const char *name = url + 1, *slash = strchr(name, '/');
    *rest = slash;
    return find_upstream(p, name, (size_t)(slash - name));
}

/* ---- the request side ---- */

/* The tokmeter key the client presented, if any: X-Tokmeter-Key, or a
 * tmk_ key where the SDK puts its API key. */
static const char *tokmeter_key(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tokmeter-Key");
    if (h)
        return h;
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && strncmp(h, "Bearer tmk_", 11) == 0)
        return h + 7;
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
    if (h && strncmp(h, "tmk_", 4) == 0)
        return h;
    return NULL;
}

/* 0 to go on; else an error was queued and *ret holds its result. Like the
 * daemon's own check (tm__anonymous_ok): callers need no key only while the
 * daemon is on loopback and its store has never held one. */
static int authorize(req *r, int api, enum MHD_Result *ret)
{
    const char *key = tokmeter_key(r->c);
    if (!key) {
        int open = tm__anonymous_ok(r->s);
        if (open < 0) {
            *ret = reply_error(r, api, 503, "store_error", 0, "%s", tm_errmsg());
            return 1;
        }
        if (open)
            return 0;
        *ret = reply_error(r, api, 401, "invalid_api_key", 0,
                           "send a tokmeter key (X-Tokmeter-Key, or as the SDK's API key when "
                           "the upstream's key is configured)");
        return 1;
    }
    if (tm__key_check(r->s->t, key, &r->key) != TM_OK) {
        *ret = reply_error(r, api, 401, "invalid_api_key", 0, "%s", tm_errmsg());
        return 1;
    }
    r->has_key = 1;
    /* Calls write usage: admin and ingest keys, or a read key bound to a
     * user, who may then call (and be recorded) only as that user. */
    if (strcmp(r->key.scope, "admin") && strcmp(r->key.scope, "ingest") && !r->key.user[0]) {
        *ret = reply_error(r, api, 403, "forbidden",
                           0, "a %s key may not make calls through the proxy (ingest, admin, or "
                              "a read key bound to a user)", r->key.scope);
        return 1;
    }
    return 0;
}

typedef struct hdr_ctx {
    px_call *x;
    int drop_auth;
} hdr_ctx;

static int is_header(const char *k, const char *name)
{
    return strcasecmp(k, name) == 0;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    hdr_ctx *h = cls;
    px_call *x = h->x;
    tm_proxy *p = x->p;
    static const char *const hop[] = {"Host", "Connection", "Keep-Alive", "Proxy-Connection",
                                      "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
                                      "Upgrade", "Content-Length", "Expect", "Accept-Encoding"};
    (void)kind;
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (is_header(k, hop[i]))
            return MHD_YES;
    if (strncasecmp(k, "X-Tokmeter-", 11) == 0 || is_header(k, p->user_header) ||
        is_header(k, p->project_header) || is_header(k, p->operation_header))
        return MHD_YES;
    if ((is_header(k, "Authorization") || is_header(k, "x-api-key")) &&
        (h->drop_auth || strstr(v, "tmk_") == v || strncmp(v, "Bearer tmk_", 11) == 0))
        return MHD_YES;
    tm_buf line = TM_BUF_INIT;
    tm__buf_printf(&line, *v ? "%s: %s" : "%s;", k, v);
    struct curl_slist *n = line.data ? curl_slist_append(x->hdrs, line.data) : NULL;
    tm__buf_free(&line);
    if (n)
        x->hdrs = n;
    return MHD_YES;
}

typedef struct qs_ctx {
    tm_buf *b;
    int n;
} qs_ctx;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    qs_ctx *q = cls;
    (void)kind;
    char *ek = curl_easy_escape(NULL, k, 0), *ev = v ? curl_easy_escape(NULL, v, 0) : NULL;
    if (ek)
        tm__buf_printf(q->b, "%c%s%s%s", q->n++ ? '&' : '?', ek, v ? "=" : "", ev ? ev : "");
    curl_free(ek);
    curl_free(ev);
    return MHD_YES;
}

static size_t on_header(char *d, size_t sz, size_t n, void *cls);
static size_t on_body(char *d, size_t sz, size_t n, void *cls);

/* Rewrites an OpenAI streaming request so the upstream reports usage: the
 * body with "stream_options": {..., "include_usage": true}. */
static int inject_usage(tm_buf *nb, const tm_jv *v)
{
    const tm_jv *so = tm__json_get(v, "stream_options");
    tm__buf_puts(nb, "{\"stream_options\":{");
    for (size_t i = 0; so && so->type == TM_J_OBJECT && i < so->n; i++) {
        if (strcmp(so->keys[i], "include_usage") == 0)
            continue;
        tm__json_str(nb, so->keys[i], so->klens[i]);
        tm__buf_putc(nb, ':');
        tm__json_write(nb, so->vals[i]);
        tm__buf_putc(nb, ',');
    }
    tm__buf_puts(nb, "\"include_usage\":true}");
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->keys[i], "stream_options") == 0)
            continue;
        tm__buf_putc(nb, ',');
        tm__json_str(nb, v->keys[i], v->klens[i]);
        tm__buf_putc(nb, ':');
        tm__json_write(nb, v->vals[i]);
    }
    return tm__buf_putc(nb, '}');
}

/* The attribution header `name` into dst; 0, or -1 when it is too long. */
static int header_text(req *r, const char *name, char *dst, size_t cap)
{
    const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
    if (h && strlen(h) >= cap)
        return -1;
    if (h)
        copy(dst, cap, h, strlen(h));
    return 0;
}

/* The body is in: attribute, check, build the transfer, hand it over. */
static enum MHD_Result begin(req *r, px_call *x, const char *rest)
{
    tm_proxy *p = x->p;
    const upstream *up = x->up;
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char jerr[8];
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    size_t lead = 0;
    while (lead < x->body.len && strchr(" \t\r\n", x->body.data[lead]))
        lead++;
    if ((!ct || strncasecmp(ct, "multipart/", 10)) && lead < x->body.len && x->body.data[lead] == '{' &&
        (tm__json_parse(&a, x->body.data, x->body.len, &v, jerr, sizeof jerr) != TM_OK ||
         v->type != TM_J_OBJECT))
        v = NULL; /* not JSON: forwarded as it is, the upstream will say */
    const tm_jv *f;
    if ((f = tm__json_get(v, "model")) && f->type == TM_J_STRING)
        copy(x->req_model, sizeof x->req_model, f->s, f->n);
    x->stream = (f = tm__json_get(v, "stream")) && f->type == TM_J_TRUE;
    /* Attribution: a user-bound key decides; else the header, then the body. */
    char hdr_user[129] = "";
    const char *too_long = header_text(r, p->user_header, hdr_user, sizeof hdr_user) ? p->user_header
                         : header_text(r, p->project_header, x->project, sizeof x->project) ? p->project_header
                         : header_text(r, p->operation_header, x->operation, sizeof x->operation)
                             ? p->operation_header : NULL;
    if (too_long) {
        tm__arena_free(&a);
        return reply_error(r, up->api, 400, "invalid_header", 0, "%s: longer than %d bytes", too_long,
                           TM_DIM_MAX);
    }
    if (r->has_key && r->key.user[0]) {
        if (hdr_user[0] && strcmp(hdr_user, r->key.user)) {
            tm__arena_free(&a);
            return reply_error(r, up->api, 403, "forbidden", 0, "this key may call only as user %s",
                               r->key.user);
        }
        copy(x->user, sizeof x->user, r->key.user, strlen(r->key.user));
    } else if (hdr_user[0]) {
        copy(x->user, sizeof x->user, hdr_user, strlen(hdr_user));
    } else if (((f = tm__json_get(v, "user")) && f->type == TM_J_STRING && f->n < sizeof x->user) ||
               ((f = tm__json_get(tm__json_get(v, "metadata"), "user_id")) && f->type == TM_J_STRING &&
                f->n < sizeof x->user)) {
        copy(x->user, sizeof x->user, f->s, f->n); /* a longer one is the upstream's business only */
    }
    /* Enforcement: the code behind POST /v1/check. */
    if (x->user[0]) {
        tm_check_request rq = {x->user, x->operation[0] ? x->operation : NULL, up->provider,
                               x->req_model[0] ? x->req_model : NULL, 0, 0};
        tm_check_result res;
        if (tm__check(tm__pctx(r->s->t), &rq, &res, NULL) != TM_OK) {
            tm__arena_free(&a);
            return reply_error(r, up->api, 503, "store_error", 0, "quota check: %s", tm_errmsg());
        }
        if (res.soft_exceeded)
            tm__soft_limit_alert(r->s, x->user, res.warning, res.reset_us);
        if (!res.allowed) {
            tm__arena_free(&a);
            count(p, C_DENIED);
            const char *kv[] = {"user", x->user, "upstream", up->name, "reason", res.reason, NULL};
            tm__log(r->s, 1, "proxy call denied", kv);
            long ra = (long)ceil(res.retry_after_s);
            return reply_error(r, up->api, 429, "tokmeter_limit", ra < 1 ? 1 : ra, "%s", res.reason);
        }
    }
    /* OpenAI streams report usage only when asked: ask, and hide the answer. */
    if (v && x->stream && up->api == API_OPENAI) {
        const tm_jv *iu = tm__json_get(tm__json_get(v, "stream_options"), "include_usage");
        if (!iu || iu->type != TM_J_TRUE) {
            tm_buf nb = TM_BUF_INIT;
            if (inject_usage(&nb, v) == TM_OK) {
                tm__buf_free(&x->body);
                x->body = nb;
                x->strip = 1;
            } else {
                tm__buf_free(&nb);
            }
        }
    }
    tm__arena_free(&a);
    /* The transfer. */
    tm_buf url = TM_BUF_INIT;
    qs_ctx q = {&url, 0};
    /* libmicrohttpd hands over the path decoded: encode it again (a %2F in
     * the client's path reaches the upstream as '/'). */
    tm__buf_puts(&url, up->base);
    for (const unsigned char *c = (const unsigned char *)rest; *c; c++)
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/!$&'()*+,;=:@", *c))
            tm__buf_putc(&url, (char)*c);
        else
            tm__buf_printf(&url, "%%%02X", *c);
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    copy(x->endpoint, sizeof x->endpoint, rest, strlen(rest));
    x->url = url.data;
    hdr_ctx hc = {x, up->key != NULL};
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, add_header, &hc);
    if (up->key) {
        tm_buf line = TM_BUF_INIT;
        tm__buf_printf(&line, up->api == API_ANTHROPIC ? "x-api-key: %s" : "Authorization: Bearer %s",
                       up->key);
        struct curl_slist *n = line.data ? curl_slist_append(x->hdrs, line.data) : NULL;
        if (line.data)
            memset(line.data, 0, line.len); /* the key does not linger on the heap */
        tm__buf_free(&line);
        if (n)
            x->hdrs = n;
    }
    struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");
    if (n)
        x->hdrs = n;
    pthread_mutex_lock(&p->mu);
    x->e = p->npool ? p->pool[--p->npool] : NULL;
    pthread_mutex_unlock(&p->mu);
    CURL *e = x->e ? x->e : (x->e = curl_easy_init());
    if (!e || !x->url)
        return reply_error(r, up->api, 500, "out_of_memory", 0, "out of memory");
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->cerr);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L); /* not a byte for idle_timeout_s: give up */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, p->idle_timeout_s);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body.data ? x->body.data : "");
        if (strcmp(r->method, "POST"))
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    /* Hand over: suspend first, so a quick answer's resume finds us waiting. */
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return reply_error(r, up->api, 503, "shutting_down", 0, "the daemon is stopping");
    }
    pthread_mutex_lock(&x->mu);
    x->refs++; /* the thread's */
    x->state = PX_WAIT;
    x->suspended = 1;
    MHD_suspend_connection(r->c);
    pthread_mutex_unlock(&x->mu);
    x->next_add = p->added;
    p->added = x;
    p->active++;
    pthread_mutex_unlock(&p->mu);
    nudge(p);
    return MHD_YES;
}

/* MHD asks for more of the answer. */
static ssize_t content(void *cls, uint64_t pos, char *buf, size_t max)
{
    px_call *x = cls;
    (void)pos;
    pthread_mutex_lock(&x->mu);
    size_t avail = x->out.len - x->out_off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, x->out.data + x->out_off, n);
        x->out_off += n;
        if (x->out_off == x->out.len) {
            tm__buf_reset(&x->out);
            x->out_off = 0;
        }
        int unpause = x->paused && !x->unpause_queued && x->out.len - x->out_off < OUT_HIGH / 2;
        if (unpause)
            x->unpause_queued = 1, x->refs++;
        pthread_mutex_unlock(&x->mu);
        if (unpause) {
            tm_proxy *p = x->p;
            pthread_mutex_lock(&p->mu);
            x->next_unpause = p->unpauses;
            p->unpauses = x;
            pthread_mutex_unlock(&p->mu);
            nudge(p);
        }
        return (ssize_t)n;
    }
    if (x->done) {
        int cut = x->cut;
        pthread_mutex_unlock(&x->mu);
        return cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    x->suspended = 1;
    MHD_suspend_connection(x->r->c);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

static void content_done(void *cls)
{
    release(cls);
}

/* The upstream's headers are in: answer with its status and headers. */
static enum MHD_Result respond(req *r, px_call *x)
{
    pthread_mutex_lock(&x->mu);
    uint64_t size = x->clen >= 0 && !x->strip && !x->sse && !x->cut ? (uint64_t)x->clen : MHD_SIZE_UNKNOWN;
    x->refs++; /* the response's */
    x->state = PX_SENDING;
    unsigned status = x->status;
    pthread_mutex_unlock(&x->mu);
    struct MHD_Response *resp = MHD_create_response_from_callback(size, 32 * 1024, content, x,
                                                                  content_done);
    if (!resp) {
        release(x);
        return MHD_NO;
    }
    /* x->rh is complete once head is set and no longer changes. */
    for (size_t i = 0; i < x->rh.len;) {
        const char *k = x->rh.data + i, *val = k + strlen(k) + 1;
        MHD_add_response_header(resp, k, val);
        i = (size_t)(val + strlen(val) + 1 - x->rh.data);
    }
    r->status = status;
    enum MHD_Result ok = MHD_queue_response(r->c, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

enum MHD_Result tm__proxy_request(req *r, const char *upload, size_t *upload_size)
{
    tm_proxy *p = r->s->proxy;
    px_call *x = r->px;
    enum MHD_Result ret;
    const char *rest = NULL;
    if (!x) { /* the headers */
        const upstream *up = resolve(p, r->url, &rest);
        int api = strncmp(r->url, "/anthropic/", 11) == 0 ? API_ANTHROPIC : up ? up->api : API_OPENAI;
        if (!(x = calloc(1, sizeof *x)))
            return MHD_NO;
        pthread_mutex_init(&x->mu, NULL);
        x->refs = 1; /* the request's */
        x->p = p;
        x->r = r;
        x->up = up;
        x->clen = -1;
        x->start_us = r->start_us;
        x->body.max = r->body.max;
        r->px = x;
        if (!up)
            return reply_error(r, api, 404, "unknown_upstream", 0,
                               "no upstream for %.200s (configure \"upstreams\"; see docs/proxy.md)",
                               r->url);
        if (authorize(r, api, &ret))
            return ret;
        const char *cl = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > x->body.max)
            return reply_error(r, api, 413, "body_too_large", 0,
                               "body: larger than the limit of %zu bytes", x->body.max);
        return MHD_YES;
    }
    if (r->status && x->state != PX_SENDING) { /* answered early: drop the rest */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (tm__buf_add(&x->body, upload, *upload_size) != TM_OK)
            r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (x->state == PX_BODY) {
        if (r->too_big)
            return reply_error(r, x->up->api, 413, "body_too_large", 0,
                               "body: larger than the limit of %zu bytes", x->body.max);
        resolve(p, r->url, &rest);
        return begin(r, x, rest);
    }
    if (x->state == PX_WAIT) {
        pthread_mutex_lock(&x->mu);
        int ready = x->head || x->done;
        if (!ready) { /* woken early: wait again */
            x->suspended = 1;
            MHD_suspend_connection(r->c);
        }
        pthread_mutex_unlock(&x->mu);
        return ready ? respond(r, x) : MHD_YES;
    }
    return MHD_YES;
}

void tm__proxy_completed(req *r)
{
    px_call *x = r->px;
    tm_proxy *p = x->p;
    pthread_mutex_lock(&x->mu);
    x->r = NULL;
    int cancel = x->state != PX_BODY && !x->done && !x->cancel_queued;
    if (cancel)
        x->cancel_queued = 1, x->refs++;
    pthread_mutex_unlock(&x->mu);
    if (cancel) {
        pthread_mutex_lock(&p->mu);
        x->next_cancel = p->cancels;
        p->cancels = x;
        pthread_mutex_unlock(&p->mu);
        nudge(p);
    }
    r->px = NULL;
    release(x);
}

/* ---- the answer: headers ---- */

static size_t on_header(char *d, size_t sz, size_t n, void *cls)
{
    px_call *x = cls;
    size_t len = sz * n, k = len;
    if (x->head) /* trailers: the response's headers have gone already */
        return len;
    while (k && (d[k - 1] == '\n' || d[k - 1] == '\r'))
        k--;
    if (k >= 5 && strncmp(d, "HTTP/", 5) == 0) { /* a status line: a new head */
        const char *sp = memchr(d, ' ', k);
        x->status = sp ? (unsigned)strtoul(sp + 1, NULL, 10) : 502;
        tm__buf_reset(&x->rh);
        x->clen = -1;
        return len;
    }
    if (k == 0) { /* the end of a head */
        if (x->status < 200)
            return len;
        pthread_mutex_lock(&x->mu);
        x->head = 1;
        pthread_mutex_unlock(&x->mu);
        wake_later(x);
        return len;
    }
    const char *colon = memchr(d, ':', k);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - d);
    const char *v = colon + 1;
    while (v < d + k && (*v == ' ' || *v == '\t'))
        v++;
    size_t vl = (size_t)(d + k - v);
    char name[64];
    if (nl >= sizeof name)
        return len;
    copy(name, sizeof name, d, nl);
    static const char *const skip[] = {"Connection", "Keep-Alive", "Transfer-Encoding",
                                       "Content-Length", "Date", "Proxy-Connection", "Upgrade"};
    if (strcasecmp(name, "Content-Length") == 0)
        x->clen = strtoll(v, NULL, 10);
    if (strcasecmp(name, "Content-Type") == 0)
        x->sse = vl >= 17 && strncasecmp(v, "text/event-stream", 17) == 0;
    if (strcasecmp(name, "x-request-id") == 0 || strcasecmp(name, "request-id") == 0)
        copy(x->rid, sizeof x->rid, v, vl);
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return len;
    tm__buf_add(&x->rh, name, nl + 1);
    tm__buf_add(&x->rh, v, vl);
    tm__buf_putc(&x->rh, '\0');
    return len;
}

/* ---- the answer: the body, and the usage in it ---- */

/* Keeps the first model and id seen, the last usage object, an error type. */
static void note_json(px_call *x, const tm_jv *v)
{
    const tm_jv *f, *src = v, *type = tm__json_get(v, "type");
    const tm_jv *resp = tm__json_get(v, "response"), *msg = tm__json_get(v, "message");
    if (resp && resp->type == TM_J_OBJECT)
        src = resp; /* OpenAI Responses stream events */
    else if (msg && msg->type == TM_J_OBJECT && tm__json_get(msg, "usage"))
        src = msg;  /* Anthropic message_start */
    if (!x->model[0] && (f = tm__json_get(src, "model")) && f->type == TM_J_STRING)
        copy(x->model, sizeof x->model, f->s, f->n);
    if (!x->body_id[0] && (f = tm__json_get(src, "id")) && f->type == TM_J_STRING)
        copy(x->body_id, sizeof x->body_id, f->s, f->n);
    if ((f = tm__json_get(src, "usage")) && f->type == TM_J_OBJECT) {
        int start = type && type->type == TM_J_STRING && strcmp(type->s, "message_start") == 0;
        tm_buf *dst = start ? &x->usage_start : &x->usage;
        tm__buf_reset(dst);
        tm__json_write(dst, f);
    }
    const tm_jv *err = tm__json_get(src, "error");
    if (!err && type && type->type == TM_J_STRING && strcmp(type->s, "error") == 0)
        err = v; /* a Responses API stream's error event: {"type": "error", "code": ...} */
    if (err && err->type == TM_J_OBJECT) {
        if (err == v || !((f = tm__json_get(err, "type")) && f->type == TM_J_STRING))
            f = tm__json_get(err, "code");
        if (f && f->type == TM_J_STRING)
            copy(x->err_type, sizeof x->err_type, f->s, f->n);
        else
            copy(x->err_type, sizeof x->err_type, "error", 5);
    }
}

/* In s[0..n) (one JSON object), where the top-level member `"usage":null`
 * lies, with one comma beside it: [*from, *to). 0 if absent. */
static int null_usage_span(const char *s, size_t n, size_t *from, size_t *to)
{
    int depth = 0;
    size_t last_comma = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t start = i++;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (depth != 1 || i >= n || i - start != 6 || memcmp(s + start, "\"usage", 6))
                continue;
            size_t j = i + 1;
            while (j < n && strchr(" \t\r\n", s[j]))
                j++;
            if (j >= n || s[j] != ':')
                continue;
            for (j++; j < n && strchr(" \t\r\n", s[j]); j++)
                ;
            if (j + 4 > n || memcmp(s + j, "null", 4))
                return 0;
            j += 4;
            if (last_comma != (size_t)-1) {
                *from = last_comma;
                *to = j;
                return 1;
            }
            while (j < n && strchr(" \t\r\n", s[j]))
                j++;
            *from = start;
            *to = j < n && s[j] == ',' ? j + 1 : j;
            return 1;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        else if (c == ',' && depth == 1)
            last_comma = i;
    }
    return 0;
}

/* One whole SSE event (its lines and the blank line) e[0..n): note what it
 * says and append what the client should see to x->fw. */
static void sse_event(px_call *x, const char *e, size_t n)
{
    const char *data = NULL;
    size_t dl = 0;
    int ndata = 0;
    for (size_t i = 0; i < n;) {
        const char *line = e + i, *nl = memchr(line, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - line) : n - i;
        if (ll >= 5 && memcmp(line, "data:", 5) == 0) {
            data = line + 5 + (ll > 5 && line[5] == ' ');
            dl = (size_t)(line + ll - data);
            if (dl && data[dl - 1] == '\r')
                dl--;
            ndata++;
        }
        i += ll + 1;
    }
    if (ndata != 1 || dl == 0 || data[0] != '{') {
        tm__buf_add(&x->fw, e, n);
        return;
    }
    tm__arena_reset(&x->tmp);
    tm_jv *v = NULL;
    char jerr[8];
    if (tm__json_parse(&x->tmp, data, dl, &v, jerr, sizeof jerr) != TM_OK || v->type != TM_J_OBJECT) {
        tm__buf_add(&x->fw, e, n);
        return;
    }
    note_json(x, v);
    if (x->strip) {
        const tm_jv *u = tm__json_get(v, "usage"), *ch = tm__json_get(v, "choices");
        size_t from, to;
        if (u && u->type == TM_J_OBJECT && ch && ch->type == TM_J_ARRAY && ch->n == 0)
            return; /* the chunk that answers include_usage: the client did not ask */
        if (u && u->type == TM_J_NULL && null_usage_span(data, dl, &from, &to)) {
            size_t off = (size_t)(data - e);
            tm__buf_add(&x->fw, e, off + from);
            tm__buf_add(&x->fw, data + to, n - off - to);
            return;
        }
    }
    tm__buf_add(&x->fw, e, n);
}

/* Where the first SSE event in s[0..n) ends (after its blank line), or 0. */
static size_t event_end(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\n')
            continue;
        if (s[i + 1] == '\n')
            return i + 2;
        if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static size_t on_body(char *d, size_t sz, size_t n, void *cls)
{
    px_call *x = cls;
    size_t len = sz * n;
    pthread_mutex_lock(&x->mu);
    if (x->out.len - x->out_off >= OUT_HIGH) { /* the client is slow: wait for it */
        x->paused = 1;
        pthread_mutex_unlock(&x->mu);
        return CURL_WRITEFUNC_PAUSE;
    }
    pthread_mutex_unlock(&x->mu);
    if (!x->first_us)
        x->first_us = tm__now_us();
    tm__buf_reset(&x->fw);
    if (x->sse) {
        tm__buf_add(&x->acc, d, len);
        size_t used = 0, end;
        while ((end = event_end(x->acc.data + used, x->acc.len - used))) {
            sse_event(x, x->acc.data + used, end);
            used += end;
        }
        if (used) {
            memmove(x->acc.data, x->acc.data + used, x->acc.len - used);
            x->acc.len -= used;
            x->acc.data[x->acc.len] = '\0';
        }
    } else {
        if (!x->noscan && x->acc.len + len <= SCAN_MAX)
            tm__buf_add(&x->acc, d, len);
        else
            x->noscan = 1; /* too large to scan: the usage is not recorded */
        tm__buf_add(&x->fw, d, len);
    }
    if (x->fw.len) {
        pthread_mutex_lock(&x->mu);
        tm__buf_add(&x->out, x->fw.data, x->fw.len);
        pthread_mutex_unlock(&x->mu);
        wake_later(x);
    }
    return len;
}

/* ---- the event ---- */

/* a's members, each replaced by b's of the same name, then b's others. */
static tm_jv *merge(tm_arena *a, const tm_jv *x, const tm_jv *y)
{
    tm_jv *m = tm__arena_alloc(a, sizeof *m);
    size_t cap = x->n + y->n;
    if (!m || !cap)
        return (tm_jv *)y;
    *m = (tm_jv){TM_J_OBJECT, NULL, 0, tm__arena_alloc(a, cap * sizeof(char *)),
                 tm__arena_alloc(a, cap * sizeof(size_t)), tm__arena_alloc(a, cap * sizeof(tm_jv *))};
    if (!m->keys || !m->klens || !m->vals)
        return (tm_jv *)y;
    for (size_t i = 0; i < x->n; i++) {
        const tm_jv *o = tm__json_get(y, x->keys[i]);
        m->keys[m->n] = x->keys[i], m->klens[m->n] = x->klens[i];
        m->vals[m->n++] = o ? (tm_jv *)o : x->vals[i];
    }
    for (size_t i = 0; i < y->n; i++)
        if (!tm__json_get(x, y->keys[i]))
            m->keys[m->n] = y->keys[i], m->klens[m->n] = y->klens[i], m->vals[m->n++] = y->vals[i];
    return m;
}

static const tm_jv *parse_text(tm_arena *a, const tm_buf *b)
{
    tm_jv *v = NULL;
    char jerr[8];
    if (!b->len || tm__json_parse(a, b->data, b->len, &v, jerr, sizeof jerr) != TM_OK ||
        v->type != TM_J_OBJECT)
        return NULL;
    return v;
}

/* Records the call (the thread, once, when the transfer is over). how:
 * C_OK, C_ERROR (the upstream said no), C_UNREACHABLE, C_CUT, C_CLOSED. */
static void record(px_call *x, int how)
{
    tm_proxy *p = x->p;
    srv *s = p->s;
    tm_arena a = TM_ARENA_INIT;
    tm_event_builder b;
    char err[600] = "";
    tm_buf meta = TM_BUF_INIT;
    tm__event_builder_init(&b, &a);
    if (!x->sse && x->acc.len && !x->noscan) { /* the JSON answer */
        const tm_jv *v = parse_text(&x->tmp, &x->acc);
        if (v)
            note_json(x, v);
    }
    const tm_jv *u = parse_text(&a, &x->usage), *u0 = parse_text(&a, &x->usage_start);
    if (u0)
        u = u ? merge(&a, u0, u) : u0;
    if (u) {
        const char *k = "usage";
        size_t kl = 5;
        tm_jv *vals[1] = {(tm_jv *)u};
        tm_jv o = {TM_J_OBJECT, NULL, 1, &k, &kl, vals};
        if (tm__event_from_json(&b, &o) != TM_OK) {
            const char *kv[] = {"upstream", x->up->name, "error", b.err, NULL};
            tm__log(s, 2, "proxy: the upstream's usage was not recorded", kv);
        }
    }
    tm_event *ev = &b.ev;
    /* The upstream's request id (a response id like "chatcmpl-123" need not
     * be unique: some servers count from 1, and a duplicate id is dropped). */
    ev->id = x->rid[0] ? x->rid : NULL;
    ev->provider = x->up->provider;
    ev->model = x->model[0] ? x->model : x->req_model[0] ? x->req_model : NULL;
    ev->endpoint = x->endpoint;
    ev->user_id = x->user[0] ? x->user : NULL;
    ev->project = x->project[0] ? x->project : NULL;
    ev->operation = x->operation[0] ? x->operation : NULL;
    ev->latency_ns = (x->end_us - x->start_us) * 1000;
    ev->status_code = (int)x->status;
    ev->has |= TM_HAS_LATENCY | TM_HAS_STATUS | TM_HAS_SUCCESS;
    ev->success = how == C_OK;
    if (how == C_ERROR)
        snprintf(err, sizeof err, "upstream %u: %s", x->status, x->err_type[0] ? x->err_type : "error");
    else if (how == C_UNREACHABLE)
        snprintf(err, sizeof err, "upstream unreachable: %s", x->cerr[0] ? x->cerr : "no answer");
    else if (how == C_CUT)
        snprintf(err, sizeof err, "upstream stream cut: %s", x->cerr[0] ? x->cerr : "stopped");
    else if (how == C_CLOSED)
        snprintf(err, sizeof err, "client closed the connection");
    if (how == C_OK && x->err_type[0]) { /* an error event inside a 200 stream */
        ev->success = 0;
        snprintf(err, sizeof err, "upstream error event: %s", x->err_type);
    }
    ev->error = err[0] ? err : NULL;
    tm__buf_puts(&meta, "{\"proxy\":");
    tm__json_str(&meta, x->up->name, strlen(x->up->name));
    tm__buf_printf(&meta, ",\"stream\":%s", x->sse ? "true" : "false");
    if (x->first_us)
        tm__buf_printf(&meta, ",\"ttft_ms\":%lld.%03lld", (long long)(x->first_us - x->start_us) / 1000,
                       (long long)(x->first_us - x->start_us) % 1000);
    if (x->body_id[0]) {
        tm__buf_puts(&meta, ",\"response_id\":");
        tm__json_str(&meta, x->body_id, strlen(x->body_id));
    }
    tm__buf_putc(&meta, '}');
    ev->metadata = meta.data;
    if (tm_track(s->t, ev) != TM_OK) {
        const char *kv[] = {"upstream", x->up->name, "error", tm_errmsg(), NULL};
        tm__log(s, 3, "proxy: the call's event was not recorded", kv);
    } else {
        tm__alerts_nudge(s);
    }
    count(p, how);
    tm__buf_free(&meta);
    tm__arena_free(&a);
}

/* The transfer is over (or abandoned): flush, record, wake the request. */
static void finish(px_call *x, CURLcode rc, int closed)
{
    tm_proxy *p = x->p;
    int how;
    if (x->live_prev || p->live == x) { /* out of the live list */
        if (x->live_prev)
            x->live_prev->live_next = x->live_next;
        else
            p->live = x->live_next;
        if (x->live_next)
            x->live_next->live_prev = x->live_prev;
        x->live_prev = x->live_next = NULL;
    }
    x->end_us = tm__now_us();
    tm__buf_reset(&x->fw);
    if (x->sse && x->acc.len) /* a partial event at a cut: the client gets it as sent */
        tm__buf_add(&x->fw, x->acc.data, x->acc.len);
    pthread_mutex_lock(&x->mu);
    if (x->fw.len)
        tm__buf_add(&x->out, x->fw.data, x->fw.len);
    if (closed) {
        how = C_CLOSED;
    } else if (!x->head) {
        how = C_UNREACHABLE;
        x->status = rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
        tm__buf_reset(&x->rh);
        tm__buf_add(&x->rh, "Content-Type\0application/json", 30);
        tm__buf_reset(&x->out);
        char msg[1200];
        snprintf(msg, sizeof msg, "tokmeter: upstream %s (%s) did not answer: %s", x->up->name,
                 x->up->base, x->cerr[0] ? x->cerr : curl_easy_strerror(rc));
        error_body(&x->out, x->up->api, x->status, "bad_gateway", msg);
        x->head = 1;
    } else if (rc != CURLE_OK) {
        how = C_CUT;
        x->cut = 1;
    } else {
        how = x->status >= 400 ? C_ERROR : C_OK;
    }
    pthread_mutex_unlock(&x->mu);
    record(x, how);
    pthread_mutex_lock(&x->mu);
    x->done = 1;
    pthread_mutex_unlock(&x->mu);
    wake_later(x);
    pthread_mutex_lock(&p->mu);
    p->active--;
    pthread_mutex_unlock(&p->mu);
    release(x); /* the thread's */
}

/* Everything curl finished, then the wakes this pass queued. */
static void after_pass(tm_proxy *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        px_call *x = NULL;
        CURLcode rc = m->data.result;
        CURL *e = m->easy_handle;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(p->multi, e);
        finish(x, rc, 0);
    }
    while (p->wakes) {
        px_call *x = p->wakes;
        p->wakes = x->next_wake;
        x->wake_queued = 0;
        pthread_mutex_lock(&x->mu);
        wake_request(x);
        pthread_mutex_unlock(&x->mu);
        release(x);
    }
}

static void *run(void *arg)
{
    tm_proxy *p = arg;
    int running = 0, stopping = 0;
    struct epoll_event evs[64];
    pthread_setname_np(pthread_self(), "tm-proxy");
    for (;;) {
        pthread_mutex_lock(&p->mu);
        px_call *add = p->added, *cancel = p->cancels, *unpause = p->unpauses;
        p->added = p->cancels = p->unpauses = NULL;
        stopping = p->stop == 2;
        pthread_mutex_unlock(&p->mu);
        for (px_call *x = add, *nx; x; x = nx) {
            nx = x->next_add;
            if (curl_multi_add_handle(p->multi, x->e) != CURLM_OK) {
                snprintf(x->cerr, sizeof x->cerr, "cannot start the transfer");
                finish(x, CURLE_FAILED_INIT, 0);
                continue;
            }
            x->live_prev = NULL;
            x->live_next = p->live;
            if (p->live)
                p->live->live_prev = x;
            p->live = x;
        }
        for (px_call *x = unpause, *nx; x; x = nx) {
            nx = x->next_unpause;
            pthread_mutex_lock(&x->mu);
            int go = !x->done && x->paused;
            x->paused = 0;
            x->unpause_queued = 0;
            pthread_mutex_unlock(&x->mu);
            if (go)
                curl_easy_pause(x->e, CURLPAUSE_CONT);
            release(x);
        }
        for (px_call *x = cancel, *nx; x; x = nx) {
            nx = x->next_cancel;
            if (!x->done) {
                curl_multi_remove_handle(p->multi, x->e);
                finish(x, CURLE_ABORTED_BY_CALLBACK, 1);
            }
            release(x);
        }
        if (stopping) { /* end whatever is left: the daemon is going down */
            while (p->live) {
                px_call *x = p->live;
                curl_multi_remove_handle(p->multi, x->e);
                snprintf(x->cerr, sizeof x->cerr, "the daemon is stopping");
                finish(x, CURLE_ABORTED_BY_CALLBACK, 0);
            }
            after_pass(p);
            break;
        }
        after_pass(p); /* the wakes of adds that failed and of cancels */
        int64_t wait_ms = p->deadline_us < 0 ? 1000 : (p->deadline_us - tm__now_us() + 999) / 1000;
        int n = wait_ms <= 0 ? 0 : epoll_wait(p->ep, evs, 64, wait_ms > 1000 ? 1000 : (int)wait_ms);
        if (p->deadline_us >= 0 && tm__now_us() >= p->deadline_us) {
            p->deadline_us = -1; /* a one-shot timer: curl sets it again if it wants */
            curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == p->evfd) {
                uint64_t v;
                if (read(p->evfd, &v, sizeof v) < 0) { /* drained by another read: fine */
                }
                continue;
            }
            int what = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(p->multi, evs[i].data.fd, what, &running);
        }
        after_pass(p);
    }
    return NULL;
}
