/*
 * test_query.c — reports against an independent brute force.
 *
 * Random events (two DST changes inside the range) are stored through the
 * C API; then for every interval, several zones, group-bys, filters and
 * ranges, each report row is compared with a brute-force aggregation of the
 * events read back from the store, whose local periods come from glibc's
 * localtime_r (not tokmeter's own time zone code): counts, tokens, value
 * and cost exactly, percentiles within 1% of the true value at their rank.
 * The cost comparison is also the pricing property: the sum of stored event
 * costs equals the report total to the last digit.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../src/core/dec.h"
#include "../../src/core/json.h"
#include "../../src/core/tmtime.h"
#include "../../src/lib/lib.h"
#include "store_helper.h"
#include "tokmeter.h"

#define NEV 4000

typedef struct bev {
    int64_t ts_us;
    char provider[16], model[32], user[8], endpoint[8];
    int success, llm, has_lat;
    int64_t value, in, out, cr, cw, reason, total, cost, lat_ns, unpriced;
} bev;

static bev evs[NEV];
static char labels[NEV][64]; /* each event's period label for the case being checked */
static size_t nev;
static char dir[64], path[512];

static int collect(void *arg, const tm_event *e)
{
    (void)arg;
    bev *b = &evs[nev++];
    memset(b, 0, sizeof *b);
    b->ts_us = e->ts_us;
    snprintf(b->provider, sizeof b->provider, "%s", e->provider ? e->provider : "");
    snprintf(b->model, sizeof b->model, "%s", e->model ? e->model : "");
    snprintf(b->user, sizeof b->user, "%s", e->user_id ? e->user_id : "");
    snprintf(b->endpoint, sizeof b->endpoint, "%s", e->endpoint ? e->endpoint : "");
    b->success = e->success;
    b->llm = strcmp(e->metric_type, "llm_call") == 0;
    b->value = e->value_nano;
    b->in = e->input_tokens, b->out = e->output_tokens, b->cr = e->cache_read_tokens;
    b->cw = e->cache_write_tokens, b->reason = e->reasoning_tokens, b->total = e->total_tokens;
    b->cost = e->cost_pusd;
    b->unpriced = e->cost_source == TM_COST_UNPRICED;
    b->has_lat = (e->has & TM_HAS_LATENCY) != 0;
    b->lat_ns = e->latency_ns;
    return 0;
}

/* Reads every stored event back into evs (after a write or a reprice). */
static void collect_all(tm *t)
{
    nev = 0;
    tm_event_filter f = {0};
    cr_assert_eq(tm_events(t, &f, collect, NULL), TM_OK);
    cr_assert_eq(nev, NEV);
}

