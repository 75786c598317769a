/*
 * query.c — parsing, planning and running report queries.
 *
 * Plan:
 *   needed = group_by ∪ where dimensions
 *   an hourly projection (model, endpoint) holds all of needed, and the
 *   zone's offsets are whole hours (or interval is none)?
 *           → whole UTC days from the day cells (a day cut by a local
 *             period start: its cell for the longest piece, the hour cells
 *             of the rest moved to their periods), whole hours around them
 *             from the hour cells (by hour: hour cells only), the partial
 *             hours at either end from the events (hour_days);
 *   a daily user projection holds all of needed (those kept only in the
 *   store: the query names its users), and interval is not hour?
 *           → each UTC day of the range planned (plan_day): a day in the
 *             range and one period from its cells; a day cut by the range
 *             or a local period start from its cells for its longest piece
 *             and the events of the rest of the day (moved to their
 *             periods, taken from that piece), or from the events of its
 *             part in the range when fewer (daily_cells); top N by bounds
 *             when days are cut (top_by_bounds);
 *   else    → everything from the events (exact for any range and zone;
 *             user_id filters use the (day, user_id, ts) index).
 *
 * Rows are accumulated in a cell set keyed by (period, grouped dims); the
 * period is the UTC start of the local hour, day, week or month.
 */
#include "query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/csv.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/text.h"
#include "../core/tmtime.h"

#define US_PER_HOUR (3600LL * 1000000)

const char *const tm__metric_names[TM_NMETRIC] = {
    "events", "requests", "value", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "unpriced", "errors",
    "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_avg_ms",
};

static const char *const interval_names[] = {"none", "hour", "day", "week", "month"};

void tm__query_init(tm_query_spec *q)
{
    memset(q, 0, sizeof *q);
    q->interval = TM_I_NONE;
    q->order_by = -1;
}

void tm__query_free(tm_query_spec *q) { tm__arena_free(&q->arena); }

/* The TM_M_* named by s[0..n), or -1. */
static int metric_named(const char *s, size_t n)
{
    for (int m = 0; m < TM_NMETRIC; m++)
        if (strlen(tm__metric_names[m]) == n && strncmp(tm__metric_names[m], s, n) == 0)
            return m;
    return -1;
}

static int dim_of(const char *name, size_t n)
{
    for (int d = 0; d < TM_NDIM; d++)
        if (strlen(tm__dim_names[d]) == n && strncmp(tm__dim_names[d], name, n) == 0)
            return d;
    return -1;
}

static int bad_dim(const char *key, const char *name, size_t n)
{
    return tm__fail(TM_EINVAL,
                    "%s: unknown dimension '%.*s' (one of provider, model, user_id, endpoint, "
                    "operation, metric_type, success, project)",
                    key, (int)n, name);
}

int tm__query_span(tm_query_spec *q, int64_t from_us, int64_t to_us)
{
    char f[40], t[40];
    tm__time_format(from_us, f);
    tm__time_format(to_us, t);
    int rc = tm__query_set(q, "from", f);
    return rc ? rc : tm__query_set(q, "to", t);
}

int tm__query_set(tm_query_spec *q, const char *key, const char *value)
{
    char *v = tm__arena_strndup(&q->arena, value, strlen(value));
    if (!v)
        return TM_ENOMEM;
    if (strcmp(key, "from") == 0) {
        q->from = *v ? v : NULL;
    } else if (strcmp(key, "to") == 0) {
        q->to = *v ? v : NULL;
    } else if (strcmp(key, "tz") == 0) {
        q->tz = *v ? v : NULL;
    } else if (strcmp(key, "interval") == 0) {
        for (int i = 0; i < 5; i++)
            if (strcmp(v, interval_names[i]) == 0) {
                q->interval = i;
                return TM_OK;
            }
        return tm__fail(TM_EINVAL, "interval: must be hour, day, week, month or none, not '%s'", v);
    } else if (strcmp(key, "group_by") == 0) {
        for (char *p = v; *p;) {
            size_t n = strcspn(p, ",");
            int d = dim_of(p, n);
            if (d < 0)
                return bad_dim(key, p, n);
            for (int i = 0; i < q->ngroup; i++)
                if (q->group[i] == d)
                    return tm__fail(TM_EINVAL, "group_by: '%s' is given twice", tm__dim_names[d]);
            q->group[q->ngroup++] = d;
            p += n + (p[n] == ',');
        }
    } else if (strcmp(key, "where") == 0) {
        size_t n = strcspn(v, "=:");
        int d = dim_of(v, n);
        if (!v[n])
            return tm__fail(TM_EINVAL, "where: '%s' must be DIMENSION=VALUE[,VALUE...]", v);
        if (d < 0)
            return bad_dim(key, v, n);
        for (char *p = v + n + 1;;) {
            size_t k = strcspn(p, ",");
            char *val = tm__arena_strndup(&q->arena, p, k);
            const char **vals = tm__arena_alloc(&q->arena, (q->nwhere[d] + 1) * sizeof *vals);
            if (!val || !vals)
                return TM_ENOMEM;
            if (d == TM_D_SUCCESS && strcmp(val, "true") != 0 && strcmp(val, "false") != 0)
                return tm__fail(TM_EINVAL, "where: success must be true or false, not '%s'", val);
            if (q->nwhere[d])
                memcpy(vals, q->where[d], q->nwhere[d] * sizeof *vals);
            vals[q->nwhere[d]++] = val;
            q->where[d] = vals;
            if (!p[k])
                break;
            p += k + 1;
        }
    } else if (strcmp(key, "order_by") == 0) {
        size_t n = strcspn(v, ":");
        q->order_asc = v[n] && strcmp(v + n + 1, "asc") == 0;
        if (v[n] && !q->order_asc && strcmp(v + n + 1, "desc") != 0)
            return tm__fail(TM_EINVAL, "order_by: '%s' must be METRIC, METRIC:desc or METRIC:asc", v);
        if ((q->order_by = metric_named(v, n)) >= 0)
            return TM_OK;
        return tm__fail(TM_EINVAL, "order_by: unknown metric '%.*s' (events, cost_usd, "
                                   "total_tokens, latency_p95_ms, ...)", (int)n, v);
    } else if (strcmp(key, "fill") == 0) {
        if (strcmp(v, "zero") && strcmp(v, "none"))
            return tm__fail(TM_EINVAL, "fill: must be zero or none, not '%s'", v);
        q->fill = strcmp(v, "zero") == 0;
    } else if (strcmp(key, "limit") == 0) {
        uint64_t n;
        if (tm__uint_parse(v, strlen(v), 100000000, &n) != TM_DEC_OK)
            return tm__fail(TM_EINVAL, "limit: must be a non-negative integer, not '%s'", v);
        q->limit = (size_t)n;
    } else if (strcmp(key, "metrics") == 0) {
        q->metrics = 0;
        for (const char *p = v;; p++) {
            size_t n = strcspn(p, ",");
            int m = metric_named(p, n);
            if (m < 0)
                return tm__fail(TM_EINVAL, "metrics: unknown metric '%.*s' (events, requests, "
                                           "total_tokens, cost_usd, latency_p95_ms, ...)", (int)n, p);
            q->metrics |= 1u << m;
            p += n;
            if (!*p)
                break;
        }
    } else {
        return tm__fail(TM_EINVAL, "%s: unknown parameter (from, to, interval, tz, group_by, "
                                   "where, order_by, limit, fill, metrics)", key);
    }
    return TM_OK;
}

/* ---- running ---- */

typedef struct run {
    tm_store *store;
    const tm_query_spec *q;
    tm_qresult *res;
    tm_cellset rows;                /* sums per row (their sketches unused) */
    tm_sketch_acc *accs;            /* latency per row, by cell index       */
    size_t naccs;
    unsigned grouped;               /* bitmask of grouped dims          */
    uint32_t *ids[TM_NDIM];         /* accepted dict ids per where dim   */
    size_t nids[TM_NDIM];
    int none_match;                 /* a where dim with no known value  */
    int64_t cache_slot[1024], cache_period[1024]; /* 15-minute slots  */
    uint64_t read;                  /* rows read, against q->max_rows     */
    int later_sk;                   /* top N: rows' sketches after the cut */
    int no_sk;                      /* no quantile shown or ordered by: no sketches */
    struct visit {                  /* meanwhile, each cell added and its row */
        const tm_cell *cell;
        uint32_t row;
        int exact;                  /* part of the row (else a bound only)  */
    } *visit;
    size_t nvisit, capvisit;
    int32_t *kept;                  /* row cell index → kept row, or -1  */
    int by_id;                      /* one grouped dim, one period: its id   */
    uint32_t *row_of_id;            /* dict id → row index + 1 (0: none yet) */
    size_t nrow_of_id;
    /* The daily path (user cells, see daily_cells): */
    struct day_plan *days;          /* each UTC day of the range's plan      */
    size_t ndays;
    int64_t day0;                   /* the first day's first hour            */
    int64_t cell_period;            /* the period of the cells being added   */
    int cell_kind;                  /* and their day's kind (DAY_*)          */
    int bounds;                     /* top N by bounds (top_by_bounds)       */
    tm_sums *hi;                    /* per row: its upper bound              */
    size_t nhi;
    unsigned char *cand;            /* per row: a candidate (bounds)         */
    size_t ncand;
    uint32_t *cand_users;           /* their users, or NULL: every user      */
    size_t ncand_users;
    int read_events;                /* an event was asked for (the plan)     */
    int64_t cut_period;             /* move_hour: the piece its day stands for */
    int subtracted;                 /* a row had events or cells taken away  */
} run;

