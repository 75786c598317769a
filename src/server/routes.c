/*
 * routes.c — the daemon's routes (docs/api.md): ingest, the general usage
 * query, per-user usage, the seed guide's /api/usage routes in their
 * {"success": true, "data": ...} envelope, health and Prometheus metrics.
 * Every read runs the query engine (src/query) on the handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "proxy.h"
#include "server_int.h"

/* ---- ingest ---- */

static enum MHD_Result post_events(req *r)
{
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    const char *idem = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Idempotency-Key");
    unsigned flags = ct && strncmp(ct, "application/x-ndjson", 20) == 0 ? TM_JSON_NDJSON : 0;
    if (r->has_key && r->key.user[0])
        return tm__reply_error(r, 403, "forbidden",
                               "this key is bound to user %s: it may only check that user's "
                               "limits (POST /v1/check); storing events needs an unbound key",
                               r->key.user);
    if (r->body.len && memchr(r->body.data, '\0', r->body.len))
        return tm__reply_error(r, 400, "invalid_body", "body: contains a NUL byte");
    if (idem && (!*idem || strlen(idem) > 128))
        return tm__reply_error(r, 400, "invalid_header", "Idempotency-Key: must be 1 to 128 bytes");
    tm_batch_result *res = NULL;
    int rc = tm__track_json(r->s->t, r->body.data ? r->body.data : "", r->body.len, flags, idem,
                            __atomic_load_n(&r->s->cfg.max_events, __ATOMIC_RELAXED), &res);
    if (rc == TM_EINVAL)
        return tm__reply_error(r, 400, "invalid_body", "%s", tm_errmsg());
    if (rc == TM_ETOOBIG)
        return tm__reply_error(r, 413, "too_many_events", "%s", tm_errmsg());
    if (rc)
        return tm__reply_error(r, rc == TM_EBUSY || rc == TM_ECLOSED ? 503 : 500, "store_error",
                               "%s", tm_errmsg());
    if (res->accepted)
        tm__alerts_nudge(r->s);
    __atomic_fetch_add(&r->s->events[0], res->accepted, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[1], res->duplicates, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[2], res->rejected, __ATOMIC_RELAXED);
    r->nevents = res->n;
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":[", res->accepted,
                   res->duplicates);
    size_t k = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->items[i].status != TM_ITEM_REJECTED)
            continue;
        tm__buf_printf(&b, "%s{\"index\":%zu,\"error\":", k++ ? "," : "", res->items[i].index);
        tm__json_str(&b, res->items[i].error, strlen(res->items[i].error));
        tm__buf_putc(&b, '}');
    }
    tm__buf_puts(&b, "]}\n");
    tm_batch_result_free(res);
    enum MHD_Result ok = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ok;
}

/* ---- queries ---- */

typedef struct qargs {
    tm_query_spec *q;
    int rc;
    char bad[160];
} qargs;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    qargs *a = cls;
    (void)kind;
    if (a->rc)
        return MHD_NO;
    if ((a->rc = tm__query_set(a->q, key, value ? value : "")))
        snprintf(a->bad, sizeof a->bad, "%s", tm_errmsg());
    return a->rc ? MHD_NO : MHD_YES;
}

/* Runs q, bounded by limits.max_query_rows, and replies with an error when
 * it fails (returns 1). */
static int run_query(req *r, tm_query_spec *q, tm_qresult **res, enum MHD_Result *ret)
{
    q->max_rows = __atomic_load_n(&r->s->cfg.max_query_rows, __ATOMIC_RELAXED);
    int rc = tm__run_query(r->s->t, q, res);
    if (rc == TM_OK)
        return 0;
    *ret = rc == TM_EINVAL    ? tm__reply_error(r, 400, "invalid_query", "%s", tm_errmsg())
           : rc == TM_ETOOBIG ? tm__reply_error(r, 400, "query_too_expensive", "%s", tm_errmsg())
                              : tm__reply_error(r, 503, "store_error", "%s", tm_errmsg());
    return 1;
}