static tm *build(void)
{
    static const char *prov[] = {"openai", "anthropic", "mystery"};
    static const char *models[] = {"gpt-4o-mini", "claude-sonnet-4-5", "x-1"};
    snprintf(dir, sizeof dir, "/tmp/tmq.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "q.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    uint64_t r = 0x1234567;
    /* 2026-03-01 .. 2026-04-20: Berlin and New York change clocks inside. */
    int64_t t0 = 1772323200000000LL, span = 50LL * 86400 * 1000000;
    for (int i = 0; i < NEV; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        char user[8], ep[8];
        int p = (int)(r % 3);
        tm_event ev;
        tm_event_init(&ev);
        ev.ts_us = t0 + (int64_t)(r >> 11) % span;
        ev.provider = prov[p];
        ev.model = models[p];
        snprintf(user, sizeof user, "u%d", (int)((r >> 20) % 7));
        snprintf(ep, sizeof ep, "/e%d", (int)((r >> 24) % 4));
        ev.user_id = (r >> 30) % 10 ? user : NULL;
        ev.endpoint = ep;
        ev.input_tokens = (int64_t)((r >> 33) % 5000);
        ev.output_tokens = (int64_t)((r >> 40) % 700);
        ev.cache_read_tokens = (int64_t)((r >> 45) % 3) * 1000;
        ev.has = TM_HAS_TS | TM_HAS_TOKENS | TM_HAS_SUCCESS;
        ev.success = (r >> 50) % 17 != 0;
        if ((r >> 52) % 9) { /* heavy-tailed latency, sometimes absent */
            double u = (double)((r >> 8) % 1000000) / 1e6 + 1e-6;
            ev.latency_ns = (int64_t)(200e6 / pow(u, 0.7));
            ev.has |= TM_HAS_LATENCY;
        }
        if ((r >> 55) % 11 == 0) {
            ev.metric_type = "evaluation_run";
            ev.value_nano = (int64_t)((r >> 3) % 5000) * 1000000;
            ev.has |= TM_HAS_VALUE;
        }
        cr_assert_eq(tm_track(t, &ev), TM_OK, "%s", tm_errmsg());
    }
    cr_assert_eq(tm_flush(t), TM_OK);
    collect_all(t);
    return t;
}

/* The brute force's period label of ts in zone tz, via glibc. */
static void label(int64_t ts_us, const char *interval, char *buf, size_t cap)
{
    time_t secs = (time_t)(ts_us / 1000000);
    struct tm lt;
    localtime_r(&secs, &lt);
    if (strcmp(interval, "hour") == 0) {
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:00", lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday, lt.tm_hour);
    } else if (strcmp(interval, "day") == 0) {
        snprintf(buf, cap, "%04d-%02d-%02d", lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday);
    } else if (strcmp(interval, "week") == 0) {
        struct tm d = {0};
        d.tm_year = lt.tm_year, d.tm_mon = lt.tm_mon;
        d.tm_mday = lt.tm_mday - (lt.tm_wday + 6) % 7;
        time_t x = timegm(&d);
        gmtime_r(&x, &d);
        snprintf(buf, cap, "%04d-%02d-%02d", d.tm_year + 1900, d.tm_mon + 1, d.tm_mday);
    } else if (strcmp(interval, "month") == 0) {
        snprintf(buf, cap, "%04d-%02d", lt.tm_year + 1900, lt.tm_mon + 1);
    } else {
        buf[0] = '\0';
    }
}

static const char *dimval(const bev *b, const char *dim)
{
    if (strcmp(dim, "provider") == 0) return b->provider;
    if (strcmp(dim, "model") == 0) return b->model;
    if (strcmp(dim, "user_id") == 0) return b->user;
    if (strcmp(dim, "endpoint") == 0) return b->endpoint;
    if (strcmp(dim, "metric_type") == 0) return b->llm ? "llm_call" : "evaluation_run";
    if (strcmp(dim, "success") == 0) return b->success ? "true" : "false";
    return "";
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Checks one report row against the brute force over the events that fall
 * in it. */
static void check_row(const tm_jv *row, const char **gdims, int ngroup,
                      int64_t from, int64_t to, const char *fdim, const char *fval, const char *what)
{
    const tm_jv *pv = tm__json_get(row, "period");
    int64_t n = 0, req = 0, in = 0, out = 0, cr = 0, total = 0, errors = 0, unpriced = 0, latn = 0;
    __int128 cost = 0, value = 0, latsum = 0;
    static int64_t lats[NEV];
    for (size_t i = 0; i < nev; i++) {
        const bev *b = &evs[i];
        if (b->ts_us < from || b->ts_us >= to)
            continue;
        if (fdim && strcmp(dimval(b, fdim), fval) != 0)
            continue;
        if (pv && strcmp(labels[i], pv->s) != 0)
            continue;
        int match = 1;
        for (int g = 0; g < ngroup && match; g++) {
            const tm_jv *v = tm__json_get(row, gdims[g]);
            const char *want = v->type == TM_J_STRING ? v->s : v->type == TM_J_TRUE ? "true" : "false";
            match = strcmp(dimval(b, gdims[g]), want) == 0;
        }
        if (!match)
            continue;
        n++, req += b->llm, in += b->in, out += b->out, cr += b->cr, total += b->total;
        errors += !b->success, unpriced += b->unpriced, cost += b->cost, value += b->value;
        if (b->has_lat) {
            lats[latn++] = b->lat_ns;
            latsum += b->lat_ns;
        }
    }
    char buf[64];
#define EXPECT_INT(key, v)                                                                     \
    cr_expect_str_eq(tm__json_get(row, key)->s, (snprintf(buf, sizeof buf, "%lld", (long long)(v)), buf), \
                     "%s: %s", what, key)
    EXPECT_INT("events", n);
    EXPECT_INT("requests", req);
    EXPECT_INT("input_tokens", in);
    EXPECT_INT("output_tokens", out);
    EXPECT_INT("cache_read_tokens", cr);
    EXPECT_INT("total_tokens", total);
    EXPECT_INT("errors", errors);
    EXPECT_INT("unpriced", unpriced);
    tm__dec_format(cost, 12, buf);
    cr_expect_str_eq(tm__json_get(row, "cost_usd")->s, buf, "%s: cost_usd", what);
    tm__dec_format(value, 9, buf);
    cr_expect_str_eq(tm__json_get(row, "value")->s, buf, "%s: value", what);
    const tm_jv *p50 = tm__json_get(row, "latency_p50_ms");
    if (latn == 0) {
        cr_expect_eq(p50->type, TM_J_NULL, "%s: p50 should be null", what);
        return;
    }
    cr_expect_eq(p50->type, TM_J_NUMBER, "%s: p50 is missing, want a number (%lld latencies)", what,
                 (long long)latn);
    if (p50->type != TM_J_NUMBER)
        return;
    qsort(lats, (size_t)latn, sizeof lats[0], cmp_i64);
    static const struct { const char *key; double q; } qs[] = {
        {"latency_p50_ms", 0.50}, {"latency_p95_ms", 0.95}, {"latency_p99_ms", 0.99}};
    for (int k = 0; k < 3; k++) {
        double truth = (double)lats[(int64_t)floor(qs[k].q * (double)(latn - 1))] / 1e6;
        double got = strtod(tm__json_get(row, qs[k].key)->s, NULL);
        cr_expect(fabs(got - truth) <= 0.0101 * truth, "%s: %s %.3f vs true %.3f", what,
                  qs[k].key, got, truth);
    }
    tm_i128 q = latsum / latn, rem = latsum % latn;
    if (2 * rem > latn || (2 * rem == latn && (q & 1)))
        q++;
    tm__dec_format(q, 6, buf);
    cr_expect_str_eq(tm__json_get(row, "latency_avg_ms")->s, buf, "%s: avg", what);
}

static void run_case(tm *t, const char *zone, const char *interval, const char *group,
                     const char *from_s, const char *to_s, const char *where)
{
    const char *params[20];
    int np = 0;
    params[np++] = "from", params[np++] = from_s;
    params[np++] = "to", params[np++] = to_s;
    params[np++] = "interval", params[np++] = interval;
    params[np++] = "tz", params[np++] = zone;
    if (group)
        params[np++] = "group_by", params[np++] = group;
    if (where)
        params[np++] = "where", params[np++] = where;
    params[np] = NULL;
    tm_report *rep = NULL;
    cr_assert_eq(tm_report_run(t, params, &rep), TM_OK, "%s", tm_errmsg());
    const char *json = tm_report_json(rep);
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200];
    cr_assert_eq(tm__json_parse(&a, json, strlen(json), &v, err, sizeof err), TM_OK, "%s", err);
    int64_t from = 0, to = 0;
    setenv("TZ", zone, 1);
    tzset();
    for (size_t i = 0; i < nev; i++)
        label(evs[i].ts_us, interval, labels[i], sizeof labels[i]);
    /* The range as the report resolved it. */
    struct tm ft = {0};
    const char *rf = tm__json_get(v, "from")->s, *rt = tm__json_get(v, "to")->s;
    sscanf(rf, "%d-%d-%dT%d:%d:%d", &ft.tm_year, &ft.tm_mon, &ft.tm_mday, &ft.tm_hour, &ft.tm_min, &ft.tm_sec);
    ft.tm_year -= 1900, ft.tm_mon -= 1;
    from = (int64_t)timegm(&ft) * 1000000;
    memset(&ft, 0, sizeof ft);
    sscanf(rt, "%d-%d-%dT%d:%d:%d", &ft.tm_year, &ft.tm_mon, &ft.tm_mday, &ft.tm_hour, &ft.tm_min, &ft.tm_sec);
    ft.tm_year -= 1900, ft.tm_mon -= 1;
    to = (int64_t)timegm(&ft) * 1000000;
    const char *gdims[4];
    int ng = 0;
    char gbuf[64];
    if (group) {
        snprintf(gbuf, sizeof gbuf, "%s", group);
        for (char *p = strtok(gbuf, ","); p; p = strtok(NULL, ","))
            gdims[ng++] = p;
    }
    char fdim[32] = "", fval[32] = "";
    if (where)
        sscanf(where, "%31[^=]=%31s", fdim, fval);
    char what[256];
    const tm_jv *rows = tm__json_get(v, "rows");
    int64_t sum = 0;
    for (size_t i = 0; i < rows->n; i++) {
        snprintf(what, sizeof what, "%s %s %s %s..%s where %s row %zu", zone, interval,
                 group ? group : "-", from_s, to_s, where ? where : "-", i);
        check_row(rows->vals[i], gdims, ng, from, to, where ? fdim : NULL, fval, what);
        sum += strtoll(tm__json_get(rows->vals[i], "events")->s, NULL, 10);
    }
    /* Totals: the same brute force with no period and no grouping. */
    snprintf(what, sizeof what, "%s %s totals", zone, interval);
    check_row(tm__json_get(v, "totals"), NULL, 0, from, to, where ? fdim : NULL, fval, what);
    cr_expect_str_eq(tm__json_get(tm__json_get(v, "totals"), "events")->s,
                     (snprintf(err, sizeof err, "%lld", (long long)sum), err), "rows add up");
    tm__arena_free(&a);
    tm_report_free(rep);
}

/* The rollups snapshot beside the store (SQLite). */
static const char *snapshot_file(void)
{
    static char snap[600];
    snprintf(snap, sizeof snap, "%s-rollups", strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path);
    return snap;
}

static void cleanup(tm *t)
{
    char cmd[128];
    tm_close(t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static const char *zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"};
static const char *intervals[] = {"none", "hour", "day", "week", "month"};

Test(query, matches_brute_force_rollup_and_raw_paths, .timeout = 120)
{
    tm *t = build();
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++)
        for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
            /* aligned hours: rollups (whole-hour zones) */
            run_case(t, zones[z], intervals[i], "provider", "2026-03-02T00:00:00Z", "2026-04-18T00:00:00Z", NULL);
            /* unaligned ends: rollups in the middle, events at the edges */
            run_case(t, zones[z], intervals[i], "model,success", "2026-03-05T10:17:33Z", "2026-04-01T20:45:00Z", NULL);
            /* endpoint projection with a filter */
            run_case(t, zones[z], intervals[i], "endpoint", "2026-03-01T00:00:00Z", "2026-04-21T00:00:00Z",
                     "metric_type=llm_call");
        }
    /* Raw paths: per user, unknown values, absent values. */
    run_case(t, "Europe/Berlin", "day", "user_id", "2026-03-20T00:00:00Z", "2026-04-05T00:00:00Z", NULL);
    run_case(t, "UTC", "none", "endpoint", "2026-03-01T00:00:00Z", "2026-04-21T00:00:00Z", "user_id=u3");
    run_case(t, "UTC", "week", NULL, "2026-03-01T00:00:00Z", "2026-04-21T00:00:00Z", "provider=mystery");
    run_case(t, "UTC", "none", "provider", "2026-03-01T00:00:00Z", "2026-04-21T00:00:00Z", "provider=nobody");
    run_case(t, "UTC", "none", "user_id", "2026-03-01T00:00:00Z", "2026-04-21T00:00:00Z", "user_id=");
    /* After a restart the rollups come back from the store, not a rescan. */
    tm_close(t);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    run_case(t, "America/New_York", "day", "provider", "2026-03-02T00:00:00Z", "2026-04-18T00:00:00Z", NULL);
    cleanup(t);
}

/* ---- per-user rollups ---- */

/* The plan that answers params ("rollups", "rollups+events", "events"). */
static const char *plan_of(tm *t, const char *const *params)
{
    static char plan[32];
    tm_query_spec q;
    tm_qresult *res = NULL;
    tm__query_init(&q);
    for (int i = 0; params[i]; i += 2)
        cr_assert_eq(tm__query_set(&q, params[i], params[i + 1]), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__run_query(t, &q, &res), TM_OK, "%s", tm_errmsg());
    snprintf(plan, sizeof plan, "%s", res->plan);
    tm__qresult_free(res);
    tm__query_free(&q);
    return plan;
}

/* run_case, and the plan must be `want`: user queries read cells. */
static void user_case(tm *t, const char *zone, const char *interval, const char *group,
                      const char *from_s, const char *to_s, const char *where, const char *want)
{
    run_case(t, zone, interval, group, from_s, to_s, where);
    const char *params[16] = {"from", from_s, "to", to_s, "interval", interval, "tz", zone};
    int np = 8;
    if (group)
        params[np++] = "group_by", params[np++] = group;
    if (where)
        params[np++] = "where", params[np++] = where;
    params[np] = NULL;
    cr_expect_str_eq(plan_of(t, params), want, "plan of %s %s %s where %s", zone, interval,
                     group ? group : "-", where ? where : "-");
}

/* The range a report resolved (its "from" and "to"), in µs. */
static void resolved(const tm_jv *v, int64_t *from, int64_t *to)
{
    for (int k = 0; k < 2; k++) {
        struct tm ft = {0};
        sscanf(tm__json_get(v, k ? "to" : "from")->s, "%d-%d-%dT%d:%d:%d", &ft.tm_year, &ft.tm_mon,
               &ft.tm_mday, &ft.tm_hour, &ft.tm_min, &ft.tm_sec);
        ft.tm_year -= 1900, ft.tm_mon -= 1;
        *(k ? to : from) = (int64_t)timegm(&ft) * 1000000;
    }
}

static __int128 metric_of(const bev *b, const char *metric)
{
    if (strcmp(metric, "cost_usd") == 0)
        return b->cost;
    if (strcmp(metric, "total_tokens") == 0)
        return b->total;
    if (strcmp(metric, "errors") == 0)
        return !b->success;
    if (strcmp(metric, "reasoning_tokens") == 0)
        return b->reason; /* 0 for every event: every user ties */
    return 1;
}

/* Top `limit` users by metric over from_s..to_s in zone: the report's rows
 * are the brute force's, in order (the metric descending, then the name),
 * every metric of each row and of the totals equal; read from cells. */
static void top_users(tm *t, const char *metric, const char *zone, const char *from_s,
                      const char *to_s, size_t limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *params[] = {"from", from_s, "to", to_s, "group_by", "user_id", "order_by", metric,
                            "limit", lim, "tz", zone, NULL};
    static const char *users[] = {"", "u0", "u1", "u2", "u3", "u4", "u5", "u6"};
    enum { NU = 8 };
    tm_report *rep = NULL;
    cr_assert_eq(tm_report_run(t, params, &rep), TM_OK, "%s", tm_errmsg());
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200], buf[64], what[160];
    const char *json = tm_report_json(rep);
    cr_assert_eq(tm__json_parse(&a, json, strlen(json), &v, err, sizeof err), TM_OK, "%s", err);
    int64_t from, to;
    resolved(v, &from, &to);
    __int128 sum[NU] = {0};
    int seen[NU] = {0}, order[NU];
    for (size_t i = 0; i < nev; i++) {
        const bev *b = &evs[i];
        if (b->ts_us < from || b->ts_us >= to)
            continue;
        size_t u = 0;
        while (strcmp(users[u], b->user) != 0)
            u++;
        sum[u] += metric_of(b, metric);
        seen[u] = 1;
    }
    size_t n = 0;
    for (int u = 0; u < NU; u++) /* by name already: a stable insertion by value */
        if (seen[u]) {
            size_t k = n++;
            for (; k > 0 && sum[order[k - 1]] < sum[u]; k--)
                order[k] = order[k - 1];
            order[k] = u;
        }
    size_t want = n < limit ? n : limit;
    const tm_jv *rows = tm__json_get(v, "rows");
    snprintf(what, sizeof what, "top %zu users by %s, %s %s..%s", limit, metric, zone, from_s, to_s);
    cr_assert_eq(rows->n, want, "%s: %zu rows, want %zu", what, rows->n, want);
    for (size_t i = 0; i < want; i++) {
        int u = order[i];
        if (strcmp(metric, "cost_usd") == 0)
            tm__dec_format(sum[u], 12, buf);
        else
            snprintf(buf, sizeof buf, "%lld", (long long)sum[u]);
        cr_expect_str_eq(tm__json_get(rows->vals[i], "user_id")->s, users[u], "%s, row %zu: user", what, i);
        cr_expect_str_eq(tm__json_get(rows->vals[i], metric)->s, buf, "%s, row %zu", what, i);
        /* and every metric of the row, latency percentiles included */
        const char *g[] = {"user_id"};
        char row_what[200];
        snprintf(row_what, sizeof row_what, "%s, row %zu", what, i);
        check_row(rows->vals[i], g, 1, from, to, NULL, NULL, row_what);
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), ": totals");
    check_row(tm__json_get(v, "totals"), NULL, 0, from, to, NULL, NULL, what);
    const char *plan = plan_of(t, params);
    cr_expect(strncmp(plan, "rollups", 7) == 0, "%s: plan %s, want cells", what, plan);
    tm__arena_free(&a);
    tm_report_free(rep);
}