/* How a UTC day of the range is read (daily_cells). */
enum {
    DAY_WHOLE,  /* inside the range and one period: its cells         */
    DAY_CELL,   /* its cells stand for its longest piece in the range
                   (one period); the events of the rest of the day are
                   read, taken away from that piece and, when in the
                   range, added to their own periods                  */
    DAY_EVENTS, /* the events of its part in the range (less to read) */
};
struct day_plan {
    int64_t ps, pe;                 /* the piece the cells stand for (µs)    */
    int64_t period;                 /* its period                            */
    int kind;
};

/* The cost of a run: every event and rollup cell read counts, matching or
 * not, so a caller can bound what one query may cost (the daemon does). */
static int count_read(run *x)
{
    if (!x->q->max_rows || ++x->read <= x->q->max_rows)
        return TM_OK;
    return tm__fail(TM_ETOOBIG, "query: reads more than %llu rows (limits.max_query_rows); "
                                "narrow from/to, filter with where, or use a coarser interval",
                    (unsigned long long)x->q->max_rows);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

/* The UTC µs start of the period holding t, remembered per 15 minutes. */
static int64_t period_of(run *x, int64_t t_us)
{
    const tm_qresult *r = x->res;
    if (r->interval == TM_I_NONE)
        return r->from;
    int64_t secs = floor_div(t_us, 1000000), slot = floor_div(secs, 900);
    size_t ci = (size_t)(slot & 1023);
    if (x->cache_slot[ci] == slot + 1)
        return x->cache_period[ci];
    int64_t p = tm__period_start(r, t_us);
    x->cache_slot[ci] = slot + 1;
    x->cache_period[ci] = p;
    return p;
}

int64_t tm__period_start(const tm_qresult *r, int64_t t_us)
{
    _Static_assert((int)TM_I_HOUR == (int)TM_CAL_HOUR && (int)TM_I_MONTH == (int)TM_CAL_MONTH, "one order");
    if (r->interval == TM_I_NONE)
        return r->from;
    return tm__tz_floor(r->tz, floor_div(t_us, 1000000), r->interval) * 1000000;
}

static int passes(const run *x, const uint32_t dim[TM_NDIM])
{
    for (int d = 0; d < TM_NDIM; d++) {
        if (!x->q->nwhere[d])
            continue;
        size_t i = 0;
        while (i < x->nids[d] && x->ids[d][i] != dim[d])
            i++;
        if (i == x->nids[d])
            return 0;
    }
    return 1;
}

static tm_cell *row_for_key(run *x, int64_t period, const uint32_t dim[TM_NDIM])
{
    tm_cell_key k;
    memset(&k, 0, sizeof k);
    int64_t minutes = floor_div(period, 60000000);
    k.proj = (int32_t)(minutes >> 31);
    k.hour = (int32_t)(minutes & 0x7fffffff);
    for (int d = 0; d < TM_NDIM; d++)
        if (x->grouped & (1u << d))
            k.dim[d] = dim[d];
    return tm__cellset_get(&x->rows, &k);
}

/* Dense arrays indexed by dict id (ids below BY_ID_MAX): arr, of *n
 * elements of elem bytes, grown zero-filled to hold id. The array, or NULL
 * when out of memory (arr is then unchanged). */
#define BY_ID_MAX (1u << 24)
static void *by_id_room(void *arr, size_t *n, size_t elem, uint32_t id)
{
    if (id < *n)
        return arr;
    size_t m = *n ? *n : 1024;
    while (m <= id)
        m *= 2;
    char *p = realloc(arr, m * elem);
    if (!p)
        return NULL;
    memset(p + *n * elem, 0, (m - *n) * elem);
    *n = m;
    return p;
}

/* The row of a cell or event. Grouped by one dimension over one period
 * (top users: a row for each of ~10^5 cells), rows are found by the
 * dimension's dict id in an array rather than by hashing the key. */
static tm_cell *row_for(run *x, int64_t period, const uint32_t dim[TM_NDIM])
{
    if (x->by_id < 0)
        return row_for_key(x, period, dim);
    uint32_t id = dim[x->by_id];
    if (id < x->nrow_of_id && x->row_of_id[id])
        return &x->rows.cells[x->row_of_id[id] - 1];
    tm_cell *row = row_for_key(x, period, dim);
    if (!row || id >= BY_ID_MAX)
        return row;
    uint32_t *ix = by_id_room(x->row_of_id, &x->nrow_of_id, sizeof *ix, id);
    if (!ix)
        return NULL;
    x->row_of_id = ix;
    x->row_of_id[id] = (uint32_t)(row - x->rows.cells) + 1;
    return row;
}

/* Adds to a what metric_num(m) reads of b: top N ranks by it alone. */
static void add_order_sums(tm_sums *a, const tm_sums *b, int m)
{
    switch (m) {
    case TM_M_EVENTS: a->events += b->events; break;
    case TM_M_REQUESTS: a->requests += b->requests; break;
    case TM_M_VALUE: a->value += b->value; break;
    case TM_M_INPUT: a->input += b->input; break;
    case TM_M_OUTPUT: a->output += b->output; break;
    case TM_M_CACHE_READ: a->cache_read += b->cache_read; break;
    case TM_M_CACHE_WRITE: a->cache_write += b->cache_write; break;
    case TM_M_REASONING: a->reasoning += b->reasoning; break;
    case TM_M_TOTAL: a->total += b->total; break;
    case TM_M_COST: a->cost += b->cost; break;
    case TM_M_UNPRICED: a->unpriced += b->unpriced; break;
    default: tm__sums_add(a, b);
    }
}

/* The row's latency accumulator, and its upper bound (top_by_bounds):
 * arrays by row index (rows and they share indexes), zero when new. */
static tm_sketch_acc *acc_for(run *x, const tm_cell *row)
{
    uint32_t i = (uint32_t)(row - x->rows.cells);
    tm_sketch_acc *p = by_id_room(x->accs, &x->naccs, sizeof *p, i);
    return p ? &(x->accs = p)[i] : NULL;
}

static tm_sums *hi_for(run *x, const tm_cell *row)
{
    uint32_t i = (uint32_t)(row - x->rows.cells);
    tm_sums *p = by_id_room(x->hi, &x->nhi, sizeof *p, i);
    return p ? &(x->hi = p)[i] : NULL;
}

/* A cell's sketch, or an empty one when the query needs none (no_sk). */
static const tm_sketch no_sketch;
#define SK(x, c) ((x)->no_sk ? &no_sketch : &(c)->sk)
/* Whether fact f's latency counts (has one, and sketches are built). */
#define LAT(x, f) ((f)->has_latency && !(x)->no_sk)

#define QUANTILES (1u << TM_M_P50 | 1u << TM_M_P95 | 1u << TM_M_P99)
#define NO_PERIOD INT64_MIN

static int add_cell(void *arg, const tm_cell *c)
{
    run *x = arg;
    if (count_read(x))
        return TM_ETOOBIG;
    if (!passes(x, c->key.dim))
        return 0;
    int64_t period = x->cell_period != NO_PERIOD ? x->cell_period
                                                 : period_of(x, (int64_t)c->key.hour * US_PER_HOUR);
    tm_cell *row = row_for(x, period, c->key.dim);
    if (!row)
        return TM_ENOMEM;
    if (x->later_sk) { /* the order metric; the rest for the kept rows, later */
        /* By bounds: a whole day's cells are part of the row (its lower
         * bound); every day's cells are part of its upper bound. */
        if (!x->bounds || x->cell_kind == DAY_WHOLE)
            add_order_sums(&row->s, &c->s, x->q->order_by);
        tm_sums *hi = x->bounds ? hi_for(x, row) : NULL;
        if (x->bounds && !hi)
            return TM_ENOMEM;
        if (hi)
            add_order_sums(hi, &c->s, x->q->order_by);
        struct visit *v = tm__grow(x->visit, x->nvisit, &x->capvisit, sizeof *v, 4096);
        if (!v)
            return TM_ENOMEM;
        x->visit = v;
        x->visit[x->nvisit++] =
            (struct visit){c, (uint32_t)(row - x->rows.cells), x->cell_kind != DAY_EVENTS};
        return TM_OK;
    }
    tm__sums_add(&row->s, &c->s);
    const tm_sketch *sk = SK(x, c);
    tm_sketch_acc *acc = sk->n || sk->zeros ? acc_for(x, row) : NULL;
    return acc ? tm__sketch_acc_merge(acc, sk) : sk->n || sk->zeros ? TM_ENOMEM : TM_OK;
}

/* The totals of a top N from user cells (later_sk, bounds): from the
 * model projection (model_totals), which holds the same events (the
 * filters are on metric_type at most) in far fewer cells; sums add and
 * sketches merge exactly, so they are the totals of all the rows. */
static int add_total(void *arg, const tm_cell *c)
{
    run *x = arg;
    if (!passes(x, c->key.dim))
        return TM_OK;
    tm__sums_add(&x->res->totals.s, &c->s);
    return tm__sketch_acc_merge(&x->res->totals.sk, SK(x, c));
}

static int add_total_fact(void *arg, const tm_fact *f)
{
    run *x = arg;
    if (!passes(x, f->dim))
        return TM_OK;
    tm__sums_add_fact(&x->res->totals.s, f, 1);
    return LAT(x, f) ? tm__sketch_acc_add(&x->res->totals.sk, f->latency_ns) : TM_OK;
}

static int add_fact(void *arg, const tm_fact *f)
{
    run *x = arg;
    if (count_read(x))
        return TM_ETOOBIG;
    if (!passes(x, f->dim))
        return 0;
    tm_cell *row = row_for(x, period_of(x, f->ts_us), f->dim);
    if (!row)
        return TM_ENOMEM;
    tm__sums_add_fact(&row->s, f, 1);
    if (!LAT(x, f))
        return TM_OK;
    tm_sketch_acc *acc = acc_for(x, row);
    return acc ? tm__sketch_acc_add(acc, f->latency_ns) : TM_ENOMEM;
}

/* Adds f to (sign 1) or takes it from (sign -1) its row in period; by
 * bounds, only a candidate's row. */
static int fact_into(run *x, int64_t period, const tm_fact *f, int sign)
{
    tm_cell *row = row_for(x, period, f->dim);
    if (!row)
        return TM_ENOMEM;
    size_t i = (size_t)(row - x->rows.cells);
    if (x->bounds && (i >= x->ncand || !x->cand[i]))
        return TM_OK;
    tm__sums_add_fact(&row->s, f, sign);
    x->subtracted |= sign < 0;
    if (!LAT(x, f))
        return TM_OK;
    tm_sketch_acc *acc = acc_for(x, row);
    if (!acc)
        return TM_ENOMEM;
    if (sign > 0)
        return tm__sketch_acc_add(acc, f->latency_ns);
    tm__sketch_acc_take(acc, f->latency_ns);
    return TM_OK;
}

/* An event of a day the cells did not wholly answer (daily_cells): added
 * to its period when in the range; taken from the piece its day's cells
 * stand for when outside that piece. */
static int add_day_fact(void *arg, const tm_fact *f)
{
    run *x = arg;
    if (count_read(x))
        return TM_ETOOBIG;
    if (!passes(x, f->dim))
        return 0;
    int64_t i = (tm__day_hour(f->ts_us / US_PER_HOUR) - x->day0) / 24; /* its cell's day */
    if (i < 0 || (size_t)i >= x->ndays)
        return 0;
    const struct day_plan *dp = &x->days[i];
    int in = f->ts_us >= x->res->from && f->ts_us < x->res->to;
    int out_of_cell = dp->kind != DAY_EVENTS && (f->ts_us < dp->ps || f->ts_us >= dp->pe);
    int rc = TM_OK;
    if (in && (dp->kind == DAY_EVENTS || out_of_cell))
        rc = fact_into(x, period_of(x, f->ts_us), f, 1);
    if (rc == TM_OK && out_of_cell)
        rc = fact_into(x, dp->period, f, -1);
    return rc;
}

static int scan_events(run *x, int64_t from, int64_t to)
{
    if (from >= to)
        return TM_OK;
    return x->store->ops->scan_facts(x->store, from, to, x->ids[TM_D_USER],
                                     x->q->nwhere[TM_D_USER] ? x->nids[TM_D_USER] : 0, add_fact, x);
}

static int load_cell(void *arg, const tm_cell *c, int64_t count)
{
    return c ? tm__rollups_merge(arg, c) : tm__rollups_reserve(arg, (size_t)count);
}

/* Makes r current with the store, and leaves it read-locked. With users,
 * the user cells too: they load on the first query that needs them (with
 * the rest, from one snapshot), and stay loaded after. Rollups newer than
 * the version read are current too: this process's commits land in them
 * (the commit hook) before the store's counter is read again, so only a
 * commit they have not seen (another process's) makes them reload, which
 * holds the write lock, and with it this process's commits. A store that
 * keeps a change log (PostgreSQL) hands over only the cells' changes since
 * the rollups' version, this process's commits among them. */
static int fresh_rollups(tm_store *s, tm_rollups *r, int users)
{
    for (int attempt = 0;; attempt++) {
        int64_t v = -2;
        int rc = s->ops->version(s, &v);
        if (rc)
            return rc;
        pthread_rwlock_rdlock(&r->lock);
        if (r->loaded && r->version >= v && (!users || r->users_loaded))
            return TM_OK;
        pthread_rwlock_unlock(&r->lock);
        pthread_rwlock_wrlock(&r->lock);
        if (!r->loaded || r->version < v || (users && !r->users_loaded)) {
            int64_t got = -1;
            int with_users = users || r->users_loaded;
            rc = TM_ENOTFOUND;
            /* Only what changed, where the store can tell it (PostgreSQL). */
            if (r->loaded && r->users_loaded == with_users && s->ops->load_changes)
                rc = s->ops->load_changes(s, r->version, with_users, load_cell, r, &got);
            if (rc == TM_ENOTFOUND) {
                tm__rollups_clear(r);
                if (tm__rollups_restore(r, v, with_users)) { /* the snapshot, once */
                    got = v;
                    rc = TM_OK;
                } else {
                    r->users_loaded = with_users; /* lets the load merge user cells */
                    rc = s->ops->load_rollups(s, with_users, load_cell, r, &got);
                }
            }
            if (rc) {
                tm__rollups_clear(r);
                pthread_rwlock_unlock(&r->lock);
                return rc;
            }
            r->version = got;
            r->loaded = 1;
        }
        pthread_rwlock_unlock(&r->lock);
        if (attempt == 3) { /* writers keep moving: use what is loaded */
            pthread_rwlock_rdlock(&r->lock);
            return TM_OK;
        }
    }
}

/* The totals of the range (interval none) from the model projection: day
 * cells for the whole UTC days, hour cells for the whole hours around
 * them, events for the rest (a part of an hour at either end). Caller
 * holds r's read lock. */
static int model_totals(run *x, const tm_rollups *r)
{
    const int64_t from = x->res->from, to = x->res->to;
    int64_t h0 = floor_div(from + US_PER_HOUR - 1, US_PER_HOUR), h1 = floor_div(to, US_PER_HOUR);
    int64_t d0 = floor_div(h0 + 23, 24) * 24, d1 = floor_div(h1, 24) * 24;
    tm_store *s = x->store;
    if (h0 >= h1)
        return s->ops->scan_facts(s, from, to, NULL, 0, add_total_fact, x);
    if (d0 >= d1)
        d0 = d1 = h1;
    int rc = tm__rollups_each(r, TM_PROJ_MODEL + TM_DAY, (int32_t)d0, (int32_t)d1, add_total, x);
    if (rc == TM_OK)
        rc = tm__rollups_each(r, TM_PROJ_MODEL, (int32_t)h0, (int32_t)d0, add_total, x);
    if (rc == TM_OK)
        rc = tm__rollups_each(r, TM_PROJ_MODEL, (int32_t)d1, (int32_t)h1, add_total, x);
    if (rc == TM_OK && from < h0 * US_PER_HOUR)
        rc = s->ops->scan_facts(s, from, h0 * US_PER_HOUR, NULL, 0, add_total_fact, x);
    if (rc == TM_OK && h1 * US_PER_HOUR < to)
        rc = s->ops->scan_facts(s, h1 * US_PER_HOUR, to, NULL, 0, add_total_fact, x);
    return rc;
}

/* Every UTC day lies inside one period of the result, so daily cells can
 * be assigned to periods whole. */
static int days_in_periods(const tm_qresult *res)
{
    return res->interval == TM_I_NONE ||
           (res->interval != TM_I_HOUR && strcmp(tm__tz_name(res->tz), "UTC") == 0);
}

static void plan_day(run *x, int64_t t0, struct day_plan *dp);

/* An hour cell of a day whose day cell stands for another piece of it
 * (hour_days): added to its own period and taken from that piece's. The
 * day cell is added first, so its sketch holds what is taken. */
static int move_hour(void *arg, const tm_cell *c)
{
    run *x = arg;
    int rc = add_cell(x, c);
    if (rc || !passes(x, c->key.dim))
        return rc;
    tm_cell *row = row_for(x, x->cut_period, c->key.dim);
    const tm_sketch *sk = SK(x, c);
    tm_sketch_acc *acc = row && (sk->n || sk->zeros) ? acc_for(x, row) : NULL;
    if (!row || (!acc && (sk->n || sk->zeros)))
        return TM_ENOMEM;
    tm__sums_add_signed(&row->s, &c->s, -1);
    if (acc)
        tm__sketch_acc_take_sketch(acc, sk);
    x->subtracted = 1;
    return TM_OK;
}

/* An event of a part of a cut day outside the piece its day cell stands
 * for (hour_days): added to its own period and taken from that piece's. */
static int move_fact(void *arg, const tm_fact *f)
{
    run *x = arg;
    if (count_read(x))
        return TM_ETOOBIG;
    if (!passes(x, f->dim))
        return 0;
    int rc = fact_into(x, period_of(x, f->ts_us), f, 1);
    return rc ? rc : fact_into(x, x->cut_period, f, -1);
}

/* The events of [from, to) through fn (the hourly plan's few). */
static int events_of(run *x, int64_t from, int64_t to, int (*fn)(void *, const tm_fact *))
{
    if (from >= to)
        return TM_OK;
    x->read_events = 1;
    return x->store->ops->scan_facts(x->store, from, to, NULL, 0, fn, x);
}

/* The hour cells of proj for the hours [a, b) through fn; an hour that a
 * period start cuts (a zone of half- or quarter-hour offsets: Kolkata's
 * days start at 18:30 UTC) from its events through ffn instead. */
static int hours_of(run *x, const tm_rollups *r, int proj, int64_t a, int64_t b,
                    int (*fn)(void *, const tm_cell *), int (*ffn)(void *, const tm_fact *))
{
    if (x->res->interval == TM_I_NONE || tm__tz_whole_hours(x->res->tz))
        return a < b ? tm__rollups_each(r, proj, (int32_t)a, (int32_t)b, fn, x) : TM_OK;
    int rc = TM_OK;
    for (int64_t h = a, from = a; h <= b && rc == TM_OK; h++) {
        int cut = h < b && period_of(x, h * US_PER_HOUR) != period_of(x, (h + 1) * US_PER_HOUR - 1);
        if (h < b && !cut)
            continue;
        if (from < h)
            rc = tm__rollups_each(r, proj, (int32_t)from, (int32_t)h, fn, x);
        if (rc == TM_OK && cut)
            rc = events_of(x, h * US_PER_HOUR, (h + 1) * US_PER_HOUR, ffn);
        from = h + 1;
    }
    return rc;
}

/* The whole UTC days [d0, d1) (their first hours) of an hourly projection
 * from its day cells: runs of days each in one period whole; a day cut by
 * a period start (a Berlin day by week or month on Sundays, by day every
 * day) stands for its longest piece, and the rest moves to its periods:
 * its whole hours' cells, and the events of a part of an hour (zones of
 * half- or quarter-hour offsets). */
static int hour_days(run *x, const tm_rollups *r, int proj, int64_t d0, int64_t d1)
{
    if (days_in_periods(x->res))
        return tm__rollups_each(r, proj + TM_DAY, (int32_t)d0, (int32_t)d1, add_cell, x);
    int rc = TM_OK;
    struct day_plan dp, next;
    for (int64_t d = d0, e; d < d1 && rc == TM_OK; d = e) {
        plan_day(x, d * US_PER_HOUR, &dp);
        for (e = d + 24; dp.kind == DAY_WHOLE && e < d1; e += 24) {
            plan_day(x, e * US_PER_HOUR, &next);
            if (next.kind != DAY_WHOLE || next.period != dp.period)
                break;
        }
        x->cell_period = dp.period;
        rc = tm__rollups_each(r, proj + TM_DAY, (int32_t)d, (int32_t)e, add_cell, x);
        x->cell_period = NO_PERIOD;
        if (rc == TM_OK && dp.kind != DAY_WHOLE) {
            int64_t hs = floor_div(dp.ps, US_PER_HOUR), he = floor_div(dp.pe + US_PER_HOUR - 1, US_PER_HOUR);
            x->cut_period = dp.period;
            rc = hours_of(x, r, proj, d, hs, move_hour, move_fact);
            if (rc == TM_OK)
                rc = events_of(x, hs * US_PER_HOUR, dp.ps, move_fact);
            if (rc == TM_OK)
                rc = events_of(x, dp.pe, he * US_PER_HOUR, move_fact);
            if (rc == TM_OK)
                rc = hours_of(x, r, proj, he, e, move_hour, move_fact);
        }
    }
    return rc;
}

/* The cells of projection proj for the UTC days [h0, h1) (the hours they
 * start at), all of one kind and period (x->cell_kind, x->cell_period).
 * In memory (TM_PROJ_USER; caller holds r's read lock): the named users'
 * cells by key (user, day or week, metric type), else every cell of those
 * days; the weeks from Monday inside [h0, h1) from the week cells (a
 * seventh of the cells to read: a 90-day range is 12 weeks and 6 days).
 * Kept only in the store: the named users' rows. */
static int day_cells(run *x, tm_store *s, tm_rollups *r, int proj, int64_t h0, int64_t h1)
{
    const uint32_t *users = x->ids[TM_D_USER];
    size_t nusers = x->nids[TM_D_USER];
    if (proj != TM_PROJ_USER)
        return s->ops->scan_user_cells(s, proj, users, nusers, (int32_t)h0, (int32_t)h1, add_cell, x);
    int64_t w0 = tm__week_hour(h0 + 6 * 24), w1 = tm__week_hour(h1); /* first and last Monday */
    if (w0 >= w1)
        w0 = w1 = h1;
    const struct { int slot; int64_t a, b, step; } span[3] = {
        {TM_PROJ_USER, h0, w0, 24}, {TM_USER_WEEK, w0, w1, 7 * 24}, {TM_PROJ_USER, w1, h1, 24}};
    int rc = TM_OK;
    for (int k = 0; k < 3 && rc == TM_OK; k++) {
        if (span[k].a >= span[k].b)
            continue;
        if (!x->q->nwhere[TM_D_USER] || r->nmetrics < 0) {
            rc = tm__rollups_each(r, span[k].slot, (int32_t)span[k].a, (int32_t)span[k].b, add_cell, x);
            continue;
        }
        tm_cell_key key;
        memset(&key, 0, sizeof key);
        key.proj = span[k].slot;
        for (size_t u = 0; u < nusers && rc == TM_OK; u++)
            for (int64_t h = span[k].a; h < span[k].b && rc == TM_OK; h += span[k].step)
                for (int m = 0; m < r->nmetrics && rc == TM_OK; m++) {
                    key.hour = (int32_t)h;
                    key.dim[TM_D_USER] = users[u];
                    key.dim[TM_D_METRIC] = r->metrics[m];
                    const tm_cell *c = tm__cellset_find(&r->cells, &key);
                    if (c)
                        rc = add_cell(x, c);
                }
    }
    return rc;
}

/* Plans the UTC day starting at t0 (µs): its part in the range, cut at
 * the starts of periods (found at 15-minute marks, period_of's grain) into
 * pieces; the cells stand for the longest piece (DAY_WHOLE when that is
 * the whole day) unless the events of the part in the range are fewer to
 * read than those of the rest of the day (DAY_EVENTS). */
static void plan_day(run *x, int64_t t0, struct day_plan *dp)
{
    const int64_t DAY = 24 * US_PER_HOUR, Q = 900LL * 1000000;
    int64_t lo = x->res->from > t0 ? x->res->from : t0;
    int64_t hi = x->res->to < t0 + DAY ? x->res->to : t0 + DAY;
    dp->ps = dp->pe = lo;
    dp->period = period_of(x, lo);
    for (int64_t from = lo; from < hi;) {
        int64_t p = period_of(x, from), to = hi;
        if (period_of(x, hi - 1) != p) { /* the first mark in a later period */
            int64_t k0 = floor_div(from, Q) + 1, k1 = floor_div(hi - 1, Q);
            while (k0 < k1) {
                int64_t mid = k0 + (k1 - k0) / 2;
                if (period_of(x, mid * Q) != p)
                    k1 = mid;
                else
                    k0 = mid + 1;
            }
            to = k0 * Q;
        }
        if (to - from > dp->pe - dp->ps) {
            dp->ps = from;
            dp->pe = to;
            dp->period = p;
        }
        from = to;
    }
    if (dp->ps == t0 && dp->pe == t0 + DAY)
        dp->kind = DAY_WHOLE;
    else
        dp->kind = DAY - (dp->pe - dp->ps) <= hi - lo ? DAY_CELL : DAY_EVENTS;
}

static long double sums_num(const tm_sums *s, int m);

/* The kth largest (1 ≤ k ≤ n) of v[0..n), or with neg the kth smallest
 * (negated): a heap of the k largest so far, whose least is the answer, so
 * most values cost one comparison (sorting 10,000 of them, long doubles
 * compared on the x87 unit, was a tenth of a top N). */
static long double kth_largest(const long double *v, size_t n, size_t k, int neg, long double *heap)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        long double y = neg ? -v[i] : v[i];
        if (m == k && y <= heap[0])
            continue;
        size_t j;
        if (m < k) { /* sift up */
            for (j = m++; j > 0 && heap[(j - 1) / 2] > y; j = (j - 1) / 2)
                heap[j] = heap[(j - 1) / 2];
        } else { /* replace the least, sift down */
            for (j = 0;;) {
                size_t c = 2 * j + 1;
                if (c >= k)
                    break;
                if (c + 1 < k && heap[c + 1] < heap[c])
                    c++;
                if (heap[c] >= y)
                    break;
                heap[j] = heap[c];
                j = c;
            }
        }
        heap[j] = y;
    }
    return neg ? -heap[0] : heap[0];
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Top N by an additive metric that no event makes negative (the counts,
 * value, tokens, cost; core/event.c rejects negatives), descending, when
 * some day of the range is not wholly in it: the cells of the whole days
 * are a lower bound of each row (x->rows, the order metric alone), with
 * those of the other days an upper bound (x->hi). A row whose upper bound
 * is below the Nth largest lower bound is below N rows: it can neither
 * make the cut nor tie at it, and is dropped. The others, the candidates,
 * are made exact: every metric from their cells (the visits), then, by the
 * caller, their events of the days cut (x->cand_users: only theirs). */
