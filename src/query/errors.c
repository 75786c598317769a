/*
 * errors.c — the top errors by message (GET /v1/errors): the failed calls
 * among the newest events of a range, grouped by status code and error
 * text. The rollups keep no error text, so this reads events, newest
 * first, at most scan_max of them: the answer says how far back it read
 * and whether that was the whole range.
 */
#include "errors.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"

typedef struct failed {
    int status;
    const char *error, *provider, *model; /* in the arena */
    int64_t ts;
} failed;

typedef struct scan_ctx {
    const tm_query_spec *q;
    tm_top_errors *out;
    failed *v;
    size_t n, cap;
    int rc;
    size_t max;                 /* events to read at most                   */
    int more;                   /* the range has more than max: stopped      */
} scan_ctx;

static const char *field(const tm_event *e, int d)
{
    const char *v[TM_NDIM] = {e->provider, e->model, e->user_id, e->endpoint, e->operation,
                              e->metric_type, NULL, e->project};
    return d == TM_D_SUCCESS ? (e->success ? "true" : "false") : v[d] ? v[d] : "";
}

static int passes(const tm_query_spec *q, const tm_event *e)
{
    for (int d = 0; d < TM_NDIM; d++) {
        size_t i = 0;
        while (i < q->nwhere[d] && strcmp(q->where[d][i], field(e, d)) != 0)
            i++;
        if (q->nwhere[d] && i == q->nwhere[d])
            return 0;
    }
    return 1;
}

static const char *keep(scan_ctx *x, const char *s)
{
    const char *k = tm__arena_strndup(&x->out->arena, s ? s : "", s ? strlen(s) : 0);
    if (!k)
        x->rc = TM_ENOMEM;
    return k;
}

static int each_event(void *arg, const tm_event *e)
{
    scan_ctx *x = arg;
    tm_top_errors *o = x->out;
    if ((size_t)o->scanned == x->max) { /* one more than max was asked for */
        x->more = 1;
        return TM_EINVAL; /* stops the scan; not an error (more is set) */
    }
    o->scanned++;
    o->oldest = e->ts_us;
    if (e->success || !passes(x->q, e))
        return 0;
    failed *v = tm__grow(x->v, x->n, &x->cap, sizeof *v, 256);
    if (!v)
        return TM_ENOMEM;
    x->v = v;
    failed *f = &v[x->n];
    f->status = e->has & TM_HAS_STATUS ? e->status_code : 0;
    f->ts = e->ts_us;
    f->error = keep(x, e->error);
    f->provider = keep(x, e->provider);
    f->model = keep(x, e->model);
    if (x->rc)
        return x->rc;
    x->n++;
    o->failed++;
    return 0;
}

static int cmp_failed(const void *pa, const void *pb)
{
    const failed *a = pa, *b = pb;
    int c = a->status - b->status;
    if (!c)
        c = strcmp(a->error, b->error);
    if (!c)
        c = strcmp(a->provider, b->provider);
    return c ? c : strcmp(a->model, b->model);
}

static int cmp_group(const void *pa, const void *pb)
{
    const tm_error_group *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->last != b->last)
        return a->last > b->last ? -1 : 1;
    return a->status - b->status;
}