/* Every user query shape, each row and metric against the brute force, and
 * each answered from cells (whole days) with events only at partial days. */
static void user_queries(tm *t)
{
    static const char *metrics[] = {"events", "cost_usd", "total_tokens", "errors"};
    const char *A = "2026-03-02T00:00:00Z", *B = "2026-04-18T00:00:00Z";
    /* one user's month, days and totals: the in-memory user cells by key */
    user_case(t, "UTC", "day", NULL, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "user_id=u3", "rollups");
    user_case(t, "UTC", "none", "metric_type", A, B, "user_id=u5", "rollups");
    user_case(t, "UTC", "week", NULL, A, B, "user_id=u0", "rollups");
    /* events without a user are a user too (the empty name) */
    user_case(t, "UTC", "month", "user_id", A, B, "user_id=", "rollups");
    /* every user: top users, the in-memory user cells scanned */
    user_case(t, "UTC", "none", "user_id", A, B, NULL, "rollups");
    user_case(t, "UTC", "day", "user_id,metric_type", A, B, "metric_type=llm_call", "rollups");
    /* a user's models and endpoints: the store's user cells */
    user_case(t, "UTC", "none", "model", A, B, "user_id=u2", "rollups");
    user_case(t, "UTC", "day", "provider,model,metric_type", A, B, "user_id=u6", "rollups");
    user_case(t, "UTC", "none", "endpoint", A, B, "user_id=u1", "rollups");
    user_case(t, "UTC", "month", "endpoint,user_id", A, B, "user_id=u4", "rollups");
    /* unaligned ends: whole days from cells, the partial days from events */
    user_case(t, "UTC", "none", "user_id", "2026-03-05T10:17:33Z", "2026-04-01T20:45:00Z", NULL, "rollups+events");
    user_case(t, "UTC", "day", "endpoint", "2026-03-05T10:17:33Z", "2026-04-01T20:45:00Z", "user_id=u3",
              "rollups+events");
    /* a quota's period in a zone: one period, cut at local midnights */
    user_case(t, "America/New_York", "none", "metric_type", "2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z",
              "user_id=u2", "rollups+events");
    /* days cut by local midnights: the cells stand for the longest piece
     * of each UTC day, the events of the rest are read */
    user_case(t, "Europe/Berlin", "day", "user_id", A, B, NULL, "rollups+events");
    /* shapes the user cells cannot answer: events, still exact */
    user_case(t, "UTC", "hour", NULL, "2026-03-10T00:00:00Z", "2026-03-12T00:00:00Z", "user_id=u3", "events");
    user_case(t, "UTC", "none", "success", A, B, "user_id=u3", "events");
    user_case(t, "UTC", "none", "user_id,model", A, B, NULL, "events");
    /* 17 hours of a day: the day's cells less the other 7 hours' events */
    user_case(t, "UTC", "none", "model", "2026-03-10T03:00:00Z", "2026-03-10T20:00:00Z", "user_id=u3",
              "rollups+events");
    /* 7 hours of a day: its events alone */
    user_case(t, "UTC", "none", "model", "2026-03-10T03:00:00Z", "2026-03-10T10:00:00Z", "user_id=u3", "events");
    /* Top users: whole UTC days (weeks from Monday among them), and local
     * days in zones whose midnights cut UTC days (Kolkata's by half an
     * hour): by bounds, exact for the candidates; a range reaching past the
     * events (empty partial days); every user tied (reasoning_tokens: 0). */
    static const char *const ranges[][3] = {
        {"UTC", "2026-03-02T00:00:00Z", "2026-04-18T00:00:00Z"},
        {"Europe/Berlin", "2026-03-05", "2026-03-19"},
        {"America/New_York", "2026-03-02", "2026-04-18"},
        {"Asia/Kolkata", "2026-03-05", "2026-03-12"},
        {"UTC", "2026-02-20T05:45:00Z", "2026-05-01T10:30:00Z"},
        {"Europe/Berlin", "2026-02-20", "2026-05-01"},
    };
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++)
            top_users(t, metrics[m], ranges[k][0], ranges[k][1], ranges[k][2], 3);
        top_users(t, "reasoning_tokens", ranges[k][0], ranges[k][1], ranges[k][2], 3);
    }
    /* a limit around the number of users (8, the empty name among them) */
    for (size_t limit = 7; limit <= 9; limit++) {
        top_users(t, "cost_usd", "Europe/Berlin", "2026-03-05", "2026-03-19", limit);
        top_users(t, "cost_usd", "UTC", A, B, limit);
    }
    /* every user, and one user, by local period in zones that cut UTC days */
    static const char *const cut[] = {"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"};
    static const char *const ivs[] = {"none", "day", "week", "month"};
    for (size_t z = 0; z < sizeof cut / sizeof cut[0]; z++)
        for (size_t i = 0; i < sizeof ivs / sizeof ivs[0]; i++) {
            const char *u[] = {"from", "2026-03-04", "to", "2026-04-10", "interval", ivs[i], "tz", cut[z],
                               "group_by", "user_id", NULL};
            const char *one[] = {"from", "2026-03-04", "to", "2026-04-10", "interval", ivs[i], "tz", cut[z],
                                 "group_by", "metric_type", "where", "user_id=u3", NULL};
            run_case(t, cut[z], ivs[i], "user_id", "2026-03-04", "2026-04-10", NULL);
            run_case(t, cut[z], ivs[i], "metric_type", "2026-03-04", "2026-04-10", "user_id=u3");
            cr_expect_str_eq(plan_of(t, u), "rollups+events", "every user by %s in %s", ivs[i], cut[z]);
            cr_expect_str_eq(plan_of(t, one), "rollups+events", "u3 by %s in %s", ivs[i], cut[z]);
        }
    /* A user named twice is counted once. */
    const char *once[] = {"from", A, "to", B, "group_by", "endpoint", "where", "user_id=u3", NULL};
    const char *twice[] = {"from", A, "to", B, "group_by", "endpoint", "where", "user_id=u3,u3", NULL};
    tm_report *r1 = NULL, *r2 = NULL;
    cr_assert_eq(tm_report_run(t, once, &r1), TM_OK);
    cr_assert_eq(tm_report_run(t, twice, &r2), TM_OK);
    cr_expect_str_eq(tm_report_json(r2), tm_report_json(r1), "user_id=u3,u3 differs from user_id=u3");
    tm_report_free(r1);
    tm_report_free(r2);
}