static int top_by_bounds(run *x)
{
    int m = x->q->order_by, rc = TM_OK;
    size_t n = x->rows.n, ncand = 0;
    long double *lo = malloc((n ? 2 * n : 1) * sizeof *lo);
    x->cand = calloc(n ? n : 1, 1);
    x->ncand = n;
    if (!lo || !x->cand || (n && !hi_for(x, &x->rows.cells[n - 1]))) {
        free(lo);
        return TM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        lo[i] = sums_num(&x->rows.cells[i].s, m);
    long double edge = n >= x->q->limit ? kth_largest(lo, n, x->q->limit, 0, lo + n) : -INFINITY;
    free(lo);
    for (size_t i = 0; i < n; i++) {
        x->cand[i] = sums_num(&x->hi[i], m) >= edge;
        if (x->cand[i])
            memset(&x->rows.cells[i].s, 0, sizeof x->rows.cells[i].s);
        ncand += x->cand[i];
    }
    for (size_t i = 0; i < x->nvisit && rc == TM_OK; i++) {
        const struct visit *v = &x->visit[i];
        if (!v->exact || !x->cand[v->row])
            continue;
        tm_cell *row = &x->rows.cells[v->row];
        tm__sums_add(&row->s, &v->cell->s);
        tm_sketch_acc *acc = acc_for(x, row);
        rc = acc ? tm__sketch_acc_merge(acc, SK(x, v->cell)) : TM_ENOMEM;
    }
    if (rc == TM_OK && ncand < n) { /* else every user's events */
        if (!(x->cand_users = malloc((ncand ? ncand : 1) * sizeof *x->cand_users)))
            return TM_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (x->cand[i])
                x->cand_users[x->ncand_users++] = x->rows.cells[i].key.dim[TM_D_USER];
        qsort(x->cand_users, x->ncand_users, sizeof *x->cand_users, cmp_u32);
        size_t k = 0;
        for (size_t i = 0; i < x->ncand_users; i++)
            if (!k || x->cand_users[k - 1] != x->cand_users[i])
                x->cand_users[k++] = x->cand_users[i];
        x->ncand_users = k;
    }
    x->later_sk = 0; /* the candidates' rows are whole now */
    return rc;
}

/* Reads the events of the span *cs..*ce for daily_cells: the named
 * users', the candidates' (top_by_bounds) or everyone's. */
static int flush_events(run *x, int64_t *cs, int64_t *ce)
{
    if (*ce <= *cs)
        return TM_OK;
    const tm_query_spec *q = x->q;
    const uint32_t *users = q->nwhere[TM_D_USER] ? x->ids[TM_D_USER] : x->cand_users;
    size_t nusers = q->nwhere[TM_D_USER] ? x->nids[TM_D_USER] : x->ncand_users;
    int64_t from = *cs, to = *ce;
    *cs = *ce = 0;
    x->read_events = 1;
    return x->store->ops->scan_facts(x->store, from, to, users, nusers, add_day_fact, x);
}

/* Adds [from, to) to the events to read: to the pending span when it
 * follows on, else the pending span is read first. */
static int day_events(run *x, int64_t *cs, int64_t *ce, int64_t from, int64_t to)
{
    if (from >= to)
        return TM_OK;
    if (*ce > *cs && from == *ce) {
        *ce = to;
        return TM_OK;
    }
    int rc = flush_events(x, cs, ce);
    *cs = from;
    *ce = to;
    return rc;
}

/* By-user questions from the daily user cells (projection proj), in any
 * zone, for any range and interval but hours: each UTC day of the range is
 * planned (plan_day); runs of days of one kind and period are read from
 * the cells, then the events of the days cut (in their periods, and taken
 * from the pieces the cells stand for). Top N by a metric: the first pass
 * adds the order metric alone (later_sk), by bounds when days are cut
 * (top_by_bounds). With TM_PROJ_USER, leaves r read-locked (*locked) when
 * the rows still point into its cells. */
static int daily_cells(run *x, tm_store *s, tm_rollups *r, int proj, int *locked)
{
    const tm_query_spec *q = x->q;
    const tm_qresult *res = x->res;
    const int64_t DAY = 24 * US_PER_HOUR;
    int64_t a = floor_div(res->from, DAY) * 24, b = floor_div(res->to - 1, DAY) * 24 + 24;
    size_t n = (size_t)((b - a) / 24);
    int rc = TM_OK, split = 0, cells = 0;
    if (!(x->days = calloc(n, sizeof *x->days)))
        return TM_ENOMEM;
    x->ndays = n;
    x->day0 = a;
    for (size_t i = 0; i < n; i++) {
        plan_day(x, (a + 24 * (int64_t)i) * US_PER_HOUR, &x->days[i]);
        split |= x->days[i].kind != DAY_WHOLE;
    }
    int top = proj == TM_PROJ_USER && !q->nwhere[TM_D_USER] && q->order_by >= 0 && q->limit &&
              (q->order_by < TM_M_P50 || q->order_by > TM_M_P99);
    x->bounds = top && split && res->interval == TM_I_NONE && !q->order_asc && q->order_by <= TM_M_ERRORS;
    x->later_sk = x->bounds || (top && !split && !(q->fill && res->interval != TM_I_NONE));
    if (proj == TM_PROJ_USER) {
        if ((rc = fresh_rollups(s, r, 1)))
            return rc;
        *locked = 1;
    }
    for (size_t i = 0, j; i < n && rc == TM_OK; i = j) {
        const struct day_plan *d = &x->days[i];
        for (j = i + 1; j < n && x->days[j].kind == d->kind && x->days[j].period == d->period; j++)
            ;
        if (d->kind == DAY_EVENTS && !x->bounds)
            continue;
        x->cell_kind = d->kind;
        x->cell_period = d->period;
        cells = 1;
        rc = day_cells(x, s, r, proj, a + 24 * (int64_t)i, a + 24 * (int64_t)j);
    }
    x->cell_period = NO_PERIOD;
    if (rc == TM_OK && x->bounds)
        rc = top_by_bounds(x);
    if (*locked && !x->later_sk && !x->bounds) { /* the rows hold their sums */
        pthread_rwlock_unlock(&r->lock);
        *locked = 0;
    }
    int none = q->nwhere[TM_D_USER] && !x->nids[TM_D_USER]; /* named users never stored */
    int64_t cs = 0, ce = 0;
    for (size_t i = 0; i < n && rc == TM_OK && !none; i++) {
        const struct day_plan *d = &x->days[i];
        int64_t t0 = (a + 24 * (int64_t)i) * US_PER_HOUR;
        if (d->kind == DAY_EVENTS)
            rc = day_events(x, &cs, &ce, res->from > t0 ? res->from : t0,
                            res->to < t0 + DAY ? res->to : t0 + DAY);
        else if (d->kind == DAY_CELL && (rc = day_events(x, &cs, &ce, t0, d->ps)) == TM_OK)
            rc = day_events(x, &cs, &ce, d->pe, t0 + DAY);
    }
    if (rc == TM_OK)
        rc = flush_events(x, &cs, &ce);
    x->res->plan = !cells ? "events" : x->read_events ? "rollups+events" : "rollups";
    return rc;
}

static int resolve_time(const char *text, const tm_tz *tz, int64_t *out, const char *key)
{
    const char *why;
    size_t n = strlen(text);
    if (tm__time_parse(text, n, out, &why) != 0)
        return tm__fail(TM_EINVAL, "%s: '%s' %s", key, text, why);
    if (n == 10 && text[4] == '-') /* a date: midnight in the query's zone */
        *out = tm__tz_local_to_utc(tz, *out / 1000000) * 1000000;
    return TM_OK;
}

int tm__query_range(const tm_query_spec *q, int64_t now_us, tm_tz **tz, int64_t *from, int64_t *to)
{
    int rc = tm__tz_load(q->tz ? q->tz : "UTC", tz);
    if (rc)
        return rc;
    /* By default the 30 days up to now. */
    *to = now_us;
    if (q->to && (rc = resolve_time(q->to, *tz, to, "to")))
        return rc;
    *from = *to - 30 * 24 * US_PER_HOUR;
    if (q->from && (rc = resolve_time(q->from, *tz, from, "from")))
        return rc;
    return *from < *to ? TM_OK : tm__fail(TM_EINVAL, "from: must be before to");
}

static int cmp_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* The additive metrics (TM_M_EVENTS..TM_M_ERRORS) of s. */
static long double sums_num(const tm_sums *s, int m)
{
    switch (m) {
    case TM_M_EVENTS: return s->events;
    case TM_M_REQUESTS: return s->requests;
    case TM_M_VALUE: return (long double)s->value;
    case TM_M_INPUT: return s->input;
    case TM_M_OUTPUT: return s->output;
    case TM_M_CACHE_READ: return s->cache_read;
    case TM_M_CACHE_WRITE: return s->cache_write;
    case TM_M_REASONING: return s->reasoning;
    case TM_M_TOTAL: return s->total;
    case TM_M_COST: return (long double)s->cost;
    case TM_M_UNPRICED: return s->unpriced;
    default: return s->errors;
    }
}

static long double metric_num(const tm_qrow *r, int m)
{
    const tm_sums *s = &r->s;
    if (m <= TM_M_ERRORS)
        return sums_num(s, m);
    switch (m) {
    case TM_M_ERROR_RATE: return s->events ? (long double)s->errors / s->events : 0;
    case TM_M_P50: return tm__sketch_acc_quantile(&r->sk, 0.50);
    case TM_M_P95: return tm__sketch_acc_quantile(&r->sk, 0.95);
    case TM_M_P99: return tm__sketch_acc_quantile(&r->sk, 0.99);
    default: return s->lat_n ? (long double)s->lat_sum / s->lat_n : -1;
    }
}

typedef struct sort_ctx {
    const tm_query_spec *q;
    const tm_qresult *res;
} sort_ctx;

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
    const tm_qrow *a = pa, *b = pb;
    const sort_ctx *ctx = arg;
    const tm_query_spec *sort_q = ctx->q;
    const tm_qresult *sort_res = ctx->res;
    if (sort_q->order_by >= 0) {
        long double x = metric_num(a, sort_q->order_by), y = metric_num(b, sort_q->order_by);
        if (x != y)
            return (x < y) == sort_q->order_asc ? -1 : 1;
    }
    if (a->period != b->period)
        return a->period < b->period ? -1 : 1;
    for (int i = 0; i < sort_res->ngroup; i++) {
        int c = cmp_str(a->dim[sort_res->group[i]], b->dim[sort_res->group[i]]);
        if (c)
            return c;
    }
    return 0;
}

