/*
 * seed.h — what the side-by-side benchmarks share (bench/compare.c,
 * bench/pgscale.c): the generated events (90 days, 10,000 users, 40
 * models, 8 providers, 50 endpoints; seeded, so every run loads the same),
 * the seed guide's PostgreSQL design (its api_call_logs table, rows for
 * multi-row INSERTs and COPY) and the dashboard's six queries, as that
 * design's SQL and as tokmeter's report parameters, with the answer
 * readers that check both agree. Header-only: each bench is one
 * translation unit.
 */
#ifndef TM_BENCH_SEED_H
#define TM_BENCH_SEED_H

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/core/dec.h"
#include "../src/core/json.h"
#include "bench.h"
#include "tokmeter.h"

#define DAYS 90
#define NQ 6 /* the queries compared */
static const int64_t END_S = 1793491200; /* 2026-11-01T00:00:00Z */

typedef struct ev {
    int64_t ts;             /* seconds */
    int provider, model, endpoint, op, user, in, out, latency_ms, success;
    int64_t cost_micro;     /* cost in millionths of a dollar */
} ev;

static const char *providers[8] = {"openai", "anthropic", "google", "deepseek", "mistral", "xai", "groq", "cerebras"};
static const char *ops[4] = {"chat", "embed", "qualification", "summarize"};
static ev *evs;
static long nev;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static void generate(long n)
{
    evs = malloc((size_t)n * sizeof *evs);
    nev = n;
    for (long i = 0; i < n; i++) {
        ev *e = &evs[i];
        e->ts = END_S - DAYS * 86400 + (int64_t)((double)i / (double)n * DAYS * 86400);
        e->model = (int)(pow(bench_unit(&rng), 1.5) * 40);
        e->provider = e->model / 5;
        e->endpoint = (int)(pow(bench_unit(&rng), 1.8) * 50);
        e->op = (int)(bench_next(&rng) % 4);
        e->user = (int)(pow(bench_unit(&rng), 2.0) * 10000);
        e->in = (int)(bench_unit(&rng) * 4000);
        e->out = (int)(bench_unit(&rng) * 800);
        e->latency_ms = (int)(150 * exp(0.9 * sqrt(-2 * log(bench_unit(&rng) + 1e-12)) * cos(6.283185 * bench_unit(&rng)))) + 1;
        e->success = bench_next(&rng) % 100 >= 3;
        e->cost_micro = (int64_t)(bench_unit(&rng) * 20000);
    }
}

static void fmt_cost(int64_t micro, char *buf) { tm__dec_format(micro, 6, buf); }

/* ---- loading ---- */

static void ev_json_fields(const ev *e, char *model, char *endpoint, char *user)
{
    snprintf(model, 32, "%s-model-%d", providers[e->provider], e->model % 5);
    snprintf(endpoint, 32, "/api/v1/endpoint-%02d", e->endpoint);
    snprintf(user, 32, "user-%05d", e->user);
}

static void tm_event_of(const ev *e, tm_event *t, char *model, char *endpoint, char *user)
{
    ev_json_fields(e, model, endpoint, user);
    tm_event_init(t);
    t->ts_us = e->ts * 1000000;
    t->provider = providers[e->provider];
    t->model = model;
    t->endpoint = endpoint;
    t->operation = ops[e->op];
    t->user_id = user;
    t->input_tokens = e->in;
    t->output_tokens = e->out;
    t->latency_ns = (int64_t)e->latency_ms * 1000000;
    t->success = e->success;
    t->cost_pusd = e->cost_micro * 1000000;
    t->has = TM_HAS_TS | TM_HAS_TOKENS | TM_HAS_LATENCY | TM_HAS_SUCCESS | TM_HAS_COST;
}

static void die_pg(PGconn *c, const char *what)
{
    fprintf(stderr, "postgres: %s: %s\n", what, PQerrorMessage(c));
    exit(1);
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die_pg(c, sql);
    PQclear(r);
}