Test(query, user_rollups_match_brute_force, .timeout = 120)
{
    tm *t = build();
    user_queries(t);
    /* After a restart: the user cells come back (from the snapshot the
     * clean close left) with the first query (here an hourly one). */
    tm_close(t);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    user_case(t, "UTC", "day", "provider", "2026-03-02T00:00:00Z", "2026-04-18T00:00:00Z", NULL, "rollups");
    user_queries(t);
    /* After a reprice that changes costs and prices the unpriced: the user
     * cells move by the differences. */
    char prices[160];
    snprintf(prices, sizeof prices, "%s/prices.json", dir);
    FILE *f = fopen(prices, "w");
    cr_assert_not_null(f);
    fputs("{\"models\": [{\"provider\": \"mystery\", \"model\": \"x-1\", \"input_usd_per_mtok\": \"2\"},"
          " {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"input_usd_per_mtok\": \"7.25\","
          " \"output_usd_per_mtok\": \"1\"}]}", f);
    fclose(f);
    tm_close(t);
    tm_options o = {0};
    o.prices = prices;
    cr_assert_eq(tm_open(&t, path, &o), TM_OK, "%s", tm_errmsg());
    tm_reprice_result rr;
    cr_assert_eq(tm_reprice(t, 0, 0, &rr), TM_OK, "%s", tm_errmsg());
    cr_assert_gt(rr.changed, 0, "the reprice changed no event");
    collect_all(t);
    user_queries(t);
    cleanup(t);
}