/* The name of dict id `id` for dimension d, in the result's arena. */
static const char *dim_name(run *x, int d, uint32_t id)
{
    char buf[4200];
    if (d == TM_D_SUCCESS)
        return id == 2 ? "true" : "false";
    if (id == 0 || x->store->ops->dict_name(x->store, id, buf, sizeof buf) != TM_OK)
        return "";
    return tm__arena_strndup(&x->res->arena, buf, strlen(buf));
}

/* Names the grouped dimensions of res's rows from their cells' dict ids,
 * each id read from the store once: rows of many periods repeat them, and
 * a store read is a statement (3000 rows: a third of a query's time). */
static int name_rows(run *x, tm_qresult *res)
{
    const char **names = NULL;
    size_t nnames = 0;
    for (size_t i = 0; i < res->nrows; i++)
        for (int d = 0; d < TM_NDIM; d++) {
            if (!(x->grouped & (1u << d)))
                continue;
            uint32_t id = x->rows.cells[res->rows[i].cell].key.dim[d];
            if (d == TM_D_SUCCESS || id >= BY_ID_MAX) {
                res->rows[i].dim[d] = dim_name(x, d, id);
                continue;
            }
            const char **more = by_id_room(names, &nnames, sizeof *names, id);
            if (!more) {
                free(names);
                return TM_ENOMEM;
            }
            names = more;
            if (!names[id])
                names[id] = dim_name(x, d, id);
            res->rows[i].dim[d] = names[id];
        }
    free(names);
    return TM_OK;
}

