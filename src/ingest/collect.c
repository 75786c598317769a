/*
 * collect.c — provider usage collectors (OpenAI and Anthropic organisation
 * usage APIs) and the reported costs that `tokmeter reconcile` compares.
 *
 * A usage bucket (start, width, group keys) becomes one event with the id
 * "src:<source>:<start>:<model>:<project>", value = the bucket's request
 * count (OpenAI; Anthropic's report has none) and its exact token counts,
 * so collecting the same window again never counts twice, and a bucket
 * that was still open grows into the closed one (the larger copy wins).
 *
 * Errors, per source: 401/403 say the key was rejected and how to
 * reconfigure; 429 waits (Retry-After, else exponential backoff with
 * jitter) and tries again, a bounded number of times; other 4xx, 5xx,
 * network errors and timeouts end that source with a message. The caller
 * goes on with the next source.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/event.h"
#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "ingest_int.h"

#define US_PER_DAY (86400LL * 1000000)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srand((unsigned)time(NULL) ^ (unsigned)getpid()); /* backoff jitter */
}

typedef struct http_res {
    long status;
    tm_buf body;
    double retry_after;         /* seconds from Retry-After, or -1 */
} http_res;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    tm_buf *b = arg;
    return b->len + size * n > (64u << 20) || tm__buf_add(b, p, size * n) ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    http_res *r = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[64];
        snprintf(v, sizeof v, "%.*s", (int)(len - 12 < 63 ? len - 12 : 63), p + 12);
        char *end;
        double s = strtod(v, &end);
        if (end != v && s >= 0)
            r->retry_after = s;
    }
    return len;
}

static void logf_(const tm_collect_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const tm_collect_opts *o, const char *fmt, ...)
{
    if (!o->log)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_arg, line);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* GET url with the source's auth headers, retrying 429s. On an answer
 * that is not 200, r->status says which; TM_EIO with a message for
 * network errors and timeouts. */
static int get(const tm_source *src, const char *key, const tm_collect_opts *o, const char *url,
               http_res *r)
{
    pthread_once(&curl_once, curl_init);
    int tries = o->max_tries > 0 ? o->max_tries : 5;
    double delay = o->base_delay_s > 0 ? o->base_delay_s : 1.0;
    char auth[700], ver[] = "anthropic-version: 2023-06-01";
    if (src->type == TM_SRC_ANTHROPIC)
        snprintf(auth, sizeof auth, "x-api-key: %s", key);
    else
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    for (int attempt = 1;; attempt++) {
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        char cerr[CURL_ERROR_SIZE] = "";
        if (!c)
            return TM_ENOMEM;
        h = curl_slist_append(h, auth);
        if (src->type == TM_SRC_ANTHROPIC)
            h = curl_slist_append(h, ver);
        h = curl_slist_append(h, "Accept: application/json");
        tm__buf_reset(&r->body);
        r->status = 0;
        r->retry_after = -1;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)((o->timeout_s > 0 ? o->timeout_s : 30) * 1000));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "tokmeter/" TM_VERSION);
        CURLcode cc = curl_easy_perform(c);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cc != CURLE_OK)
            return tm__fail(TM_EIO, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        if (r->status != 429 || attempt >= tries)
            return TM_OK;
        /* Rate limited: wait as told, else back off exponentially with
         * jitter (50-100% of the step). */
        double wait = r->retry_after >= 0 ? r->retry_after
                                          : delay * (0.5 + 0.5 * ((double)rand() / RAND_MAX));
        if (wait > 120)
            wait = 120;
        logf_(o, "%s: rate limited (429), waiting %.1f s before try %d of %d", src->name, wait,
              attempt + 1, tries);
        sleep_s(wait);
        delay *= 2;
    }
}