static enum MHD_Result get_usage(req *r)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    enum MHD_Result ret;
    tm__query_init(&q);
    qargs a = {&q, TM_OK, ""};
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, each_arg, &a);
    if (a.rc) {
        ret = tm__reply_error(r, 400, "invalid_query", "%s", a.bad);
        goto out;
    }
    /* A user-bound key: exactly its own user, nothing wider. */
    if (r->has_key && r->key.user[0] &&
        tm__forbid_user(r, q.nwhere[TM_D_USER] == 1 ? q.where[TM_D_USER][0] : NULL, &ret))
        goto out;
    if (run_query(r, &q, &res, &ret))
        goto out;
    tm_buf b = TM_BUF_INIT;
    tm__qresult_json(res, &b);
    ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
out:
    tm__qresult_free(res);
    tm__query_free(&q);
    return ret;
}

/* "/v1/users/ID/usage" → ID, url-decoded into buf. */
static const char *path_user(const char *url, const char *prefix, const char *suffix, char *buf,
                             size_t cap)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(url);
    if (n <= pl + sl || strncmp(url, prefix, pl) || strcmp(url + n - sl, suffix))
        return NULL;
    size_t k = 0;
    for (size_t i = pl; i < n - sl && k + 1 < cap; i++) {
        if (url[i] == '%' && i + 2 < n - sl) {
            char hex[3] = {url[i + 1], url[i + 2], 0};
            buf[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            buf[k++] = url[i];
        }
    }
    buf[k] = '\0';
    return k ? buf : NULL;
}

static enum MHD_Result user_usage(req *r, const char *user, int envelope)
{
    enum MHD_Result ret;
    if (tm__forbid_user(r, user, &ret))
        return ret;
    tm_buf b = TM_BUF_INIT, out = TM_BUF_INIT;
    tm_user_month u;
    int rc = tm__user_month(r->s->t, user, tm__arg(r, "period"), tm__arg(r, "tz"), &u);
    if (rc == TM_OK) {
        rc = tm__user_month_json(&u, user, &b);
        tm__user_month_free(&u);
    }
    if (rc == TM_EINVAL)
        ret = tm__reply_error(r, 400, "invalid_query", "%s", tm_errmsg());
    else if (rc)
        ret = tm__reply_error(r, 503, "store_error", "%s", tm_errmsg());
    else if (envelope) {
        tm__buf_puts(&out, "{\"success\": true, \"data\": ");
        tm__buf_add(&out, b.data, b.len - 1); /* without its newline */
        tm__buf_puts(&out, "}\n");
        ret = tm__reply(r, 200, &out);
    } else {
        ret = tm__reply(r, 200, &b);
    }
    tm__buf_free(&b);
    tm__buf_free(&out);
    return ret;
}

static enum MHD_Result get_quota_reply(req *r, const char *user)
{
    tm_buf b = TM_BUF_INIT;
    tm_quota q;
    int rc = tm__quota_get(tm__pctx(r->s->t), user, tm__now_us(), &q);
    if (rc == TM_OK) {
        tm__quota_json(&b, user, &q, NULL);
        tm__buf_putc(&b, '\n');
    }
    enum MHD_Result ret = rc ? tm__reply_error(r, 503, "store_error", "%s", tm_errmsg()) : tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}