int tm__query_run(tm_store *s, tm_rollups *r, const tm_query_spec *q, int64_t now_us,
                  tm_qresult **out)
{
    run x;
    int rc, locked = 0;
    tm_qresult *res = calloc(1, sizeof *res);
    memset(&x, 0, sizeof x);
    x.store = s;
    x.q = q;
    x.res = res;
    x.by_id = -1;
    x.cell_period = NO_PERIOD;
    *out = NULL;
    if (!res)
        return TM_ENOMEM;
    res->interval = q->interval;
    res->metrics = q->metrics ? q->metrics : (1u << TM_NMETRIC) - 1;
    x.no_sk = !(res->metrics & QUANTILES) && !(q->order_by >= 0 && (QUANTILES >> q->order_by & 1));
    res->ngroup = q->ngroup;
    memcpy(res->group, q->group, sizeof res->group);
    res->totals.period = 0;
    if ((rc = tm__query_range(q, now_us, &res->tz, &res->from, &res->to)))
        goto out;
    for (int i = 0; i < q->ngroup; i++)
        x.grouped |= 1u << q->group[i];
    if (q->ngroup == 1 && q->interval == TM_I_NONE)
        x.by_id = q->group[0];
    unsigned needed = x.grouped;
    /* Filters: names to dict ids; an unknown name matches nothing. */
    for (int d = 0; d < TM_NDIM; d++) {
        if (!q->nwhere[d])
            continue;
        needed |= 1u << d;
        x.ids[d] = calloc(q->nwhere[d], sizeof *x.ids[d]);
        if (!x.ids[d]) {
            rc = TM_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < q->nwhere[d]; i++) {
            uint32_t id = 0;
            const char *v = q->where[d][i];
            if (d == TM_D_SUCCESS)
                id = strcmp(v, "true") == 0 ? 2 : 1;
            else if (*v && (rc = s->ops->dict_id(s, v, &id)))
                goto out;
            if (d != TM_D_SUCCESS && *v && id == 0)
                continue; /* never stored */
            size_t k = 0;
            while (k < x.nids[d] && x.ids[d][k] != id)
                k++;
            if (k == x.nids[d]) /* once each: user cells are read per user */
                x.ids[d][x.nids[d]++] = id;
        }
    }
    /* The first projection holding every needed dimension; the user
     * projections kept only in the store are read a user at a time, so they
     * serve queries that name their users. */
    int proj = -1;
    for (int p = 0; p < TM_NPROJ_ALL && proj < 0; p++)
        if ((needed & ~tm__proj_dims[p]) == 0 && (p < TM_NPROJ || q->nwhere[TM_D_USER]))
            proj = p;
    int64_t h0 = (res->from + US_PER_HOUR - 1) / US_PER_HOUR, h1 = res->to / US_PER_HOUR;
    int64_t d0 = floor_div(res->from + 24 * US_PER_HOUR - 1, 24 * US_PER_HOUR) * 24;
    int64_t d1 = floor_div(res->to, 24 * US_PER_HOUR) * 24;
    if (proj >= 0 && tm__proj_daily(proj) && res->interval != TM_I_HOUR &&
        (res->to - res->from) / (24 * US_PER_HOUR) < TM_PLAN_DAYS_MAX) {
        rc = daily_cells(&x, s, r, proj, &locked);
    } else if (proj >= 0 && !tm__proj_daily(proj) && h0 < h1 &&
               (tm__tz_whole_hours(res->tz) || res->interval != TM_I_HOUR)) {
        if ((rc = fresh_rollups(s, r, 0)))
            goto out;
        locked = 1;
        /* Whole UTC days from day cells (hour_days), hours around. */
        if (res->interval != TM_I_HOUR && d0 < d1) {
            rc = hour_days(&x, r, proj, d0, d1);
            if (rc == TM_OK)
                rc = hours_of(&x, r, proj, h0, d0, add_cell, add_fact);
            if (rc == TM_OK)
                rc = hours_of(&x, r, proj, d1, h1, add_cell, add_fact);
        } else {
            rc = hours_of(&x, r, proj, h0, h1, add_cell, add_fact);
        }
        pthread_rwlock_unlock(&r->lock);
        locked = 0;
        if (rc == TM_OK)
            rc = scan_events(&x, res->from, h0 * US_PER_HOUR);
        if (rc == TM_OK)
            rc = scan_events(&x, h1 * US_PER_HOUR, res->to);
        res->plan = h0 * US_PER_HOUR == res->from && h1 * US_PER_HOUR == res->to && !x.read_events
                        ? "rollups"
                        : "rollups+events";
    } else {
        rc = scan_events(&x, res->from, res->to);
        res->plan = "events";
    }
    if (rc)
        goto out;
    /* Rows: names, order, totals, limit. */
    res->rows = calloc(x.rows.n ? x.rows.n : 1, sizeof *res->rows);
    if (!res->rows) {
        rc = TM_ENOMEM;
        goto out;
    }
    int whole = x.later_sk || x.bounds; /* rows so far: the order metric, or candidates */
    for (size_t i = 0; i < x.rows.n; i++) {
        tm_cell *c = &x.rows.cells[i];
        if ((x.bounds && (i >= x.ncand || !x.cand[i])) || (x.subtracted && !x.later_sk && c->s.events == 0))
            continue; /* not a candidate, or every event taken away */
        tm_qrow *row = &res->rows[res->nrows++];
        int64_t minutes = (int64_t)c->key.proj * ((int64_t)1 << 31) + c->key.hour; /* proj < 0 before 1970 */
        row->period = minutes * 60000000;
        row->cell = (uint32_t)i;
        row->s = c->s;
        if (i < x.naccs) { /* moves the bins */
            row->sk = x.accs[i];
            x.accs[i] = (tm_sketch_acc){0};
        }
        if (whole) /* totals below */
            continue;
        tm__sums_add(&res->totals.s, &row->s);
        if ((rc = tm__sketch_acc_merge_acc(&res->totals.sk, &row->sk)))
            goto out;
    }
    if (whole && (rc = model_totals(&x, r)))
        goto out;
    /* Filling empty periods groups rows by their names: name them all first. */
    int fill = q->fill && res->interval != TM_I_NONE;
    if (fill && ((rc = name_rows(&x, res)) || (rc = tm__qresult_fill(res))))
        goto out;
    sort_ctx ctx = {q, res};
    /* Top N: rows that cannot make it (worse than the Nth by the metric)
     * are dropped before naming, which costs a dictionary read a row. */
    if (q->order_by >= 0 && q->limit && res->nrows > q->limit) {
        /* The Nth value (kth_largest), then the rows at least as good
         * (rows are ~300 bytes: sorting them was a fifth of a top N of
         * 10,000 users). */
        long double *v = malloc(2 * res->nrows * sizeof *v);
        if (!v) {
            rc = TM_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < res->nrows; i++)
            v[i] = metric_num(&res->rows[i], q->order_by);
        long double edge = kth_largest(v, res->nrows, q->limit, q->order_asc, v + res->nrows);
        size_t keep = 0;
        for (size_t i = 0; i < res->nrows; i++) {
            long double y = v[i];
            if (q->order_asc ? y <= edge : y >= edge)
                res->rows[keep++] = res->rows[i];
            else
                tm__sketch_acc_free(&res->rows[i].sk);
        }
        res->nrows = keep;
        free(v);
    }
    if (x.later_sk) { /* the kept rows' sums and sketches, under the same read lock */
        if (!(x.kept = malloc((x.rows.n ? x.rows.n : 1) * sizeof *x.kept))) {
            rc = TM_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < x.rows.n; i++)
            x.kept[i] = -1;
        for (size_t i = 0; i < res->nrows; i++) {
            x.kept[res->rows[i].cell] = (int32_t)i;
            memset(&res->rows[i].s, 0, sizeof res->rows[i].s);
        }
        for (size_t i = 0; i < x.nvisit && rc == TM_OK; i++) {
            int32_t kept = x.kept[x.visit[i].row];
            if (kept < 0)
                continue;
            tm__sums_add(&res->rows[kept].s, &x.visit[i].cell->s);
            rc = tm__sketch_acc_merge(&res->rows[kept].sk, SK(&x, x.visit[i].cell));
        }
        if (rc)
            goto out;
    }
    if (!fill && (rc = name_rows(&x, res)))
        goto out;
    qsort_r(res->rows, res->nrows, sizeof *res->rows, cmp_rows, &ctx);
    if (q->limit && res->nrows > q->limit) {
        for (size_t i = q->limit; i < res->nrows; i++)
            tm__sketch_acc_free(&res->rows[i].sk);
        res->nrows = q->limit;
    }
out:
    if (locked)
        pthread_rwlock_unlock(&r->lock);
    free(x.row_of_id);
    free(x.days);
    free(x.hi);
    free(x.cand);
    free(x.cand_users);
    free(x.kept);
    free(x.visit);
    tm__cellset_free(&x.rows);
    for (size_t i = 0; i < x.naccs; i++)
        tm__sketch_acc_free(&x.accs[i]);
    free(x.accs);
    for (int d = 0; d < TM_NDIM; d++)
        free(x.ids[d]);
    if (rc) {
        tm__qresult_free(res);
        return rc;
    }
    *out = res;
    return TM_OK;
}