/* The error message for a status that is not 200. */
static void status_message(const tm_source *src, const http_res *r, tm_collect_result *res)
{
    char snippet[160];
    snprintf(snippet, sizeof snippet, "%.150s", r->body.data ? r->body.data : "");
    for (char *p = snippet; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (r->status == 401 || r->status == 403) {
        res->auth_failed = 1;
        snprintf(res->message, sizeof res->message,
                 "the key in $%s was rejected (%ld): check that it is an admin key for this "
                 "organisation, or reconfigure with `tokmeter sources remove %s` and `tokmeter "
                 "sources add %s --type %s --key-env VAR`",
                 src->key_env, r->status, src->name, src->name, tm__src_name(src->type));
    } else if (r->status == 429) {
        res->server_failed = 1;
        snprintf(res->message, sizeof res->message,
                 "still rate limited (429) after every retry; try again later");
    } else {
        res->server_failed = r->status >= 500;
        snprintf(res->message, sizeof res->message, "the API answered %ld%s%s", r->status,
                 snippet[0] ? ": " : "", snippet);
    }
}

static const char *default_base(int type)
{
    return type == TM_SRC_ANTHROPIC ? "https://api.anthropic.com" : "https://api.openai.com";
}

static void iso(int64_t us, char out[32])
{
    tm__time_format(us - us % 1000000, out); /* whole seconds */
    char *dot = strchr(out, '.');
    if (dot)
        strcpy(dot, "Z");
}

/* The URL of one of a provider's reports over [from, to): path, the window
 * in the provider's form (OpenAI: unix seconds; Anthropic: RFC 3339), then
 * the rest of the query. */
static int report_url(tm_buf *url, const tm_source *src, const char *path, int64_t from,
                      int64_t to, const char *rest)
{
    const char *base = src->base_url[0] ? src->base_url : default_base(src->type);
    if (src->type == TM_SRC_OPENAI)
        return tm__buf_printf(url, "%s%s?start_time=%lld&end_time=%lld&%s", base, path,
                              (long long)(from / 1000000), (long long)(to / 1000000), rest);
    char a[32], b[32];
    iso(from, a);
    iso(to, b);
    return tm__buf_printf(url, "%s%s?starting_at=%s&ending_at=%s&%s", base, path, a, b, rest);
}

/* One page of a paginated report; *next gets the next cursor or "". */
typedef struct page_ctx {
    tm *t;
    const tm_source *src;
    const tm_collect_opts *o;
    tm_collect_result *res;
    tm_arena arena;
    tm_batch *batch;            /* 512 events a submission, one in flight   */
    tm_tally tally;             /* the batch counts into res                */
} page_ctx;

static int add_bucket(page_ctx *x, tm_event *ev, const char *model, const char *group,
                      int64_t start_us)
{
    char err[256], *id = tm__arena_alloc(&x->arena, 300);
    if (!id)
        return TM_ENOMEM;
    snprintf(id, 300, "src:%s:%lld:%.100s:%.60s", x->src->name, (long long)(start_us / 1000000),
             model ? model : "", group ? group : "");
    ev->id = id;
    ev->ts_us = start_us;
    ev->has |= TM_HAS_TS | TM_HAS_TOKENS;
    ev->model = model;
    ev->project = group;
    ev->operation = tm__src_name(x->src->type);
    ev->resource_type = "source"; /* a bucket: see tm__event_is_bucket */
    ev->resource_id = x->src->name;
    int rc = tm__admit_import(x->t, ev, tm__now_us(), err, sizeof err);
    if (rc == TM_EINVAL) { /* the provider sent something odd: count it, go on */
        if (!x->res->rejected++)
            snprintf(x->res->first_reject, sizeof x->res->first_reject, "%s", err);
        return TM_OK;
    }
    if (rc)
        return rc;
    x->res->buckets++;
    x->res->tokens += ev->total_tokens;
    x->res->cost += ev->cost_pusd;
    tm_event *c = tm__event_clone(ev);
    if (!c)
        return TM_ENOMEM;
    return tm__batch_add(x->batch, c, 0);
}

static int num(const tm_jv *o, const char *key, int64_t *out)
{
    const tm_jv *v = tm__json_get(o, key);
    *out = 0;
    return !v || v->type == TM_J_NULL ? 0 : tm__jint(v, out);
}

static int openai_result(page_ctx *x, const tm_jv *r, int64_t start_us)
{
    int64_t in, out, cached, reqs;
    if (num(r, "input_tokens", &in) || num(r, "output_tokens", &out) ||
        num(r, "input_cached_tokens", &cached) || num(r, "num_model_requests", &reqs))
        return tm__fail(TM_EINVAL, "a result has a token count that is not a non-negative integer");
    tm_event ev;
    tm_event_init(&ev);
    if (cached > in)
        cached = in;
    ev.provider = "openai";
    ev.input_tokens = in - cached; /* OpenAI's input includes the cached part */
    ev.cache_read_tokens = cached;
    ev.output_tokens = out;
    ev.value_nano = reqs * 1000000000LL;
    ev.has |= TM_HAS_VALUE;
    ev.user_id = tm__jstr(tm__json_get(r, "user_id"));
    return add_bucket(x, &ev, tm__jstr(tm__json_get(r, "model")),
                      tm__jstr(tm__json_get(r, "project_id")), start_us);
}

static int anthropic_result(page_ctx *x, const tm_jv *r, int64_t start_us)
{
    int64_t in, out, cr, c5 = 0, c1 = 0;
    const tm_jv *cc = tm__json_get(r, "cache_creation");
    if (num(r, "uncached_input_tokens", &in) || num(r, "output_tokens", &out) ||
        num(r, "cache_read_input_tokens", &cr) || (cc && (num(cc, "ephemeral_5m_input_tokens", &c5) ||
                                                          num(cc, "ephemeral_1h_input_tokens", &c1))))
        return tm__fail(TM_EINVAL, "a result has a token count that is not a non-negative integer");
    tm_event ev;
    tm_event_init(&ev);
    ev.provider = "anthropic";
    ev.input_tokens = in;
    ev.output_tokens = out;
    ev.cache_read_tokens = cr;
    ev.cache_write_tokens = c5 + c1;
    ev.cache_write_1h_tokens = c1;
    return add_bucket(x, &ev, tm__jstr(tm__json_get(r, "model")),
                      tm__jstr(tm__json_get(r, "workspace_id")), start_us);
}

/* A bucket's start: unix seconds (OpenAI) or RFC 3339 (Anthropic). */
static int bucket_start(const tm_jv *b, int64_t *us)
{
    const tm_jv *v = tm__json_get(b, "start_time");
    int64_t s;
    const char *why, *t = tm__jstr(tm__json_get(b, "starting_at"));
    if (v && tm__jint(v, &s) == 0) {
        *us = s * 1000000;
        return 0;
    }
    return t && tm__time_parse(t, strlen(t), us, &why) == 0 ? 0 : -1;
}

/* Walks every page of url_base (&page=CURSOR appended), calling fn on each
 * bucket's results. */
typedef int (*result_fn)(void *arg, const tm_jv *result, int64_t start_us);

static int paginate(const tm_source *src, const char *key, const tm_collect_opts *o,
                    const char *url_base, result_fn fn, void *arg, tm_collect_result *res)
{
    http_res r = {0, TM_BUF_INIT, -1};
    tm_buf url = TM_BUF_INIT;
    char cursor[512] = "";
    int rc = TM_OK;
    for (int page = 0; page < 10000; page++) {
        tm__buf_reset(&url);
        if ((rc = tm__buf_puts(&url, url_base)))
            break;
        if (cursor[0]) {
            char *esc = curl_easy_escape(NULL, cursor, 0);
            rc = esc ? tm__buf_printf(&url, "&page=%s", esc) : TM_ENOMEM;
            curl_free(esc);
            if (rc)
                break;
        }
        if ((rc = get(src, key, o, url.data, &r))) {
            res->net_failed = 1;
            snprintf(res->message, sizeof res->message, "could not reach %s: %s",
                     src->base_url[0] ? src->base_url : default_base(src->type), tm_errmsg());
            break;
        }
        if (r.status != 200) {
            status_message(src, &r, res);
            rc = TM_EIO;
            break;
        }
        tm_arena a = {0};
        tm_jv *doc;
        char err[200];
        if (tm__json_parse(&a, r.body.data ? r.body.data : "", r.body.len, &doc, err, sizeof err) ||
            doc->type != TM_J_OBJECT) {
            snprintf(res->message, sizeof res->message, "the API answered something that is not a "
                                                        "JSON object: %s", err);
            res->server_failed = 1;
            tm__arena_free(&a);
            rc = TM_EIO;
            break;
        }
        const tm_jv *data = tm__json_get(doc, "data");
        for (size_t i = 0; data && data->type == TM_J_ARRAY && i < data->n && rc == TM_OK; i++) {
            const tm_jv *b = data->vals[i], *results = tm__json_get(b, "results");
            int64_t start;
            if (bucket_start(b, &start) != 0) {
                rc = tm__fail(TM_EINVAL, "a bucket has no start_time or starting_at");
                break;
            }
            for (size_t j = 0; results && results->type == TM_J_ARRAY && j < results->n && rc == TM_OK; j++)
                rc = fn(arg, results->vals[j], start);
        }
        const tm_jv *more = tm__json_get(doc, "has_more");
        const char *next = tm__jstr(tm__json_get(doc, "next_page"));
        int go = more && more->type == TM_J_TRUE && next && *next;
        if (go)
            snprintf(cursor, sizeof cursor, "%s", next);
        tm__arena_free(&a);
        if (rc) {
            if (rc == TM_EINVAL)
                snprintf(res->message, sizeof res->message, "the API's answer was not understood: %s",
                         tm_errmsg());
            res->server_failed = 1;
            break;
        }
        if (!go)
            break;
    }
    tm__buf_free(&url);
    tm__buf_free(&r.body);
    return rc;
}

static int usage_cb(void *arg, const tm_jv *r, int64_t start_us)
{
    page_ctx *x = arg;
    return x->src->type == TM_SRC_ANTHROPIC ? anthropic_result(x, r, start_us)
                                            : openai_result(x, r, start_us);
}

static void window(const tm_collect_opts *o, int64_t *from, int64_t *to)
{
    int64_t now = tm__now_us();
    *to = o->until_us ? o->until_us : now;
    *from = o->since_us ? o->since_us : *to - 30 * US_PER_DAY;
    int64_t w = (o->bucket_width_hours == 1 ? 3600LL : 86400LL) * 1000000;
    *from -= ((*from % w) + w) % w; /* buckets start on the width */
}

/* The key from the environment, or a message saying which variable. */
static const char *key_of(const tm_source *src, tm_collect_result *res)
{
    const char *k = src->key_env[0] ? getenv(src->key_env) : NULL;
    if (!k || !*k) {
        res->auth_failed = 1;
        snprintf(res->message, sizeof res->message,
                 "no key: $%s is not set (export it with an admin key, or point the source at "
                 "another variable with `tokmeter sources add %s --type %s --key-env VAR`)",
                 src->key_env[0] ? src->key_env : "(none)", src->name, tm__src_name(src->type));
    }
    return k && *k ? k : NULL;
}

static int collect_api(tm *t, const tm_source *src, const tm_collect_opts *o, tm_collect_result *res)
{
    const char *key = key_of(src, res);
    if (!key)
        return TM_OK;
    int64_t from, to;
    window(o, &from, &to);
    int openai = src->type == TM_SRC_OPENAI, hourly = o->bucket_width_hours == 1;
    char rest[128];
    tm_buf url = TM_BUF_INIT;
    snprintf(rest, sizeof rest, "bucket_width=%s&group_by[]=model&group_by[]=%s&limit=%d",
             hourly ? "1h" : "1d", openai ? "project_id" : "workspace_id", hourly ? 168 : 31);
    report_url(&url, src,
               openai ? "/v1/organization/usage/completions" : "/v1/organizations/usage_report/messages",
               from, to, rest);
    page_ctx *x = calloc(1, sizeof *x);
    int rc = url.data && x ? TM_OK : TM_ENOMEM;
    if (rc == TM_OK) {
        *x = (page_ctx){.t = t, .src = src, .o = o, .res = res};
        x->tally = (tm_tally){&res->stored, &res->duplicates, &res->replaced};
        rc = tm__batch_open(t, 512, 1, tm__tally, &x->tally, &x->batch);
        if (rc == TM_OK)
            rc = paginate(src, key, o, url.data, usage_cb, x, res);
        int rc2 = x->batch ? tm__batch_flush(x->batch) : TM_OK; /* what was read before an error is kept */
        if (rc == TM_OK)
            rc = rc2;
        tm__batch_free(x->batch);
        tm__arena_free(&x->arena);
    }
    free(x);
    tm__buf_free(&url);
    if (rc == TM_OK)
        res->ok = 1;
    return res->message[0] ? TM_OK : rc; /* a source's failure is in res */
}

int tm__collect(tm *t, const tm_source *src, const tm_collect_opts *o, tm_collect_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->source, sizeof r->source, "%s", src->name);
    if (src->type == TM_SRC_OPENAI || src->type == TM_SRC_ANTHROPIC)
        return collect_api(t, src, o, r);
    /* A local-log source: an import of its directory. */
    const char *paths[1] = {src->path};
    tm_import_opts io = {.type = src->type, .paths = paths, .npaths = src->path[0] ? 1 : 0,
                         .since_us = o->since_us};
    tm_import_stats st;
    int rc = tm__import(t, &io, &st);
    if (rc == TM_ENOTFOUND || rc == TM_EIO) {
        snprintf(r->message, sizeof r->message, "%s", tm_errmsg());
        r->net_failed = 1;
        return TM_OK;
    }
    if (rc)
        return rc;
    r->ok = !st.unreadable; /* the rest was imported; the source still failed */
    if (st.unreadable)
        snprintf(r->message, sizeof r->message, "%lld files or directories not readable, skipped "
                 "(the first: %s); the rest imported", (long long)st.unreadable, st.first_unreadable);
    r->buckets = st.records;
    r->stored = st.stored;
    r->replaced = st.replaced;
    r->duplicates = st.duplicates;
    tm_sums sums;
    if (st.records && (rc = tm__import_span(t, src->type, &st, &sums)) == TM_OK) {
        r->tokens = sums.total;
        r->cost = sums.cost;
    }
    return rc;
}