/* A store written before the per-user rollups (schema 7: no urollup table,
 * no user cells) gets them built from its events when opened. */
Test(query, user_rollups_built_for_an_older_store, .timeout = 120)
{
    if (tst_pg())
        cr_skip_test("a SQLite schema migration test");
    tm *t = build();
    tm_close(t);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, "BEGIN; DROP TABLE urollup; DELETE FROM rollup WHERE proj = 2;"
                                  " PRAGMA user_version = 7; COMMIT;", NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_close(db);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    user_queries(t);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_int(st, 0), 10, "schema version %d, want 10", sqlite3_column_int(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    cleanup(t);
}

/* The store's indexes on events, in name order, comma-separated. */
static void event_indexes(char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t len = 0;
    out[0] = '\0';
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
                                        " AND sql IS NOT NULL ORDER BY name", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Schema 8 → 9: the per-user index on events, (user_id, ts), becomes
 * (UTC day, user_id), and 9 → 10 (UTC day, user_id, ts); the user queries that read events (partial days)
 * still equal the brute force after the migration. */
Test(query, user_index_by_day_after_migration, .timeout = 120)
{
    if (tst_pg())
        cr_skip_test("a SQLite schema migration test");
    tm *t = build();
    tm_close(t);
    char ix[256];
    event_indexes(ix, sizeof ix);
    cr_expect_str_eq(ix, "events_day_user,events_idh,events_ts", "a new store's indexes");
    sqlite3 *db = NULL;
    char *msg = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "BEGIN; DROP INDEX events_day_user; CREATE INDEX events_user_ts ON events(user_id, ts);"
                                  " PRAGMA user_version = 8; COMMIT;", NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_close(db);
    unlink(snapshot_file());
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    event_indexes(ix, sizeof ix);
    cr_expect_str_eq(ix, "events_day_user,events_idh,events_ts", "after migrating a schema-8 store");
    user_queries(t);
    /* Schema 9 → 10: ts joins the index (a few hours of a user's day are a
     * range of it). */
    tm_close(t);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "BEGIN; DROP INDEX events_day_user; CREATE INDEX events_day_user"
                                  " ON events(ts / 86400000000, user_id); PRAGMA user_version = 9; COMMIT;",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_close(db);
    unlink(snapshot_file());
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = 'events_day_user'", -1,
                                    &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect(strstr((const char *)sqlite3_column_text(st, 0), "user_id, ts)") != NULL,
              "after migrating a schema-9 store: %s, want ts last", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    user_queries(t);
    cleanup(t);
}

/* The rollups snapshot: written at a clean close when the rollups are
 * loaded and current, read back by the next open's first query and
 * removed; one that is stale (a commit it has not seen), cut short or not
 * a snapshot at all is passed over for the store's rows. Every time, the
 * answers equal the brute force. */
Test(query, rollup_snapshot_used_once_and_only_when_current, .timeout = 120)
{
    if (tst_pg())
        cr_skip_test("snapshots are kept beside SQLite stores only");
    tm *t = build();
    struct stat st;
    tm_close(t);
    cr_expect_neq(stat(snapshot_file(), &st), 0, "a snapshot without loaded rollups");
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    user_queries(t);
    tm_close(t);
    cr_assert_eq(stat(snapshot_file(), &st), 0, "no snapshot after a clean close with loaded rollups");
    /* Current: used, and consumed by the first query. */
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    cr_expect_eq(stat(snapshot_file(), &st), 0, "the snapshot went before a query needed it");
    user_queries(t);
    cr_expect_neq(stat(snapshot_file(), &st), 0, "the snapshot was left after it was read");
    tm_close(t);
    /* Stale: a reprice (a commit the snapshot has not seen) before the
     * first query. */
    char prices[160];
    snprintf(prices, sizeof prices, "%s/prices.json", dir);
    FILE *f = fopen(prices, "w");
    cr_assert_not_null(f);
    fputs("{\"models\": [{\"provider\": \"mystery\", \"model\": \"x-1\", \"input_usd_per_mtok\": \"3\"}]}", f);
    fclose(f);
    tm_options o = {0};
    o.prices = prices;
    t = NULL;
    cr_assert_eq(tm_open(&t, path, &o), TM_OK, "%s", tm_errmsg());
    tm_reprice_result rr;
    cr_assert_eq(tm_reprice(t, 0, 0, &rr), TM_OK, "%s", tm_errmsg());
    cr_assert_gt(rr.changed, 0, "the reprice changed no event");
    collect_all(t);
    user_queries(t);
    tm_close(t);
    /* Cut short, and not a snapshot: passed over. */
    cr_assert_eq(stat(snapshot_file(), &st), 0);
    cr_assert_eq(truncate(snapshot_file(), st.st_size / 2), 0);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    user_queries(t);
    tm_close(t);
    f = fopen(snapshot_file(), "w");
    cr_assert_not_null(f);
    fputs("not a snapshot", f);
    fclose(f);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    user_queries(t);
    tm_close(t);
    /* The store written by another program between the close and the next
     * open, its commit counter unchanged (as a new store that reuses a
     * removed one's inode can be: seen in tests/cli/ccusage.sh, where the
     * fixture's rollups answered for the generated tree): the store's rows
     * answer, not the snapshot. */
    cr_assert_eq(stat(snapshot_file(), &st), 0);
    sqlite3 *db = NULL;
    char *msg = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "UPDATE rollup SET events = events + 1000 WHERE proj = 0 AND hour ="
                                  " (SELECT MIN(hour) FROM rollup WHERE proj = 0) AND d1 ="
                                  " (SELECT MIN(d1) FROM rollup WHERE proj = 0 AND hour ="
                                  " (SELECT MIN(hour) FROM rollup WHERE proj = 0))", NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg ? msg : "");
    cr_assert_eq(sqlite3_changes(db) > 0, 1, "no rollup row changed");
    sqlite3_close(db);
    struct stat now;
    cr_assert_eq(stat(path, &now), 0);
    struct timespec times[2] = {{0, UTIME_OMIT}, {now.st_mtim.tv_sec + 2, 0}}; /* a later write */
    cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    const char *all[] = {"from", "2026-01-01", "to", "2027-01-01", "tz", "UTC", NULL};
    tm_report *rep = NULL;
    cr_assert_eq(tm_report_run(t, all, &rep), TM_OK, "%s", tm_errmsg());
    cr_expect(strstr(tm_report_json(rep), "\"totals\": {\"events\": 5000,") != NULL,
              "want the store's changed rows (5000 events), got %.60s",
              strstr(tm_report_json(rep), "\"totals\"") ? strstr(tm_report_json(rep), "\"totals\"") : tm_report_json(rep));
    tm_report_free(rep);
    cleanup(t);
}

Test(query, fresh_after_each_write_and_top_n)
{
    tm *t = build();
    const char *params[] = {"from", "2026-01-01", "to", "2027-01-01", "group_by", "endpoint",
                            "order_by", "events", "limit", "2", NULL};
    tm_report *r = NULL;
    cr_assert_eq(tm_report_run(t, params, &r), TM_OK);
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[200];
    cr_assert_eq(tm__json_parse(&a, tm_report_json(r), strlen(tm_report_json(r)), &v, err, sizeof err), TM_OK);
    const tm_jv *rows = tm__json_get(v, "rows");
    cr_assert_eq(rows->n, 2);
    int64_t first = strtoll(tm__json_get(rows->vals[0], "events")->s, NULL, 10);
    int64_t second = strtoll(tm__json_get(rows->vals[1], "events")->s, NULL, 10);
    cr_expect_geq(first, second);
    cr_expect_str_eq(tm__json_get(tm__json_get(v, "totals"), "events")->s, "4000", "totals ignore limit");
    tm_report_free(r);
    /* A synchronous write is visible to the next query (no cache in between). */
    tm_event ev;
    tm_event_init(&ev);
    ev.ts_us = 1775000000000000LL;
    ev.has = TM_HAS_TS;
    ev.endpoint = "/fresh";
    ev.provider = "p";
    cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK);
    const char *p2[] = {"from", "2026-01-01", "to", "2027-01-01", "where", "endpoint=/fresh", NULL};
    cr_assert_eq(tm_report_run(t, p2, &r), TM_OK);
    cr_expect(strstr(tm_report_json(r), "\"totals\": {\"events\": 1,") != NULL, "%s", tm_report_json(r));
    tm_report_free(r);
    /* The same for the user cells, before and after they are loaded. */
    const char *p3[] = {"from", "2026-01-01", "to", "2027-01-01", "where", "user_id=fresh-user", NULL};
    for (int round = 0; round < 2; round++) {
        ev.user_id = "fresh-user";
        cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK);
        cr_assert_eq(tm_report_run(t, p3, &r), TM_OK);
        char want[64];
        snprintf(want, sizeof want, "\"totals\": {\"events\": %d,", round + 1);
        cr_expect(strstr(tm_report_json(r), want) != NULL, "round %d: %s", round, tm_report_json(r));
        cr_expect_str_eq(plan_of(t, p3), "rollups");
        tm_report_free(r);
    }
    tm__arena_free(&a);
    cleanup(t);
}