void tm__qresult_free(tm_qresult *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nrows; i++)
        tm__sketch_acc_free(&res->rows[i].sk);
    free(res->rows);
    tm__sketch_acc_free(&res->totals.sk);
    tm__tz_free(res->tz);
    tm__arena_free(&res->arena);
    free(res);
}

/* ---- output ---- */

void tm__period_label(const tm_qresult *res, int64_t period, char *buf, size_t cap)
{
    int64_t secs = floor_div(period, 1000000);
    int64_t L = secs + tm__tz_offset(res->tz, secs), days = floor_div(L, 86400), y;
    unsigned m, d;
    tm__civil_from_days(days, &y, &m, &d);
    switch (res->interval) {
    case TM_I_HOUR:
        snprintf(buf, cap, "%04lld-%02u-%02uT%02d:00", (long long)y, m, d,
                 (int)(floor_div(L, 3600) - days * 24));
        break;
    case TM_I_MONTH: snprintf(buf, cap, "%04lld-%02u", (long long)y, m); break;
    default: snprintf(buf, cap, "%04lld-%02u-%02u", (long long)y, m, d);
    }
}

static void trim(char *buf)
{
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *e = buf + strlen(buf) - 1;
    while (e > dot && *e == '0')
        *e-- = '\0';
    if (e == dot)
        *e = '\0';
}