/* ---- reported costs ---- */

typedef struct cost_ctx {
    int (*fn)(void *, int64_t, const char *, tm_i128);
    void *arg;
    int type;
} cost_ctx;

static int cost_cb(void *arg, const tm_jv *r, int64_t start_us)
{
    cost_ctx *c = arg;
    int64_t v = 0;
    char model[200] = "";
    if (c->type == TM_SRC_OPENAI) { /* amount.value in USD; line_item "MODEL, input" */
        const tm_jv *amt = tm__jpath(r, "amount", "value");
        if (!amt || amt->type != TM_J_NUMBER || tm__dec_parse(amt->s, amt->n, 12, 1, &v) != 0)
            return tm__fail(TM_EINVAL, "a cost result has no amount.value");
        const char *li = tm__jstr(tm__json_get(r, "line_item"));
        if (li) {
            const char *comma = strchr(li, ',');
            snprintf(model, sizeof model, "%.*s", (int)(comma ? comma - li : (long)strlen(li)), li);
        }
    } else { /* amount: a decimal string in cents */
        const char *amt = tm__jstr(tm__json_get(r, "amount"));
        if (!amt || tm__dec_parse(amt, strlen(amt), 10, 1, &v) != 0)
            return tm__fail(TM_EINVAL, "a cost result has no amount in cents");
        const char *m = tm__jstr(tm__json_get(r, "model"));
        snprintf(model, sizeof model, "%s", m ? m : "");
    }
    int64_t day = start_us - ((start_us % US_PER_DAY) + US_PER_DAY) % US_PER_DAY;
    return c->fn(c->arg, day, model, v);
}