static enum MHD_Result get_user_quota(req *r)
{
    char user[256];
    enum MHD_Result ret;
    if (!path_user(r->url, "/v1/users/", "/quota", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}/quota");
    if (tm__forbid_user(r, user, &ret))
        return ret;
    return get_quota_reply(r, user);
}

/* PUT /v1/users/{id} {"tier": "pro", "limits": {...}} (admin). */
static enum MHD_Result put_user(req *r)
{
    char user[256], *ov = NULL;
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    enum MHD_Result ret;
    if (!path_user(r->url, "/v1/users/", "", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}");
    if (r->has_key && strcmp(r->key.scope, "admin") != 0)
        return tm__reply_error(r, 403, "forbidden", "only an admin key may set a user's tier");
    if (tm__json_parse(&a, r->body.data ? r->body.data : "", r->body.len, &v, err, sizeof err) ||
        v->type != TM_J_OBJECT) {
        tm__arena_free(&a);
        return tm__reply_error(r, 400, "invalid_body", "body: must be {\"tier\": \"NAME\"}");
    }
    const tm_jv *tier = tm__json_get(v, "tier"), *limits = tm__json_get(v, "limits");
    tm_buf o = TM_BUF_INIT;
    if (limits) {
        tm__buf_puts(&o, "{\"limits\": ");
        tm__json_write(&o, limits);
        tm__buf_putc(&o, '}');
        ov = o.data;
    }
    if (tier && tier->type != TM_J_STRING)
        ret = tm__reply_error(r, 400, "invalid_body", "tier: must be a string");
    else if (tm__user_set(tm__pctx(r->s->t), user, tier ? tier->s : NULL, ov) != TM_OK)
        ret = tm__reply_error(r, 400, "invalid_body", "%s", tm_errmsg());
    else
        ret = get_quota_reply(r, user);
    tm__buf_free(&o);
    tm__arena_free(&a);
    return ret;
}

/* Says once per failure that the shared limiter (Redis) failed and this
 * daemon decides with its local state meanwhile. */
static void redis_log(const srv *s)
{
    static uint64_t seen;
    char last[512];
    uint64_t n = tm__rate_redis_errors(tm__pctx_policy(tm__pctx(s->t)), last, sizeof last);
    if (n > __atomic_exchange_n(&seen, n, __ATOMIC_RELAXED)) {
        const char *kv[] = {"error", last, NULL};
        tm__log(s, 2, "rate limits: Redis failed; local limits meanwhile", kv);
    }
}

/* POST /v1/check — before a call: quota and rate limits. A check debits the
 * rate limiter, so it is a write: ingest and admin keys (a user-bound
 * ingest key for its own user only). */
static enum MHD_Result post_check(req *r)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    enum MHD_Result ret;
    if (tm__json_parse(&a, r->body.data ? r->body.data : "", r->body.len, &v, err, sizeof err) ||
        v->type != TM_J_OBJECT) {
        tm__arena_free(&a);
        return tm__reply_error(r, 400, "invalid_body", "body: must be a JSON object with user_id");
    }
    tm_check_request rq = {0};
    const tm_jv *f;
    if ((f = tm__json_get(v, "user_id")) && f->type == TM_J_STRING) rq.user_id = f->s;
    if ((f = tm__json_get(v, "operation")) && f->type == TM_J_STRING) rq.operation = f->s;
    if ((f = tm__json_get(v, "provider")) && f->type == TM_J_STRING) rq.provider = f->s;
    if ((f = tm__json_get(v, "model")) && f->type == TM_J_STRING) rq.model = f->s;
    int rc = TM_OK;
    uint64_t tok = 0;
    if ((f = tm__json_get(v, "estimated_tokens")) &&
        (f->type != TM_J_NUMBER || tm__uint_parse(f->s, f->n, 1ull << 53, &tok)))
        rc = tm__fail(TM_EINVAL, "estimated_tokens: must be a non-negative integer");
    rq.estimated_tokens = (int64_t)tok;
    if (rc == TM_OK && (f = tm__json_get(v, "estimated_cost_usd")) &&
        ((f->type != TM_J_NUMBER && f->type != TM_J_STRING) ||
         tm__dec_parse(f->s, f->n, 12, 0, &rq.estimated_cost_pusd) != TM_DEC_OK))
        rc = tm__fail(TM_EINVAL, "estimated_cost_usd: must be a non-negative decimal");
    if (rc == TM_OK && tm__forbid_user(r, rq.user_id ? rq.user_id : "", &ret)) {
        tm__arena_free(&a);
        return ret;
    }
    tm_check_result res;
    tm_buf b = TM_BUF_INIT;
    if (rc == TM_OK)
        rc = tm__check(tm__pctx(r->s->t), &rq, &res, &b);
    if (rc == TM_OK && res.soft_exceeded)
        tm__soft_limit_alert(r->s, rq.user_id, res.warning, res.reset_us);
    redis_log(r->s);
    if (rc == TM_EINVAL)
        ret = tm__reply_error(r, 400, "invalid_body", "%s", tm_errmsg());
    else if (rc)
        ret = tm__reply_error(r, 503, "store_error", "%s", tm_errmsg());
    else
        ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    tm__arena_free(&a);
    return ret;
}

static enum MHD_Result get_user_usage(req *r)
{
    char user[256];
    if (!path_user(r->url, "/v1/users/", "/usage", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}/usage");
    return user_usage(r, user, 0);
}

/* ---- the seed guide's routes ---- */

/* Reads ?days= (1..3650, default d) or replies 400 (returns -1). */
static int days_arg(req *r, int d, enum MHD_Result *ret)
{
    const char *v = tm__arg(r, "days");
    if (!v)
        return d;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 3650) {
        *ret = tm__reply_error(r, 400, "invalid_query", "days: must be a whole number from 1 to 3650");
        return -1;
    }
    return (int)n;
}

/* Runs a query over the last `hours` hours with extra parameters. */
static int seed_query(req *r, int64_t hours, const char *const *params, tm_qresult **res,
                      int64_t *from, int64_t *to, enum MHD_Result *ret)
{
    tm_query_spec q;
    *to = (tm__now_us() / 1000000 + 1) * 1000000; /* whole seconds, this one included */
    *from = *to - hours * 3600 * 1000000LL;
    tm__query_init(&q);
    int rc = tm__query_span(&q, *from, *to);
    for (size_t i = 0; params && params[i] && rc == TM_OK; i += 2)
        rc = tm__query_set(&q, params[i], params[i + 1]);
    int failed = rc ? (*ret = tm__reply_error(r, 400, "invalid_query", "%s", tm_errmsg()), 1)
                    : run_query(r, &q, res, ret);
    tm__query_free(&q);
    return failed;
}

static void metric(tm_buf *b, const char *key, const tm_qrow *row, int m)
{
    char t[64];
    tm__metric_text(&row->s, &row->sk, m, t, sizeof t);
    tm__buf_printf(b, "\"%s\": %s", key, t);
}

typedef struct field {
    const char *key;
    int metric;
} field;

/* Writes "key": value for each field, comma-separated. */
static void fields(tm_buf *b, const tm_qrow *row, const field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tm__buf_puts(b, i ? ", " : "");
        metric(b, f[i].key, row, f[i].metric);
    }
}