void tm__metric_text(const tm_sums *s, const tm_sketch_acc *sk, int m, char *buf, size_t cap)
{
    switch (m) {
    case TM_M_VALUE: tm__dec_format(s->value, 9, buf); return;
    case TM_M_COST: tm__dec_format(s->cost, 12, buf); return;
    case TM_M_ERROR_RATE:
        tm__dec_ratio(s->errors, s->events ? s->events : 1, 6, buf);
        return;
    case TM_M_P50:
    case TM_M_P95:
    case TM_M_P99: {
        double q = m == TM_M_P50 ? 0.50 : m == TM_M_P95 ? 0.95 : 0.99;
        double v = s->lat_n ? tm__sketch_acc_quantile(sk, q) : -1;
        if (v < 0) {
            snprintf(buf, cap, "null");
        } else {
            snprintf(buf, cap, "%.3f", v);
            trim(buf);
        }
        return;
    }
    case TM_M_AVG:
        if (!s->lat_n) {
            snprintf(buf, cap, "null");
        } else { /* nanoseconds, rounded half to even, as ms */
            tm_i128 q = s->lat_sum / s->lat_n, r = s->lat_sum % s->lat_n;
            if (2 * r > s->lat_n || (2 * r == s->lat_n && (q & 1)))
                q++;
            tm__dec_format(q, 6, buf);
        }
        return;
    }
    const int64_t v[] = {s->events, s->requests, 0, s->input, s->output, s->cache_read,
                         s->cache_write, s->reasoning, s->total, 0, s->unpriced, s->errors};
    snprintf(buf, cap, "%lld", (long long)v[m]);
}

static int json_metrics(tm_buf *b, const tm_qrow *r, uint32_t shown)
{
    int rc = TM_OK;
    const char *sep = "";
    for (int m = 0; m < TM_NMETRIC && rc == TM_OK; m++) {
        if (!(shown >> m & 1))
            continue;
        char t[64];
        tm__metric_text(&r->s, &r->sk, m, t, sizeof t);
        rc = tm__buf_printf(b, "%s\"%s\": %s", sep, tm__metric_names[m], t);
        sep = ", ";
    }
    return rc;
}