static const char *PG_SCHEMA =
    "DROP TABLE IF EXISTS api_call_logs;"
    "CREATE TABLE api_call_logs (id BIGSERIAL PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " endpoint TEXT, operation_type TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " cost_usd NUMERIC(18,8) NOT NULL, latency_ms INTEGER, cache_hit BOOLEAN DEFAULT false, user_id TEXT,"
    " success BOOLEAN NOT NULL, error_message TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE INDEX ON api_call_logs (created_at);"
    "CREATE INDEX ON api_call_logs (provider, created_at);"
    "CREATE INDEX ON api_call_logs (user_id, created_at);";

static int pg_row(const ev *e, char *buf, size_t cap)
{
    char model[32], endpoint[32], user[32], cost[32];
    ev_json_fields(e, model, endpoint, user);
    fmt_cost(e->cost_micro, cost);
    return snprintf(buf, cap, "('%s','%s','%s','%s',%d,%d,%s,%d,'%s',%s,to_timestamp(%lld))",
                    providers[e->provider], model, endpoint, ops[e->op], e->in, e->out, cost,
                    e->latency_ms, user, e->success ? "true" : "false", (long long)e->ts);
}

#define PG_COLS "(provider, model, endpoint, operation_type, prompt_tokens, completion_tokens, cost_usd, latency_ms, user_id, success, created_at)"