/* The common start of the seed's aggregate routes: ?days= (default d),
 * no user-bound keys, ?provider= as a filter when with_provider, then the
 * query over the last `days` days (or `hours` when given) with `extra`
 * parameters. Returns 1 after replying on any error. */
typedef struct seed {
    int days;
    const char *provider;
    int64_t from, to;
    tm_qresult *res;
} seed;

static int seed_begin(req *r, seed *sd, int default_days, int hours, int with_provider,
                      const char *extra_k, const char *extra_v, enum MHD_Result *ret)
{
    char where[160];
    memset(sd, 0, sizeof *sd);
    if ((sd->days = days_arg(r, default_days, ret)) < 0 || tm__forbid_user(r, NULL, ret))
        return 1;
    sd->provider = with_provider ? tm__arg(r, "provider") : NULL;
    snprintf(where, sizeof where, "provider=%s", sd->provider ? sd->provider : "");
    const char *params[] = {extra_k, extra_v, sd->provider ? "where" : NULL, where, NULL};
    const char *const *p = extra_k ? params : params + 2;
    return seed_query(r, hours ? hours : (int64_t)sd->days * 24, p, &sd->res, &sd->from, &sd->to, ret);
}

/* Closes the envelope, replies, frees. */
static enum MHD_Result seed_end(req *r, seed *sd, tm_buf *b)
{
    tm__buf_puts(b, "}}\n");
    enum MHD_Result ret = tm__reply(r, 200, b);
    tm__buf_free(b);
    tm__qresult_free(sd->res);
    return ret;
}

static void json_opt_str(tm_buf *b, const char *s)
{
    if (s)
        tm__json_str(b, s, strlen(s));
    else
        tm__buf_puts(b, "null");
}