Test(query, user_usage_c_api)
{
    tm *t = build();
    char *json = NULL;
    cr_assert_eq(tm_user_usage(t, "u3", "2026-03", "UTC", &json), TM_OK, "%s", tm_errmsg());
    int64_t n = 0;
    for (size_t i = 0; i < nev; i++)
        n += strcmp(evs[i].user, "u3") == 0 && evs[i].ts_us >= 1772323200000000LL &&
             evs[i].ts_us < 1775001600000000LL;
    char want[64];
    snprintf(want, sizeof want, "\"current_period\": {\"requests\": %lld,", (long long)n);
    cr_expect(strstr(json, want) != NULL, "%s\nwant %s", json, want);
    free(json);
    cr_expect_eq(tm_user_usage(t, "u3", "2026-13", NULL, &json), TM_EINVAL);
    cr_expect_str_eq(tm_errmsg(), "period: '2026-13' must be a month, YYYY-MM");
    cleanup(t);
}

Test(query, bad_parameters)
{
    tm *t = build();
    static const struct { const char *k, *v, *err; } bad[] = {
        {"interval", "fortnight", "interval: must be hour, day, week, month or none, not 'fortnight'"},
        {"group_by", "colour", "group_by: unknown dimension 'colour' (one of provider, model, user_id, endpoint, operation, metric_type, success, project)"},
        {"where", "provider", "where: 'provider' must be DIMENSION=VALUE[,VALUE...]"},
        {"where", "success=maybe", "where: success must be true or false, not 'maybe'"},
        {"order_by", "speed", "order_by: unknown metric 'speed' (events, cost_usd, total_tokens, latency_p95_ms, ...)"},
        {"limit", "-1", "limit: must be a non-negative integer, not '-1'"},
        {"tz", "Mars/Base", "tz: unknown time zone 'Mars/Base' (IANA names like America/New_York; looked in /usr/share/zoneinfo)"},
        {"from", "yesterday", "from: 'yesterday' must be RFC 3339 (2026-10-01T13:05:00Z) or epoch milliseconds"},
        {"fill", "gaps", "fill: must be zero or none, not 'gaps'"},
        {"metrics", "speed", "metrics: unknown metric 'speed' (events, requests, total_tokens, cost_usd, latency_p95_ms, ...)"},
        {"metrics", "", "metrics: unknown metric '' (events, requests, total_tokens, cost_usd, latency_p95_ms, ...)"},
        {"metrics", "cost_usd,", "metrics: unknown metric '' (events, requests, total_tokens, cost_usd, latency_p95_ms, ...)"},
        {"metrics", "cost_usd,,events", "metrics: unknown metric '' (events, requests, total_tokens, cost_usd, latency_p95_ms, ...)"},
        {"bogus", "1", "bogus: unknown parameter (from, to, interval, tz, group_by, where, order_by, limit, fill, metrics)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *params[] = {bad[i].k, bad[i].v, NULL};
        tm_report *r = NULL;
        cr_expect_eq(tm_report_run(t, params, &r), TM_EINVAL, "%s=%s", bad[i].k, bad[i].v);
        cr_expect_str_eq(tm_errmsg(), bad[i].err);
        cr_expect_null(r);
    }
    const char *inverted[] = {"from", "2026-05-01", "to", "2026-04-01", NULL};
    tm_report *r = NULL;
    cr_expect_eq(tm_report_run(t, inverted, &r), TM_EINVAL);
    cr_expect_str_eq(tm_errmsg(), "from: must be before to");
    cleanup(t);
}

/* Sums of value, cost and latency past 64 bits (two 5,000,000 USD events in
 * one hour: 1e19 pUSD) are stored wide and read back exactly, in the hourly
 * cells and the per-user day cells, in memory and after a restart. */
Test(query, rollup_sums_past_64_bits)
{
    char d[64], p[512];
    snprintf(d, sizeof d, "/tmp/tmo.XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    tst_store_path(d, "o.db", p, sizeof p);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, p, NULL), TM_OK, "%s", tm_errmsg());
    tm_event ev;
    tm_event_init(&ev);
    ev.ts_us = 1775000000000000LL;
    ev.user_id = "big";
    ev.provider = "p";
    ev.cost_pusd = 5000000000000000000LL; /* 5,000,000 USD */
    ev.has = TM_HAS_TS | TM_HAS_COST;
    for (int i = 0; i < 2; i++) /* two commits: the second adds to the stored rows */
        cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK, "%s", tm_errmsg());
    const char *by_user[] = {"from", "2026-03-31", "to", "2026-04-02", "group_by", "user_id", "tz", "UTC", NULL};
    const char *by_provider[] = {"from", "2026-03-31", "to", "2026-04-02", "group_by", "provider", "tz", "UTC", NULL};
    const char *const *qs[] = {by_user, by_provider};
    for (int round = 0; round < 2; round++) {
        for (int q = 0; q < 2; q++) {
            tm_report *r = NULL;
            cr_assert_eq(tm_report_run(t, qs[q], &r), TM_OK, "%s", tm_errmsg());
            cr_expect(strstr(tm_report_json(r), "\"cost_usd\": 10000000,") != NULL, "round %d query %d: %s",
                      round, q, tm_report_json(r));
            cr_expect_str_eq(plan_of(t, qs[q]), "rollups");
            tm_report_free(r);
        }
        tm_close(t); /* then read back from the store */
        t = NULL;
        cr_assert_eq(tm_open(&t, p, NULL), TM_OK, "%s", tm_errmsg());
    }
    tm_close(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    cr_expect_eq(system(cmd), 0);
}

/* GET /v1/errors: the failed events of the newest scan_max, grouped by
 * status and message, most first; `complete` only when the range held no
 * more than scan_max events (the bound at N-1, N and N+1 of the 7 here). */
static void top_errors(tm *t, const char *const *kv, size_t scan_max, tm_top_errors *out)
{
    tm_query_spec q;
    tm__query_init(&q);
    for (size_t i = 0; kv[i]; i += 2)
        cr_assert_eq(tm__query_set(&q, kv[i], kv[i + 1]), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__top_errors(tm__store(t), &q, tm__now_us(), scan_max, out), TM_OK, "%s", tm_errmsg());
    tm__query_free(&q);
}

Test(query, top_errors_by_message)
{
    snprintf(dir, sizeof dir, "/tmp/tmq.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "e.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    /* oldest first: 429 a (openai), ok, 500 b, 429 a (anthropic), ok, 429 a (anthropic), 429 c */
    static const struct { int status; const char *error, *provider; } ev[] = {
        {429, "rate limited", "openai"}, {0, NULL, "openai"}, {500, "internal", "openai"},
        {429, "rate limited", "anthropic"}, {0, NULL, "openai"}, {429, "rate limited", "anthropic"},
        {429, "quota", "openai"},
    };
    for (int i = 0; i < 7; i++) {
        tm_event e;
        tm_event_init(&e);
        e.ts_us = 1775000000000000LL + i * 1000000LL;
        e.provider = ev[i].provider;
        e.model = "m";
        e.has = TM_HAS_TS;
        if (ev[i].status) {
            e.status_code = ev[i].status;
            e.error = ev[i].error;
            e.has |= TM_HAS_STATUS;
        }
        cr_assert_eq(tm_track_sync(t, &e, NULL), TM_OK, "%s", tm_errmsg());
    }
    const char *all[] = {"from", "2026-01-01", "to", "2027-01-01", NULL};
    tm_top_errors te;
    for (size_t bound = 6; bound <= 8; bound++) {
        top_errors(t, all, bound, &te);
        cr_expect_eq(te.scanned, bound < 7 ? (int64_t)bound : 7, "bound %zu: scanned %lld", bound, (long long)te.scanned);
        cr_expect_eq(te.complete, bound >= 7, "bound %zu: complete %d", bound, te.complete);
        cr_expect_eq(te.failed, bound < 7 ? 4 : 5, "bound %zu: failed %lld", bound, (long long)te.failed);
        cr_assert_eq(te.ngroups, 3, "bound %zu: %zu groups", bound, te.ngroups);
        cr_expect_eq(te.groups[0].status, 429);
        cr_expect_str_eq(te.groups[0].error, "rate limited");
        cr_expect_eq(te.groups[0].count, bound < 7 ? 2 : 3);
        cr_expect_str_eq(te.groups[0].provider, "anthropic", "the group's most frequent provider");
        cr_expect_eq(te.groups[0].top_count, 2);
        cr_expect_eq(te.groups[0].last, 1775000000000000LL + 5000000LL);
        tm__top_errors_free(&te);
    }
    /* a range without events (the daemon's default range here): nothing */
    const char *none[] = {"from", "2020-01-01", "to", "2020-02-01", NULL};
    top_errors(t, none, 100, &te);
    cr_expect_eq(te.scanned, 0);
    cr_expect_eq(te.ngroups, 0);
    cr_expect_eq(te.complete, 1);
    tm__top_errors_free(&te);
    /* filters, and limit */
    const char *openai[] = {"from", "2026-01-01", "to", "2027-01-01", "where", "provider:openai", "limit", "1", NULL};
    top_errors(t, openai, 100, &te);
    cr_expect_eq(te.failed, 3);
    cr_assert_eq(te.ngroups, 1);
    cr_expect_eq(te.groups[0].count, 1);
    cr_expect_eq(te.groups[0].status, 429, "ties: the newest group first");
    cr_expect_str_eq(te.groups[0].error, "quota");
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__top_errors_json(&te, &b), TM_OK);
    cr_expect(strstr(b.data, "\"scanned\": {\"events\": 5, \"failed\": 3, \"since\": \"2026-01-01T00:00:00Z\", \"complete\": true}") != NULL, "%s", b.data);
    tm__buf_free(&b);
    tm__top_errors_free(&te);
    cleanup(t);
}

/* metrics=: each row and the totals carry exactly the metrics asked for
 * (after the period and the groups), equal to the same query's answer
 * without it, on every plan: hourly and day cells, user cells with days
 * cut by the zone, top N by bounds, ordered by a quantile not shown (its
 * sketches are still built) and a quantile alone. */
static void metrics_case(tm *t, const char *const *base, const char *metrics, int nshown)
{
    const char *params[32];
    size_t n = 0;
    while (base[n])
        params[n] = base[n], n++;
    params[n] = NULL;
    tm_report *all = NULL, *some = NULL;
    cr_assert_eq(tm_report_run(t, params, &all), TM_OK, "%s", tm_errmsg());
    params[n] = "metrics";
    params[n + 1] = metrics;
    params[n + 2] = NULL;
    cr_assert_eq(tm_report_run(t, params, &some), TM_OK, "%s", tm_errmsg());
    tm_arena a = TM_ARENA_INIT;
    tm_jv *va, *vs;
    char err[200];
    const char *ja = tm_report_json(all), *js = tm_report_json(some);
    cr_assert_eq(tm__json_parse(&a, ja, strlen(ja), &va, err, sizeof err), TM_OK, "%s", err);
    cr_assert_eq(tm__json_parse(&a, js, strlen(js), &vs, err, sizeof err), TM_OK, "%s", err);
    const tm_jv *ra = tm__json_get(va, "rows"), *rs = tm__json_get(vs, "rows");
    cr_assert_eq(rs->n, ra->n, "%s metrics=%s: %zu rows, wanted %zu", base[1], metrics, rs->n, ra->n);
    cr_assert_gt(ra->n, 0, "%s: no rows to compare", base[1]);
    int ngroup = (int)tm__json_get(va, "group_by")->n + (tm__json_get(va, "rows")->n &&
                 tm__json_get(ra->vals[0], "period") ? 1 : 0);
    for (size_t i = 0; i <= rs->n; i++) {
        const tm_jv *x = i < rs->n ? rs->vals[i] : tm__json_get(vs, "totals");
        const tm_jv *y = i < rs->n ? ra->vals[i] : tm__json_get(va, "totals");
        int want = (i < rs->n ? ngroup : 0) + nshown;
        cr_assert_eq((int)x->n, want, "%s metrics=%s row %zu: %zu keys, wanted %d: %s", base[1], metrics,
                     i, x->n, want, js);
        for (size_t k = 0; k < x->n; k++) {
            const tm_jv *other = tm__json_get(y, x->keys[k]);
            cr_assert_not_null(other, "key %s", x->keys[k]);
            const char *g = x->vals[k]->s ? x->vals[k]->s : "null", *w = other->s ? other->s : "null";
            cr_assert_str_eq(g, w, "%s metrics=%s row %zu %s: got %s, wanted %s", base[1], metrics, i,
                             x->keys[k], g, w);
        }
    }
    tm__arena_free(&a);
    tm_report_free(all);
    tm_report_free(some);
}

Test(query, metrics_shown_equal_the_full_answer, .timeout = 120)
{
    tm *t = build();
    const char *hourly[] = {"from", "2026-03-02", "to", "2026-04-15", "interval", "week", "group_by",
                            "provider", "tz", "Europe/Berlin", NULL};
    const char *days[] = {"from", "2026-03-02", "to", "2026-04-15", "interval", "day", "group_by",
                          "model", "tz", "UTC", NULL};
    const char *users[] = {"from", "2026-03-02", "to", "2026-04-15", "interval", "day", "group_by",
                           "user_id", "tz", "America/New_York", NULL};
    const char *top[] = {"from", "2026-03-02", "to", "2026-04-15", "group_by", "user_id", "order_by",
                         "cost_usd", "limit", "3", "tz", "Europe/Berlin", NULL};
    const char *by_p95[] = {"from", "2026-03-02", "to", "2026-04-15", "group_by", "user_id", "order_by",
                            "latency_p95_ms", "limit", "3", "tz", "UTC", NULL};
    const char *events[] = {"from", "2026-03-10T00:30:00Z", "to", "2026-03-12T00:00:00Z", "group_by",
                            "endpoint", NULL};
    const char *const *cases[] = {hourly, days, users, top, by_p95, events};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        metrics_case(t, cases[c], "cost_usd", 1);
        metrics_case(t, cases[c], "latency_p95_ms", 1);
        metrics_case(t, cases[c], "latency_avg_ms,requests,events", 3); /* shown in their usual order */
    }
    /* CSV: the header and each line carry the same columns. */
    const char *csvq[] = {"from", "2026-03-02", "to", "2026-04-15", "group_by", "provider", "metrics",
                          "requests,cost_usd", NULL};
    tm_query_spec q;
    tm__query_init(&q);
    for (size_t i = 0; csvq[i]; i += 2)
        cr_assert_eq(tm__query_set(&q, csvq[i], csvq[i + 1]), TM_OK, "%s", tm_errmsg());
    tm_qresult *res = NULL;
    cr_assert_eq(tm__run_query(t, &q, &res), TM_OK, "%s", tm_errmsg());
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__qresult_csv(res, &b), TM_OK);
    cr_assert(strncmp(b.data, "provider,requests,cost_usd\r\n", 28) == 0, "%s", b.data);
    for (char *line = strstr(b.data, "\r\n") + 2; *line; line = strstr(line, "\r\n") + 2) {
        int commas = 0;
        for (char *p = line; *p != '\r'; p++)
            commas += *p == ',';
        cr_assert_eq(commas, 2, "%s", line);
    }
    tm__buf_free(&b);
    tm__qresult_free(res);
    tm__query_free(&q);
    cleanup(t);
}