int tm__qresult_json(const tm_qresult *res, tm_buf *b)
{
    char from[32], to[32];
    tm__time_format(res->from, from);
    tm__time_format(res->to, to);
    int rc = tm__buf_printf(b, "{\"from\": \"%s\", \"to\": \"%s\", \"interval\": \"%s\", "
                               "\"tz\": \"%s\", \"group_by\": [",
                            from, to, interval_names[res->interval], tm__tz_name(res->tz));
    for (int i = 0; i < res->ngroup && rc == TM_OK; i++)
        rc = tm__buf_printf(b, "%s\"%s\"", i ? ", " : "", tm__dim_names[res->group[i]]);
    if (rc == TM_OK)
        rc = tm__buf_puts(b, "],\n \"rows\": [");
    for (size_t i = 0; i < res->nrows && rc == TM_OK; i++) {
        const tm_qrow *r = &res->rows[i];
        rc = tm__buf_puts(b, i ? ",\n  {" : "\n  {");
        if (rc == TM_OK && res->interval != TM_I_NONE) {
            char label[40];
            tm__period_label(res, r->period, label, sizeof label);
            rc = tm__buf_printf(b, "\"period\": \"%s\", ", label);
        }
        for (int g = 0; g < res->ngroup && rc == TM_OK; g++) {
            int d = res->group[g];
            rc = tm__buf_printf(b, "\"%s\": ", tm__dim_names[d]);
            if (rc == TM_OK)
                rc = d == TM_D_SUCCESS ? tm__buf_puts(b, r->dim[d])
                                       : tm__json_str(b, r->dim[d], strlen(r->dim[d]));
            if (rc == TM_OK)
                rc = tm__buf_puts(b, ", ");
        }
        if (rc == TM_OK)
            rc = json_metrics(b, r, res->metrics);
        if (rc == TM_OK)
            rc = tm__buf_putc(b, '}');
    }
    if (rc == TM_OK)
        rc = tm__buf_puts(b, res->nrows ? "\n ],\n \"totals\": {" : "],\n \"totals\": {");
    if (rc == TM_OK)
        rc = json_metrics(b, &res->totals, res->metrics);
    if (rc == TM_OK)
        rc = tm__buf_puts(b, "}}\n");
    return rc;
}

int tm__qresult_csv(const tm_qresult *res, tm_buf *b)
{
    int rc = res->interval != TM_I_NONE ? tm__buf_puts(b, "period,") : TM_OK;
    for (int g = 0; g < res->ngroup && rc == TM_OK; g++)
        rc = tm__buf_printf(b, "%s,", tm__dim_names[res->group[g]]);
    const char *sep = "";
    for (int m = 0; m < TM_NMETRIC && rc == TM_OK; m++)
        if (res->metrics >> m & 1) {
            rc = tm__buf_printf(b, "%s%s", sep, tm__metric_names[m]);
            sep = ",";
        }
    if (rc == TM_OK)
        rc = tm__buf_puts(b, "\r\n");
    for (size_t i = 0; i < res->nrows && rc == TM_OK; i++) {
        const tm_qrow *r = &res->rows[i];
        if (res->interval != TM_I_NONE) {
            char label[40];
            tm__period_label(res, r->period, label, sizeof label);
            rc = tm__buf_printf(b, "%s,", label);
        }
        for (int g = 0; g < res->ngroup && rc == TM_OK; g++) {
            rc = tm__csv_text(b, r->dim[res->group[g]], 1);
            if (rc == TM_OK)
                rc = tm__buf_putc(b, ',');
        }
        sep = "";
        for (int m = 0; m < TM_NMETRIC && rc == TM_OK; m++) {
            if (!(res->metrics >> m & 1))
                continue;
            char t[64];
            tm__metric_text(&r->s, &r->sk, m, t, sizeof t);
            rc = tm__buf_printf(b, "%s%s", sep, strcmp(t, "null") ? t : "");
            sep = ",";
        }
        if (rc == TM_OK)
            rc = tm__buf_puts(b, "\r\n");
    }
    return rc;
}

/* A table for people: the columns most asked for; counts with thousands
 * separators; cost to 4 decimals, or to two significant digits when small,
 * "unpriced" when no event of the row had a price and a '*' when some had
 * none; columns sized by display width, values over 40 columns cut with an
 * ellipsis. --json and --csv have every metric, exactly. */
int tm__qresult_table(const tm_qresult *res, tm_buf *b)
{
    static const int cols[] = {TM_M_EVENTS, TM_M_TOTAL, TM_M_COST, TM_M_UNPRICED,
                               TM_M_ERROR_RATE, TM_M_P50, TM_M_P95, TM_M_P99};
    static const char *const heads[] = {"EVENTS", "TOKENS", "COST USD", "UNPRICED",
                                        "ERR %", "P50 MS", "P95 MS", "P99 MS"};
    enum { NCOLS = sizeof cols / sizeof cols[0], MAXW = 40 };
    size_t n = res->nrows + 1, ncol = (size_t)res->ngroup + (res->interval != TM_I_NONE);
    size_t width[TM_NDIM + 1] = {0}, mw[NCOLS];
    int rc = TM_OK, partly = 0;
    char label[64];
    char(*cells)[NCOLS][64] = calloc(n, sizeof *cells);
    if (!cells)
        return TM_ENOMEM;
    for (size_t k = 0; k < NCOLS; k++)
        mw[k] = strlen(heads[k]);
    /* The metric cells, and every column's width. */
    for (size_t i = 0; i < n; i++) {
        const tm_qrow *r = i < res->nrows ? &res->rows[i] : &res->totals;
        size_t c = 0;
        if (res->interval != TM_I_NONE) {
            if (i < res->nrows)
                tm__period_label(res, r->period, label, sizeof label);
            else
                snprintf(label, sizeof label, "TOTAL");
            if (strlen(label) > width[c])
                width[c] = strlen(label) > 6 ? strlen(label) : 6;
            c++;
        }
        for (int g = 0; g < res->ngroup; g++, c++) {
            const char *v = i < res->nrows ? r->dim[res->group[g]] : (c == 0 ? "TOTAL" : "");
            size_t l = tm__text_width(v && *v ? v : "-");
            if (l > width[c])
                width[c] = l < MAXW ? l : MAXW;
            if (strlen(tm__dim_names[res->group[g]]) > width[c])
                width[c] = strlen(tm__dim_names[res->group[g]]);
        }
        for (size_t k = 0; k < NCOLS; k++) {
            char *t = cells[i][k];
            int m = cols[k];
            if (m == TM_M_COST) {
                if (r->s.events && r->s.unpriced == r->s.events) {
                    snprintf(t, 64, "unpriced");
                } else {
                    tm__fmt_cost(r->s.cost, t);
                    if (r->s.unpriced) {
                        strcat(t, "*");
                        partly = 1;
                    }
                }
            } else if (m == TM_M_EVENTS || m == TM_M_TOTAL || m == TM_M_UNPRICED) {
                tm__fmt_count(m == TM_M_EVENTS ? r->s.events : m == TM_M_TOTAL ? r->s.total : r->s.unpriced, t);
            } else if (m == TM_M_ERROR_RATE) {
                snprintf(t, 64, "%.2f", r->s.events ? 100.0 * (double)r->s.errors / (double)r->s.events : 0.0);
            } else {
                tm__metric_text(&r->s, &r->sk, m, t, 64);
                if (strcmp(t, "null") == 0)
                    snprintf(t, 64, "-");
                else
                    snprintf(t, 64, "%.1f", strtod(t, NULL));
            }
            if (strlen(t) > mw[k])
                mw[k] = strlen(t);
        }
    }
    if (ncol == 0)
        width[0] = 5;
    /* Header. */
    size_t c = 0;
    if (res->interval != TM_I_NONE)
        rc = tm__buf_printf(b, "%-*s  ", (int)(width[c] > 6 ? width[c] : 6), "PERIOD"), c++;
    for (int g = 0; g < res->ngroup && rc == TM_OK; g++, c++) {
        char up[32];
        snprintf(up, sizeof up, "%s", tm__dim_names[res->group[g]]);
        for (char *p = up; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        rc = tm__buf_printf(b, "%-*s  ", (int)width[c], up);
    }
    if (ncol == 0)
        rc = tm__buf_printf(b, "%-5s  ", "");
    for (size_t k = 0; k < NCOLS && rc == TM_OK; k++)
        rc = tm__buf_printf(b, "%*s%s", (int)mw[k], heads[k], k + 1 < NCOLS ? "  " : "\n");
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        const tm_qrow *r = i < res->nrows ? &res->rows[i] : &res->totals;
        c = 0;
        if (res->interval != TM_I_NONE) {
            if (i < res->nrows)
                tm__period_label(res, r->period, label, sizeof label);
            else
                snprintf(label, sizeof label, "TOTAL");
            rc = tm__buf_printf(b, "%-*s  ", (int)(width[c] > 6 ? width[c] : 6), label);
            c++;
        }
        for (int g = 0; g < res->ngroup && rc == TM_OK; g++, c++) {
            const char *v = i < res->nrows ? r->dim[res->group[g]]
                                           : (res->interval == TM_I_NONE && g == 0 ? "TOTAL" : "");
            rc = tm__buf_cell(b, v && *v ? v : (i < res->nrows ? "-" : ""), width[c], 0);
            if (rc == TM_OK)
                rc = tm__buf_puts(b, "  ");
        }
        if (ncol == 0)
            rc = tm__buf_printf(b, "%-5s  ", i < res->nrows ? "" : "TOTAL");
        for (size_t k = 0; k < NCOLS && rc == TM_OK; k++)
            rc = tm__buf_printf(b, "%*s%s", (int)mw[k], cells[i][k], k + 1 < NCOLS ? "  " : "\n");
    }
    if (rc == TM_OK && partly)
        rc = tm__buf_puts(b, "* some events of the row have no price (see UNPRICED): the cost leaves them out\n");
    free(cells);
    return rc;
}
