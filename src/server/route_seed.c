/*
 * route_seed.c — the seed guide's /api/usage/... routes, in their
 * {"success": true, "data": ...} envelope, answered by the query engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "server_int.h"

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
    int failed = rc ? (*ret = tm__reply_rc(r, rc, "invalid_query"), 1)
                    : tm__route_query(r, &q, res, ret);
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

enum MHD_Result tm__route_seed_realtime(req *r)
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

enum MHD_Result tm__route_seed_aggregates(req *r)
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
    tm__json_str_or_null(&b, sd.provider);
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

enum MHD_Result tm__route_seed_costs(req *r)
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

enum MHD_Result tm__route_seed_latency(req *r)
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
    tm__json_str_or_null(&b, sd.provider);
    return seed_end(r, &sd, &b);
}

enum MHD_Result tm__route_seed_user(req *r)
{
    char user[256];
    if (!tm__path_user(r->url, "/api/usage/", "", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /api/usage/{userId}");
    return tm__user_usage_reply(r, user, 1);
}