int tm__top_errors(tm_store *s, const tm_query_spec *q, int64_t now_us, size_t scan_max,
                   tm_top_errors *out)
{
    scan_ctx x = {q, out, NULL, 0, 0, TM_OK, scan_max, 0};
    tm_tz *tz = NULL;
    memset(out, 0, sizeof *out);
    int rc = tm__query_range(q, now_us, &tz, &out->from, &out->to);
    if (rc)
        goto out;
    /* The store narrows by one user or one provider itself; every filter
     * is checked on each event. */
    tm_event_filter f = {0};
    f.since_us = out->from;
    f.until_us = out->to;
    f.limit = scan_max + 1;
    if (q->nwhere[TM_D_USER] == 1)
        f.user_id = q->where[TM_D_USER][0];
    if (q->nwhere[TM_D_PROVIDER] == 1)
        f.provider = q->where[TM_D_PROVIDER][0];
    rc = s->ops->scan(s, &f, each_event, &x);
    if (x.more)
        rc = TM_OK;
    if (rc)
        goto out;
    out->complete = !x.more;
    if (out->complete)
        out->oldest = out->from;
    /* Groups: runs of one (status, error) in the sorted failures; each
     * group's provider and model are its most frequent pair. */
    if (x.n)
        qsort(x.v, x.n, sizeof *x.v, cmp_failed);
    for (size_t i = 0, j; i < x.n; i = j) {
        tm_error_group g = {x.v[i].status, x.v[i].error, NULL, NULL, 0, 0, 0};
        for (j = i; j < x.n && x.v[j].status == g.status && strcmp(x.v[j].error, g.error) == 0;) {
            size_t k = j;
            while (k < x.n && cmp_failed(&x.v[k], &x.v[j]) == 0) {
                if (x.v[k].ts > g.last)
                    g.last = x.v[k].ts;
                k++;
            }
            if ((int64_t)(k - j) > g.top_count) {
                g.top_count = (int64_t)(k - j);
                g.provider = x.v[j].provider;
                g.model = x.v[j].model;
            }
            g.count += (int64_t)(k - j);
            j = k;
        }
        tm_error_group *v = tm__grow(out->groups, out->ngroups, &out->capgroups, sizeof *v, 16);
        if (!v) {
            rc = TM_ENOMEM;
            goto out;
        }
        out->groups = v;
        out->groups[out->ngroups++] = g;
    }
    if (out->ngroups)
        qsort(out->groups, out->ngroups, sizeof *out->groups, cmp_group);
    if (q->limit && out->ngroups > q->limit)
        out->ngroups = q->limit;
out:
    tm__tz_free(tz);
    free(x.v);
    if (rc)
        tm__top_errors_free(out);
    return rc;
}

void tm__top_errors_free(tm_top_errors *t)
{
    free(t->groups);
    tm__arena_free(&t->arena);
    memset(t, 0, sizeof *t);
}

int tm__top_errors_json(const tm_top_errors *t, tm_buf *b)
{
    char from[32], to[32], oldest[32], last[32];
    tm__time_format(t->from, from);
    tm__time_format(t->to, to);
    tm__time_format(t->oldest, oldest);
    int rc = tm__buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"scanned\": {\"events\": %lld, "
                               "\"failed\": %lld, \"since\": \"%s\", \"complete\": %s},\n \"errors\": [",
                            from, to, (long long)t->scanned, (long long)t->failed,
                            t->scanned ? oldest : from, t->complete ? "true" : "false");
    for (size_t i = 0; i < t->ngroups && rc == TM_OK; i++) {
        const tm_error_group *g = &t->groups[i];
        tm__time_format(g->last, last);
        rc = tm__buf_puts(b, i ? ",\n  {\"status_code\": " : "\n  {\"status_code\": ");
        if (rc == TM_OK)
            rc = g->status ? tm__buf_printf(b, "%d", g->status) : tm__buf_puts(b, "null");
        if (rc == TM_OK)
            rc = tm__buf_puts(b, ", \"error\": ");
        if (rc == TM_OK)
            rc = tm__json_str(b, g->error, strlen(g->error));
        if (rc == TM_OK)
            rc = tm__buf_printf(b, ", \"count\": %lld, \"last_at\": \"%s\", \"provider\": ",
                                (long long)g->count, last);
        if (rc == TM_OK)
            rc = tm__json_str(b, g->provider, strlen(g->provider));
        if (rc == TM_OK)
            rc = tm__buf_puts(b, ", \"model\": ");
        if (rc == TM_OK)
            rc = tm__json_str(b, g->model, strlen(g->model));
        if (rc == TM_OK)
            rc = tm__buf_printf(b, ", \"model_count\": %lld}", (long long)g->top_count);
    }
    if (rc == TM_OK)
        rc = tm__buf_puts(b, t->ngroups ? "\n ]}\n" : "]}\n");
    return rc;
}