static enum MHD_Result seed_realtime(req *r)
{
    static const field totals[] = {{"total_requests", TM_M_EVENTS}, {"total_tokens", TM_M_TOTAL},
                                   {"total_cost_usd", TM_M_COST}, {"error_rate", TM_M_ERROR_RATE}};
    static const field per[] = {{"requests", TM_M_EVENTS}, {"tokens", TM_M_TOTAL},
                                {"cost_usd", TM_M_COST}, {"error_rate", TM_M_ERROR_RATE},
                                {"latency_p50_ms", TM_M_P50}, {"latency_p95_ms", TM_M_P95},
                                {"latency_p99_ms", TM_M_P99}};
    seed sd;
    enum MHD_Result ret;
    if (seed_begin(r, &sd, 1, 24, 0, "group_by", "provider", &ret))
        return ret;
    tm_buf b = TM_BUF_INIT;
    char fs[32], ts[32];
    tm__time_format(sd.from, fs);
    tm__time_format(sd.to, ts);
    tm__buf_printf(&b, "{\"success\": true, \"data\": {\"period_hours\": 24, \"start_date\": \"%s\", "
                       "\"end_date\": \"%s\", ", fs, ts);
    fields(&b, &sd.res->totals, totals, sizeof totals / sizeof totals[0]);
    tm__buf_puts(&b, ", \"by_provider\": {");
    for (size_t i = 0; i < sd.res->nrows; i++) {
        const tm_qrow *row = &sd.res->rows[i];
        tm__buf_puts(&b, i ? ", " : "");
        tm__json_str(&b, row->dim[TM_D_PROVIDER], strlen(row->dim[TM_D_PROVIDER]));
        tm__buf_puts(&b, ": {");
        fields(&b, row, per, sizeof per / sizeof per[0]);
        tm__buf_putc(&b, '}');
    }
    tm__buf_putc(&b, '}');
    return seed_end(r, &sd, &b);
}

static enum MHD_Result seed_aggregates(req *r)
{
    static const field per[] = {{"requests", TM_M_EVENTS}, {"tokens", TM_M_TOTAL},
                                {"cost_usd", TM_M_COST}, {"errors", TM_M_ERRORS},
                                {"avg_latency_ms", TM_M_AVG}};
    const char *interval = tm__arg(r, "interval");
    if (!interval)
        interval = "day";
    if (strcmp(interval, "hour") && strcmp(interval, "day") && strcmp(interval, "month"))
        return tm__reply_error(r, 400, "invalid_query", "interval: must be hour, day or month");
    seed sd;
    enum MHD_Result ret;
    if (seed_begin(r, &sd, 7, 0, 1, "interval", interval, &ret))
        return ret;
    tm_buf b = TM_BUF_INIT;
    char fs[32], ts[32];
    tm__time_format(sd.from, fs);
    tm__time_format(sd.to, ts);
    tm__buf_printf(&b, "{\"success\": true, \"data\": {\"start_date\": \"%s\", \"end_date\": \"%s\", "
                       "\"interval\": \"%s\", \"provider\": ", fs, ts, interval);
    json_opt_str(&b, sd.provider);
    tm__buf_puts(&b, ", \"aggregates\": [");
    for (size_t i = 0; i < sd.res->nrows; i++) {
        char label[40];
        tm__period_label(sd.res, sd.res->rows[i].period, label, sizeof label);
        tm__buf_printf(&b, "%s{\"period\": \"%s\", ", i ? ", " : "", label);
        fields(&b, &sd.res->rows[i], per, sizeof per / sizeof per[0]);
        tm__buf_putc(&b, '}');
    }
    tm__buf_putc(&b, ']');
    return seed_end(r, &sd, &b);
}

static enum MHD_Result seed_costs(req *r)
{
    seed sd;
    enum MHD_Result ret;
    if (seed_begin(r, &sd, 30, 0, 0, "group_by", "provider", &ret))
        return ret;
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"success\": true, \"data\": {");
    metric(&b, "total_cost_usd", &sd.res->totals, TM_M_COST);
    tm__buf_puts(&b, ", \"by_provider\": {");
    for (size_t i = 0; i < sd.res->nrows; i++) {
        const tm_qrow *row = &sd.res->rows[i];
        char t[64];
        tm__metric_text(&row->s, &row->sk, TM_M_COST, t, sizeof t);
        tm__buf_puts(&b, i ? ", " : "");
        tm__json_str(&b, row->dim[TM_D_PROVIDER], strlen(row->dim[TM_D_PROVIDER]));
        tm__buf_printf(&b, ": %s", t);
    }
    tm__buf_printf(&b, "}, \"period_days\": %d", sd.days);
    return seed_end(r, &sd, &b);
}