/* Top N by bounds when an event of a cut day has no cell (the store holds
 * it, the in-memory rollups do not: another process's commit between the
 * two reads; here a row written beside tokmeter): its row is created after
 * the candidates were chosen and is not one (read past the candidates'
 * array before). The answer holds the users of the range only. */
Test(query, top_by_bounds_event_without_a_cell)
{
    if (tst_pg())
        cr_skip_test("writes a SQLite row directly");
    snprintf(dir, sizeof dir, "/tmp/tmq.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "q.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    const int64_t day = 1794268800000000LL, hour = 3600000000LL; /* 2026-11-10 */
    for (int d = 0; d < 3; d++)
        for (int u = 0; u < 2; u++)
            for (int h = 5; h <= 20; h += 15) {
                tm_event ev;
                tm_event_init(&ev);
                ev.provider = "openai";
                ev.user_id = u ? "b" : "a";
                ev.ts_us = day + d * 24 * hour + h * hour;
                ev.input_tokens = 100 * (u + 1);
                ev.has = TM_HAS_TS | TM_HAS_TOKENS;
                cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK, "%s", tm_errmsg());
            }
    tm_close(t);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO dict(s) VALUES('c'); INSERT INTO events(id, ts, provider, user_id, metric_type,"
             " value, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
             " cache_write_1h_tokens, reasoning_tokens, total_tokens, success, cache_hit, cost_pusd,"
             " cost_source) SELECT 'raw', %lld, provider, (SELECT id FROM dict WHERE s = 'c'),"
             " metric_type, value, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0 FROM events LIMIT 1",
             (long long)(day + 2 * 24 * hour + 20 * hour));
    cr_assert_eq(tst_store_exec(path, sql, NULL), 0);
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    const char *params[] = {"from", "2026-11-10T12:00:00Z", "to", "2026-11-12T12:00:00Z", "group_by",
                            "user_id", "order_by", "events", "limit", "5", "tz", "UTC", NULL};
    tm_report *r = NULL;
    cr_assert_eq(tm_report_run(t, params, &r), TM_OK, "%s", tm_errmsg());
    const char *j = tm_report_json(r);
    cr_assert_null(strstr(j, "\"user_id\": \"c\""), "%s", j);
    cr_assert_not_null(strstr(j, "\"user_id\": \"a\", \"events\": 4,"), "%s", j);
    cr_assert_not_null(strstr(j, "\"user_id\": \"b\", \"events\": 4,"), "%s", j);
    tm_report_free(r);
    tm_close(t);
}

/* A by-user query plans its days one by one up to TM_PLAN_DAYS_MAX days
 * (N-1: from the user cells); N and N+1 days are read from the events:
 * the same answer each way (run_case's brute force). */
Test(query, user_days_planned_up_to_the_limit, .timeout = 120)
{
    tm *t = build();
    for (int k = -1; k <= 1; k++) {
        int64_t y;
        unsigned m, d;
        char to[24];
        tm__civil_from_days(TM_PLAN_DAYS_MAX + k, &y, &m, &d);
        snprintf(to, sizeof to, "%04lld-%02u-%02u", (long long)y, m, d);
        user_case(t, "UTC", "none", "model", "1970-01-01", to, "user_id=u3", k < 0 ? "rollups" : "events");
    }
    cleanup(t);
}