static void pg_copy(PGconn *c, long from, long to)
{
    PGresult *r = PQexec(c, "COPY api_call_logs " PG_COLS " FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die_pg(c, "copy");
    PQclear(r);
    char line[512];
    for (long i = from; i < to; i++) {
        const ev *e = &evs[i];
        char model[32], endpoint[32], user[32], cost[32], ts[40];
        ev_json_fields(e, model, endpoint, user);
        fmt_cost(e->cost_micro, cost);
        time_t t = (time_t)e->ts;
        struct tm g;
        gmtime_r(&t, &g);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S+00", &g);
        int n = snprintf(line, sizeof line, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", providers[e->provider],
                         model, endpoint, ops[e->op], e->in, e->out, cost, e->latency_ms, user,
                         e->success ? "t" : "f", ts);
        if (PQputCopyData(c, line, n) != 1)
            die_pg(c, "copy data");
    }
    if (PQputCopyEnd(c, NULL) != 1)
        die_pg(c, "copy end");
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die_pg(c, "copy result");
    PQclear(r);
}

/* ---- the six queries ---- */

static const char *const seed_names[NQ] = {"query: cost by provider, 30 days", "query: daily cost trends, 30 days",
                         "query: error rate by provider, 7 days", "query: latency p50/p95/p99, 7 days",
                         "query: one user's month (daily breakdown, heaviest user)",
                         "query: top 10 users by cost, 30 days"};
static const int seed_ev_col[NQ] = {1, 2, 1, -1, 1, 1}, seed_cost_col[NQ] = {2, 3, -1, -1, 2, 2};

/* The six queries: q_pg as the seed design's SQL, tq as tokmeter's report
 * parameters (NULL-terminated). */
static void seed_queries(char q_pg[NQ][700], const char *tq[NQ][13])
{
    int64_t e30 = END_S - 30 * 86400, e7 = END_S - 7 * 86400;
    snprintf(q_pg[0], 700, "SELECT provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY provider ORDER BY provider", (long long)e30, (long long)END_S);
    snprintf(q_pg[1], 700, "SELECT DATE_TRUNC('day', created_at AT TIME ZONE 'UTC') AS day, provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY day, provider ORDER BY day DESC, 4 DESC", (long long)e30, (long long)END_S);
    snprintf(q_pg[2], 700, "SELECT provider, COUNT(*), SUM(CASE WHEN success = false THEN 1 ELSE 0 END) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY provider", (long long)e7, (long long)END_S);
    snprintf(q_pg[3], 700, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld)", (long long)e7, (long long)END_S);
    snprintf(q_pg[4], 700, "SELECT DATE(created_at AT TIME ZONE 'UTC'), COUNT(*), SUM(cost_usd), SUM(prompt_tokens + completion_tokens) FROM api_call_logs WHERE user_id = 'user-00000' AND created_at >= '2026-10-01T00:00:00Z' AND created_at < '2026-11-01T00:00:00Z' GROUP BY 1 ORDER BY 1 DESC");
    snprintf(q_pg[5], 700, "SELECT user_id, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY user_id ORDER BY 3 DESC LIMIT 10", (long long)e30, (long long)END_S);
    static char f30[24], f7[24], to[24];
    snprintf(f30, sizeof f30, "%lld", (long long)e30 * 1000);
    snprintf(f7, sizeof f7, "%lld", (long long)e7 * 1000);
    snprintf(to, sizeof to, "%lld", (long long)END_S * 1000);
    const char *const t[NQ][13] = {
        {"from", f30, "to", to, "group_by", "provider", NULL},
        {"from", f30, "to", to, "interval", "day", "group_by", "provider", "order_by", "cost_usd", NULL},
        {"from", f7, "to", to, "group_by", "provider", NULL},
        {"from", f7, "to", to, NULL},
        {"from", "2026-10-01", "to", "2026-11-01", "interval", "day", "where", "user_id=user-00000", NULL},
        {"from", f30, "to", to, "group_by", "user_id", "order_by", "cost_usd", "limit", "10", NULL},
    };
    memcpy(tq, t, sizeof t);
}

typedef struct answer {
    long rows;
    int64_t events;
    char cost[48];          /* exact total cost */
    double p[3];
} answer;

static void tm_answer(tm *t, const char *const *params, answer *a)
{
    tm_report *r = NULL;
    if (tm_report_run(t, params, &r)) {
        fprintf(stderr, "tokmeter: %s\n", tm_errmsg());
        exit(1);
    }
    tm_arena ar = TM_ARENA_INIT;
    tm_jv *v;
    char err[100];
    const char *j = tm_report_json(r);
    tm__json_parse(&ar, j, strlen(j), &v, err, sizeof err);
    const tm_jv *tot = tm__json_get(v, "totals"), *rows = tm__json_get(v, "rows");
    a->rows = (long)rows->n;
    /* Sums over the rows shown (with a limit, the totals cover them all). */
    a->events = 0;
    tm_i128 cost = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const char *c = tm__json_get(rows->vals[i], "cost_usd")->s;
        int64_t micro = 0;
        a->events += strtoll(tm__json_get(rows->vals[i], "events")->s, NULL, 10);
        tm__dec_parse(c, strlen(c), 6, 1, &micro);
        cost += micro;
    }
    tm__dec_format(cost, 6, a->cost);
    const char *pk[3] = {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"};
    for (int i = 0; i < 3; i++) {
        const tm_jv *p = tm__json_get(tot, pk[i]);
        a->p[i] = p->type == TM_J_NUMBER ? strtod(p->s, NULL) : -1;
    }
    tm__arena_free(&ar);
    tm_report_free(r);
}

/* Normalises a decimal's text: no trailing zeros. */
static void norm(const char *s, char *out)
{
    int64_t v;
    if (tm__dec_parse(s, strlen(s), 6, 1, &v) == TM_DEC_OK)
        tm__dec_format(v, 6, out);
    else
        snprintf(out, 48, "%s", s);
}

/* Runs sql on PostgreSQL; the answer's totals: row count, sum of column
 * `events_col` and exact sum of `cost_col` (-1: none). */
static void pg_answer(PGconn *c, const char *sql, int events_col, int cost_col, answer *a)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die_pg(c, sql);
    a->rows = PQntuples(r);
    a->events = 0;
    tm_i128 cost = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (events_col >= 0)
            a->events += strtoll(PQgetvalue(r, i, events_col), NULL, 10);
        if (cost_col >= 0) {
            int64_t v = 0;
            const char *s = PQgetvalue(r, i, cost_col);
            tm__dec_parse(s, strlen(s), 6, 1, &v);
            cost += v;
        }
        if (events_col < 0 && PQnfields(r) >= 3)
            for (int k = 0; k < 3; k++)
                a->p[k] = strtod(PQgetvalue(r, i, k), NULL);
    }
    tm__dec_format(cost, 6, a->cost);
    PQclear(r);
}

#endif