static enum MHD_Result seed_latency(req *r)
{
    static const field pct[] = {{"p50", TM_M_P50}, {"p95", TM_M_P95}, {"p99", TM_M_P99}};
    seed sd;
    enum MHD_Result ret;
    if (seed_begin(r, &sd, 7, 0, 1, NULL, NULL, &ret))
        return ret;
    char rate[32] = "null";
    const tm_sums *t = &sd.res->totals.s;
    if (t->events) {
        tm__dec_ratio((tm_i128)(t->events - t->errors) * 100, t->events, 4, rate);
    }
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"success\": true, \"data\": {\"latency_percentiles_ms\": {");
    fields(&b, &sd.res->totals, pct, sizeof pct / sizeof pct[0]);
    tm__buf_printf(&b, "}, \"success_rate_percent\": %s, \"period_days\": %d, \"provider\": ", rate, sd.days);
    json_opt_str(&b, sd.provider);
    return seed_end(r, &sd, &b);
}

static enum MHD_Result seed_user(req *r)
{
    char user[256];
    if (!path_user(r->url, "/api/usage/", "", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /api/usage/{userId}");
    return user_usage(r, user, 1);
}

/* ---- alerts ---- */

static int alert_row(void *arg, const tm_alert_entry *e)
{
    tm_buf *b = arg;
    tm__buf_puts(b, b->len > 12 ? ",\n  " : "\n  ");
    return tm__buf_puts(b, e->body);
}

static enum MHD_Result get_alerts(req *r)
{
    enum MHD_Result ret;
    if (tm__forbid_user(r, NULL, &ret))
        return ret;
    const char *firing = tm__arg(r, "firing"), *limit = tm__arg(r, "limit");
    size_t n = limit ? strtoul(limit, NULL, 10) : 100;
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"alerts\": [");
    int rc = tm__alert_history(tm__pctx(r->s->t), firing && strcmp(firing, "0") != 0, n ? n : 100,
                               alert_row, &b);
    tm__buf_puts(&b, "]}\n");
    ret = rc ? tm__reply_error(r, 503, "store_error", "%s", tm_errmsg()) : tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}

/* GET /v1/me: the key the caller sent (its scope and bound user), so the
 * dashboard shows only what the key may read; null when no key was needed. */
static enum MHD_Result get_me(req *r)
{
    tm_buf b = TM_BUF_INIT;
    if (!r->has_key) {
        tm__buf_puts(&b, "{\"key\": null}\n");
    } else {
        tm__buf_printf(&b, "{\"key\": {\"id\": \"%s\", \"scope\": \"%s\", \"user_id\": ", r->key.id,
                       r->key.scope);
        json_opt_str(&b, r->key.user[0] ? r->key.user : NULL);
        tm__buf_puts(&b, "}}\n");
    }
    enum MHD_Result ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}

/* ---- health and metrics ---- */

static enum MHD_Result healthz(req *r)
{
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"status\":\"ok\"}\n");
    enum MHD_Result ok = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ok;
}

static enum MHD_Result readyz(req *r)
{
    int64_t v = 0;
    tm_store *s = tm__store(r->s->t);
    if (s->ops->version(s, &v) != TM_OK)
        return tm__reply_error(r, 503, "not_ready", "%s", tm_errmsg());
    return healthz(r);
}

/* docs/openapi.yaml, compiled in by the Makefile (build/gen/openapi_data.c). */
extern const unsigned char tm__openapi_yaml[];
extern const unsigned long tm__openapi_yaml_len;