int tm__provider_costs(const tm_source *src, const tm_collect_opts *o, int64_t from, int64_t to,
                       int (*fn)(void *arg, int64_t day_us, const char *model, tm_i128 cost),
                       void *arg)
{
    tm_collect_result res;
    memset(&res, 0, sizeof res);
    if (src->type != TM_SRC_OPENAI && src->type != TM_SRC_ANTHROPIC)
        return tm__fail(TM_EINVAL, "%s: reconcile needs an openai-usage or anthropic-usage source",
                        src->name);
    const char *key = key_of(src, &res);
    if (!key)
        return tm__fail(TM_EINVAL, "%s: %s", src->name, res.message);
    tm_buf url = TM_BUF_INIT;
    if (src->type == TM_SRC_OPENAI)
        report_url(&url, src, "/v1/organization/costs", from, to,
                   "bucket_width=1d&group_by[]=line_item&limit=180");
    else
        report_url(&url, src, "/v1/organizations/cost_report", from, to,
                   "bucket_width=1d&group_by[]=description&limit=31");
    cost_ctx c = {fn, arg, src->type};
    int rc = url.data ? paginate(src, key, o, url.data, cost_cb, &c, &res) : TM_ENOMEM;
    tm__buf_free(&url);
    if (rc && res.message[0])
        rc = tm__fail(rc == TM_ENOMEM ? rc : TM_EIO, "%s: %s", src->name, res.message);
    return rc;
}