static enum MHD_Result openapi(req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        tm__openapi_yaml_len, (void *)tm__openapi_yaml, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/yaml");
    r->status = 200;
    enum MHD_Result ok = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result metrics(req *r)
{
    tm_buf b = TM_BUF_INIT;
    tm__metrics_render(r->s, &b);
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data ? b.data : "",
                                                                MHD_RESPMEM_MUST_COPY);
    tm__buf_free(&b);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    r->status = 200;
    enum MHD_Result ok = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

const route tm__routes[] = {
    {"POST", "/v1/events", "", "/v1/events", SC_INGEST, post_events},
    {"POST", "/api/usage/track", "", "/api/usage/track", SC_INGEST, post_events},
    {"GET", "/v1/usage", "", "/v1/usage", SC_READ, get_usage},
    {"GET", "/v1/users/", "/usage", "/v1/users/{id}/usage", SC_READ, get_user_usage},
    {"GET", "/v1/users/", "/quota", "/v1/users/{id}/quota", SC_READ, get_user_quota},
    {"PUT", "/v1/users/", "", "/v1/users/{id}", SC_INGEST, put_user},
    {"POST", "/v1/check", "", "/v1/check", SC_INGEST, post_check},
    {"GET", "/api/usage/metrics/realtime", "", "/api/usage/metrics/realtime", SC_READ, seed_realtime},
    {"GET", "/api/usage/metrics/aggregates", "", "/api/usage/metrics/aggregates", SC_READ, seed_aggregates},
    {"GET", "/api/usage/costs/by-provider", "", "/api/usage/costs/by-provider", SC_READ, seed_costs},
    {"GET", "/api/usage/performance/latency", "", "/api/usage/performance/latency", SC_READ, seed_latency},
    {"GET", "/api/usage/", "", "/api/usage/{userId}", SC_READ, seed_user},
    {"GET", "/v1/alerts", "", "/v1/alerts", SC_READ, get_alerts},
    {"GET", "/v1/me", "", "/v1/me", SC_READ, get_me},
    {"GET", "/v1/export", "", "/v1/export", SC_READ, tm__get_export}, /* admin only: it checks */
    {"GET", "/healthz", "", "/healthz", SC_OPEN, healthz},
    {"GET", "/readyz", "", "/readyz", SC_OPEN, readyz},
    {"GET", "/metrics", "", "/metrics", SC_METRICS, metrics},
    {"GET", "/openapi.yaml", "", "/openapi.yaml", SC_OPEN, openapi},
    /* The gateway's paths are dispatched to proxy.c before this table is
     * searched; the entry names its metrics (method "*" matches nothing). */
    {"*", "/proxy/", "/*", "proxy", SC_OPEN, NULL},
    {"GET", "/", "", "/", SC_OPEN, tm__get_web},
    {"GET", "/assets/", "", "/assets/{file}", SC_OPEN, tm__get_web},
};
const size_t tm__nroutes = sizeof tm__routes / sizeof tm__routes[0];

/* ---- Prometheus text ---- */

extern const double tm__dur_bounds[NBUCKETS];

/* A Prometheus label value, quoted: the text format escapes only \\, "
 * and newline (JSON's \uXXXX is not in it); other bytes go as they are. */
static void prom_label(tm_buf *b, const char *v)
{
    tm__buf_putc(b, '"');
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            tm__buf_putc(b, '\\');
        if (*v == '\n')
            tm__buf_puts(b, "\\n");
        else
            tm__buf_putc(b, *v);
    }
    tm__buf_putc(b, '"');
}

void tm__metrics_render(srv *s, tm_buf *b)
{
    tm__buf_puts(b, "# HELP tokmeter_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE tokmeter_http_requests_total counter\n");
    for (size_t i = 0; i <= tm__nroutes; i++)
        for (int k = 0; k < NSTATUS; k++) {
            uint64_t n = __atomic_load_n(&s->requests[i][k], __ATOMIC_RELAXED);
            if (n)
                tm__buf_printf(b, "tokmeter_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                               i < tm__nroutes ? tm__routes[i].name : "unknown", tm__statuses[k],
                               (unsigned long long)n);
        }
    tm__buf_puts(b, "# HELP tokmeter_http_request_duration_seconds Time from request to response.\n"
                    "# TYPE tokmeter_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= tm__nroutes; i++) {
        uint64_t count = __atomic_load_n(&s->dur_count[i], __ATOMIC_RELAXED);
        if (!count)
            continue;
        const char *name = i < tm__nroutes ? tm__routes[i].name : "unknown";
        for (int k = 0; k < NBUCKETS; k++)
            tm__buf_printf(b, "tokmeter_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                           name, tm__dur_bounds[k], (unsigned long long)s->dur_le[i][k]);
        tm__buf_printf(b, "tokmeter_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                          "tokmeter_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                          "tokmeter_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       name, (unsigned long long)count, name, (double)s->dur_sum_us[i] / 1e6, name,
                       (unsigned long long)count);
    }
    tm__buf_printf(b, "# HELP tokmeter_events_total Events received over HTTP, by outcome.\n"
                      "# TYPE tokmeter_events_total counter\n"
                      "tokmeter_events_total{result=\"accepted\"} %llu\n"
                      "tokmeter_events_total{result=\"duplicate\"} %llu\n"
                      "tokmeter_events_total{result=\"rejected\"} %llu\n",
                   (unsigned long long)s->events[0], (unsigned long long)s->events[1],
                   (unsigned long long)s->events[2]);
    tm_writer_stats ws;
    tm__writer_stats(tm__writer(s->t), &ws);
    tm__buf_puts(b, "# HELP tokmeter_commit_duration_seconds Durable commits (fsync included).\n"
                    "# TYPE tokmeter_commit_duration_seconds histogram\n");
    for (int k = 0; k < TM_COMMIT_BUCKETS; k++)
        tm__buf_printf(b, "tokmeter_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                       tm__commit_bounds[k], (unsigned long long)ws.le[k]);
    tm__buf_printf(b, "tokmeter_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                      "tokmeter_commit_duration_seconds_sum %.6f\n"
                      "tokmeter_commit_duration_seconds_count %llu\n",
                   (unsigned long long)ws.count, ws.sum_s, (unsigned long long)ws.count);
    int64_t stored = 0;
    tm_count(s->t, &stored);
    uint64_t bytes = 0;
    const char *suffixes[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        struct stat st;
        snprintf(p, sizeof p, "%s%s", s->cfg.db, suffixes[i]);
        if (stat(p, &st) == 0)
            bytes += (uint64_t)st.st_size;
    }
    tm__buf_printf(b, "# HELP tokmeter_store_events Events in the store.\n"
                      "# TYPE tokmeter_store_events gauge\ntokmeter_store_events %lld\n"
                      "# HELP tokmeter_store_bytes Size of the store file and its log.\n"
                      "# TYPE tokmeter_store_bytes gauge\ntokmeter_store_bytes %llu\n",
                   (long long)stored, (unsigned long long)bytes);
    tm__proxy_metrics(s->proxy, b);
    /* Spend by provider, all time (day rollups): bounded to 50 providers. */
    tm_query_spec q;
    tm_qresult *res = NULL;
    tm__query_init(&q);
    if (tm__query_set(&q, "from", "1970-01-01") == TM_OK &&
        tm__query_set(&q, "group_by", "provider") == TM_OK &&
        tm__query_set(&q, "order_by", "cost_usd") == TM_OK && tm__query_set(&q, "limit", "50") == TM_OK &&
        tm__run_query(s->t, &q, &res) == TM_OK) {
        tm__buf_puts(b, "# HELP tokmeter_cost_usd_total Spend by provider (the 50 largest).\n"
                        "# TYPE tokmeter_cost_usd_total counter\n");
        for (size_t i = 0; i < res->nrows; i++) {
            char t[64];
            tm__metric_text(&res->rows[i].s, &res->rows[i].sk, TM_M_COST, t, sizeof t);
            tm__buf_puts(b, "tokmeter_cost_usd_total{provider=");
            prom_label(b, res->rows[i].dim[TM_D_PROVIDER]);
            tm__buf_printf(b, "} %s\n", t);
        }
    }
    tm__qresult_free(res);
    tm__query_free(&q);
}
