/*
 * compare.c — tokmeter against what its users would otherwise run, on the
 * same machine, in one run, on the same data:
 *   - the seed guide's design: PostgreSQL's api_call_logs table with SQL
 *     aggregates (libpq), one INSERT per call, multi-row INSERTs in 1,000-row
 *     transactions, and COPY;
 *   - the same table and queries in plain SQLite;
 *   - tokmeter's library.
 *
 *   bench_compare CONNINFO DIR EVENTS REPS SINGLE_SECONDS OUT.md
 *
 * Every query is first checked for equal answers (tokmeter and PostgreSQL
 * must agree exactly on counts and costs, or the run fails), then timed
 * REPS times, the systems interleaved (A B C A B C ...).
 */
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static const char *SQ_SCHEMA =
    "DROP TABLE IF EXISTS api_call_logs;"
    "CREATE TABLE api_call_logs (id INTEGER PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " endpoint TEXT, operation_type TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " cost_usd NUMERIC NOT NULL, latency_ms INTEGER, cache_hit INTEGER DEFAULT 0, user_id TEXT,"
    " success INTEGER NOT NULL, error_message TEXT, created_at INTEGER NOT NULL);"
    "CREATE INDEX i1 ON api_call_logs (created_at);"
    "CREATE INDEX i2 ON api_call_logs (provider, created_at);"
    "CREATE INDEX i3 ON api_call_logs (user_id, created_at);";

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

static void sq_insert(sqlite3 *db, sqlite3_stmt *st, const ev *e)
{
    char model[32], endpoint[32], user[32], cost[32];
    ev_json_fields(e, model, endpoint, user);
    fmt_cost(e->cost_micro, cost);
    sqlite3_bind_text(st, 1, providers[e->provider], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, endpoint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ops[e->op], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, e->in);
    sqlite3_bind_int(st, 6, e->out);
    sqlite3_bind_text(st, 7, cost, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 8, e->latency_ms);
    sqlite3_bind_text(st, 9, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 10, e->success);
    sqlite3_bind_int64(st, 11, e->ts);
    if (sqlite3_step(st) != SQLITE_DONE) {
        fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_reset(st);
}

/* ---- results table ---- */

typedef struct figure {
    char workload[96], unit[24];
    double v[3][16];        /* per system (tokmeter, postgres, sqlite), per rep */
    int n[3];
    int higher_better;
} figure;

static figure figs[32];
static int nfigs;

static figure *fig(const char *workload, const char *unit, int higher_better)
{
    figure *f = &figs[nfigs++];
    memset(f, 0, sizeof *f);
    snprintf(f->workload, sizeof f->workload, "%s", workload);
    snprintf(f->unit, sizeof f->unit, "%s", unit);
    f->higher_better = higher_better;
    return f;
}

static double median(double *v, int n, double *mn, double *mx)
{
    double s[16];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, bench_cmpd);
    *mn = s[0];
    *mx = s[n - 1];
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- queries ---- */

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

static void sq_answer(sqlite3 *db, const char *sql, int events_col, int cost_col, answer *a)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    a->rows = 0;
    a->events = 0;
    double cost = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        a->rows++;
        if (events_col >= 0)
            a->events += sqlite3_column_int64(st, events_col);
        if (cost_col >= 0)
            cost += sqlite3_column_double(st, cost_col);
    }
    snprintf(a->cost, sizeof a->cost, "%.6f", cost);
    sqlite3_finalize(st);
}

/* Plain SQLite has no percentile_cont: the rank value, by ORDER BY + OFFSET. */
static void sq_percentiles(sqlite3 *db, int64_t from, int64_t to, answer *a)
{
    char sql[300];
    sqlite3_stmt *st;
    int64_t n = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld",
             (long long)from, (long long)to);
    sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    const double q[3] = {0.5, 0.95, 0.99};
    for (int k = 0; k < 3; k++) {
        snprintf(sql, sizeof sql, "SELECT latency_ms FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld"
                 " ORDER BY latency_ms LIMIT 1 OFFSET %lld", (long long)from, (long long)to,
                 (long long)floor(q[k] * (double)(n - 1)));
        sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        a->p[k] = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_double(st, 0) : -1;
        sqlite3_finalize(st);
    }
    a->rows = 1;
}

/* The disk's floor for one durable write, in calls/s: 1 / the median of
 * one 4 KiB write + fdatasync in dir, for secs, each write appended to a
 * fresh file as SQLite appends frames to its log between checkpoints. */
static double fsync_floor(const char *dir, double secs)
{
    static double lat[1 << 16];
    static char block[4096];
    char path[1024];
    snprintf(path, sizeof path, "%s/compare-floor.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), n = 0;
    if (fd < 0)
        return 0;
    for (double until = bench_now() + secs; bench_now() < until && n < (1 << 16); n++) {
        double t0 = bench_now();
        if (pwrite(fd, block, sizeof block, (off_t)n * 4096) != 4096 || fdatasync(fd) != 0)
            break;
        lat[n] = bench_now() - t0;
    }
    close(fd);
    unlink(path);
    qsort(lat, (size_t)n, sizeof *lat, bench_cmpd);
    return n ? 1 / lat[n / 2] : 0;
}

static int64_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : 0;
}

/* ---- the daemon over HTTP (tokmeter only): restart to ready, POSTs ---- */

/* Starts `tokmeter serve` on the store db on a free port (stderr to log),
 * sets *pid and returns the port once the startup line names it, or 0. */
static int serve_start(const char *db, const char *log, pid_t *pid)
{
    char cmd[3300];
    unlink(log);
    snprintf(cmd, sizeof cmd, "exec ./build/tokmeter --db '%s' serve --listen 127.0.0.1:0 --log-level warn 2>'%s'", db, log);
    *pid = fork();
    if (*pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; *pid > 0 && i < 2000; i++) { /* up to 20 s */
        FILE *f = fopen(log, "r");
        char line[1024];
        int port = 0;
        while (f && !port && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "tokmeter serving") ? strstr(line, " port=") : NULL;
            port = p ? atoi(p + 6) : 0;
        }
        if (f)
            fclose(f);
        if (port)
            return port;
        usleep(10000);
    }
    return 0;
}

static void serve_stop(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

/* The HTTP status of GET path on port, or -1. */
static int http_get(int port, const char *path)
{
    enum { CAP = 4 << 20 }; /* a 30-day daily answer is ~100 KB of JSON */
    char req[512], *resp = malloc(CAP);
    int fd = resp ? bench_connect(port) : -1;
    if (fd < 0) {
        free(resp);
        return -1;
    }
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    int code = write(fd, req, (size_t)n) == n ? bench_read_response(fd, resp, CAP) : -1;
    close(fd);
    free(resp);
    return code;
}

/* Restart to ready: from starting `tokmeter serve` on the loaded store to
 * its first answer to a 30-day daily query (the rollups it needs loaded),
 * reps times each: from the snapshot the last clean close left, and with
 * it removed (the rollups rebuilt from the store's rows), alternated. */
static void restart_rows(const char *tdb, const char *dir, int reps)
{
    char log[1100], snap[1100];
    snprintf(log, sizeof log, "%s/compare-serve.log", dir);
    snprintf(snap, sizeof snap, "%s-rollups", tdb);
    figure *f[2] = {fig("restart to ready: `tokmeter serve` to its first 30-day answer (rollups snapshot)", "s", 0),
                    fig("restart to ready: the same without the snapshot (rollups from the store)", "s", 0)};
    for (int rep = 0; rep < reps; rep++)
        for (int k = 0; k < 2; k++) {
            pid_t pid;
            struct stat st;
            if (k == 1)
                unlink(snap);
            else if (stat(snap, &st) != 0) {
                fprintf(stderr, "compare: no rollups snapshot at %s after a clean close\n", snap);
                exit(1);
            }
            double t0 = bench_now();
            int port = serve_start(tdb, log, &pid), code = -1;
            while (port && (code = http_get(port, "/v1/usage?interval=day&group_by=provider&from=2026-10-02&to=2026-11-01")) != 200 &&
                   bench_now() - t0 < 60)
                usleep(1000);
            double dt = bench_now() - t0;
            if (pid > 0)
                serve_stop(pid);
            if (code != 200) {
                fprintf(stderr, "compare: the daemon did not answer (HTTP %d; see %s)\n", code, log);
                exit(1);
            }
            f[k]->v[0][f[k]->n[0]++] = dt;
        }
    fprintf(stderr, "compare: restart to ready measured\n");
}

/* Runs build/bench_http MODE CONNS secs against port; its figures. */
static void bench_http(int port, const char *mode, int conns, double secs, double *rps, double *evps,
                       double *p50, double *p99)
{
    char cmd[200], line[512];
    snprintf(cmd, sizeof cmd, "./build/bench_http %d %s %d %d", port, mode, conns, secs < 1 ? 1 : (int)secs);
    FILE *p = popen(cmd, "r");
    int got = 0;
    while (p && fgets(line, sizeof line, p)) {
        const char *r = strstr(line, "requests");
        if (r && sscanf(r, "requests %lf req/s %lf events/s p50 %lf ms p99 %lf ms", rps, evps, p50, p99) == 4)
            got = !strstr(line, "FAILED");
    }
    if (!p || pclose(p) != 0 || !got) {
        fprintf(stderr, "compare: %s failed\n", cmd);
        exit(1);
    }
}

/* Events POSTed to the daemon on the loaded store: one per request on 64
 * connections, and 1,000-event NDJSON bodies on 8, each for secs seconds,
 * reps times. They go in after the queries were compared, and their
 * timestamps (now) lie outside every query's range. */
static void http_rows(const char *tdb, const char *dir, int reps, double secs)
{
    char log[1100];
    snprintf(log, sizeof log, "%s/compare-serve.log", dir);
    figure *fr = fig("HTTP: single-event POSTs, 64 connections", "req/s", 1);
    figure *f50 = fig("HTTP: single-event POSTs, 64 connections, p50", "ms", 0);
    figure *f99 = fig("HTTP: single-event POSTs, 64 connections, p99", "ms", 0);
    figure *fb = fig("HTTP: batched ingest, 1,000-event NDJSON bodies, 8 connections", "events/s", 1);
    pid_t pid;
    int port = serve_start(tdb, log, &pid);
    if (!port) {
        fprintf(stderr, "compare: the daemon did not start (see %s)\n", log);
        exit(1);
    }
    for (int rep = 0; rep < reps; rep++) {
        double rps, evps, p50, p99;
        bench_http(port, "single", 64, secs / reps, &rps, &evps, &p50, &p99);
        fr->v[0][fr->n[0]++] = rps;
        f50->v[0][f50->n[0]++] = p50;
        f99->v[0][f99->n[0]++] = p99;
        bench_http(port, "batch", 8, secs / reps, &rps, &evps, &p50, &p99);
        fb->v[0][fb->n[0]++] = evps;
    }
    serve_stop(pid);
    fprintf(stderr, "compare: HTTP ingest measured\n");
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bench_compare CONNINFO DIR EVENTS REPS SINGLE_SECONDS OUT.md\n");
        return 64;
    }
    const char *conninfo = argv[1], *dir = argv[2], *out = argv[6];
    long n = strtol(argv[3], NULL, 10);
    int reps = atoi(argv[4]);
    double single_s = atof(argv[5]);
    if (reps > 16)
        reps = 16;
    char tdb[1024], sdb[1024], cmd[6300];
    snprintf(tdb, sizeof tdb, "%s/compare-tokmeter.db", dir);
    snprintf(sdb, sizeof sdb, "%s/compare-sqlite.db", dir);
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm %s %s-wal %s-shm", tdb, tdb, tdb, sdb, sdb, sdb);
    if (system(cmd) != 0)
        return 1;
    generate(n);
    fprintf(stderr, "compare: %ld events generated\n", n);
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        die_pg(pg, "connect");
    sqlite3 *sq;
    sqlite3_open(sdb, &sq);
    /* What a competent engineer would set: WAL, durable commits, and a page
     * cache as large as tokmeter's (SQLite's default 2 MB makes the random
     * (user_id, created_at) index crawl past a few million rows). */
    sqlite3_exec(sq, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-262144;", 0, 0, 0);
    sqlite3_exec(sq, SQ_SCHEMA, 0, 0, 0);
    pg_exec(pg, PG_SCHEMA);
    tm *t = NULL;
    if (tm_open(&t, tdb, NULL)) {
        fprintf(stderr, "tokmeter: %s\n", tm_errmsg());
        return 1;
    }
    char model[32], endpoint[32], user[32], rowbuf[512];

    /* 1. Durable single writes for single_s seconds each, interleaved in
     * slices, starting from the same events. */
    figure *fs = fig("ingest: one durable write per call", "events/s", 1);
    figure *ff = fig("disk: fdatasync floor (1 / p50 of a 4 KiB write + fdatasync), same run", "calls/s", 1);
    long done[3] = {0, 0, 0};
    double spent[3] = {0, 0, 0};
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(sq, "INSERT INTO api_call_logs (provider, model, endpoint, operation_type, prompt_tokens,"
                           " completion_tokens, cost_usd, latency_ms, user_id, success, created_at)"
                           " VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL);
    for (int slice = 0; slice < reps; slice++) {
        for (int sys = 0; sys < 3; sys++) {
            double t0 = bench_now(), until = t0 + single_s / reps;
            long k = done[sys];
            while (bench_now() < until && k < n) {
                const ev *e = &evs[k++];
                if (sys == 0) {
                    tm_event te;
                    tm_event_of(e, &te, model, endpoint, user);
                    if (tm_track_sync(t, &te, NULL)) {
                        fprintf(stderr, "tokmeter: %s\n", tm_errmsg());
                        return 1;
                    }
                } else if (sys == 1) {
                    char sql[700];
                    pg_row(e, rowbuf, sizeof rowbuf);
                    snprintf(sql, sizeof sql, "INSERT INTO api_call_logs " PG_COLS " VALUES %s", rowbuf);
                    pg_exec(pg, sql);
                } else {
                    sq_insert(sq, ins, e);
                }
            }
            double dt = bench_now() - t0;
            fs->v[sys][fs->n[sys]++] = (double)(k - done[sys]) / dt;
            spent[sys] += dt;
            done[sys] = k;
        }
        ff->v[0][ff->n[0]++] = fsync_floor(dir, single_s / reps);
    }
    /* 2. Batched: everything left, in batches of 1,000 (PostgreSQL also COPY). */
    figure *fb = fig("ingest: batched (tokmeter tm_track; PG/SQLite 1,000-row transactions)", "events/s", 1);
    figure *fc = fig("ingest: PostgreSQL COPY (the best it can do)", "events/s", 1);
    {
        /* Each system loads the events it has not stored yet; reps are slices. */
        long per = (n - (done[0] > done[1] ? (done[0] > done[2] ? done[0] : done[2]) : (done[1] > done[2] ? done[1] : done[2]))) / reps;
        for (int slice = 0; slice < reps; slice++) {
            for (int sys = 0; sys < 3; sys++) {
                long from = done[sys], to = slice == reps - 1 ? n : from + per;
                double t0 = bench_now();
                if (sys == 0) {
                    for (long i = from; i < to; i++) {
                        tm_event te;
                        tm_event_of(&evs[i], &te, model, endpoint, user);
                        tm_track(t, &te);
                    }
                    tm_flush(t);
                } else if (sys == 1) {
                    if (slice % 2 == 0) { /* multi-row INSERT, 1,000 rows a transaction */
                        size_t cap = 1000 * 200 + 200;
                        char *sql = malloc(cap);
                        for (long i = from; i < to; i += 1000) {
                            size_t len = (size_t)snprintf(sql, cap, "INSERT INTO api_call_logs " PG_COLS " VALUES ");
                            for (long k = i; k < i + 1000 && k < to; k++) {
                                len += (size_t)pg_row(&evs[k], sql + len, cap - len);
                                sql[len++] = ',';
                            }
                            sql[len - 1] = '\0';
                            pg_exec(pg, sql);
                        }
                        free(sql);
                    } else {
                        pg_copy(pg, from, to);
                    }
                } else {
                    for (long i = from; i < to; i += 1000) {
                        sqlite3_exec(sq, "BEGIN", 0, 0, 0);
                        for (long k = i; k < i + 1000 && k < to; k++)
                            sq_insert(sq, ins, &evs[k]);
                        sqlite3_exec(sq, "COMMIT", 0, 0, 0);
                    }
                }
                double dt = bench_now() - t0;
                double rate = (double)(to - from) / dt;
                if (sys == 1 && slice % 2 == 1)
                    fc->v[1][fc->n[1]++] = rate;
                else
                    fb->v[sys][fb->n[sys]++] = rate;
                done[sys] = to;
            }
        }
    }
    sqlite3_finalize(ins);
    pg_exec(pg, "ANALYZE api_call_logs");
    fprintf(stderr, "compare: loaded %ld events into each system\n", n);

    /* 3. Storage per event. */
    figure *fst = fig("storage per event (table and indexes)", "bytes", 0);
    {
        tm_close(t);
        t = NULL;
        tm_open(&t, tdb, NULL); /* a clean close truncates the WAL */
        char w[1100];
        snprintf(w, sizeof w, "%s-wal", tdb);
        fst->v[0][fst->n[0]++] = (double)(file_size(tdb) + file_size(w)) / (double)n;
        PGresult *r = PQexec(pg, "SELECT pg_total_relation_size('api_call_logs')");
        fst->v[1][fst->n[1]++] = atof(PQgetvalue(r, 0, 0)) / (double)n;
        PQclear(r);
        sqlite3_exec(sq, "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0);
        fst->v[2][fst->n[2]++] = (double)file_size(sdb) / (double)n;
    }

    /* 4. The guide's queries: check equal answers, then time them. */
    int64_t e30 = END_S - 30 * 86400, e7 = END_S - 7 * 86400;
    char q_pg[NQ][700], q_sq[NQ][700];
    snprintf(q_pg[0], 700, "SELECT provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY provider ORDER BY provider", (long long)e30, (long long)END_S);
    snprintf(q_sq[0], 700, "SELECT provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld GROUP BY provider ORDER BY provider", (long long)e30, (long long)END_S);
    snprintf(q_pg[1], 700, "SELECT DATE_TRUNC('day', created_at AT TIME ZONE 'UTC') AS day, provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY day, provider ORDER BY day DESC, 4 DESC", (long long)e30, (long long)END_S);
    snprintf(q_sq[1], 700, "SELECT created_at / 86400 AS day, provider, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld GROUP BY day, provider ORDER BY day DESC, 4 DESC", (long long)e30, (long long)END_S);
    snprintf(q_pg[2], 700, "SELECT provider, COUNT(*), SUM(CASE WHEN success = false THEN 1 ELSE 0 END) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY provider", (long long)e7, (long long)END_S);
    snprintf(q_sq[2], 700, "SELECT provider, COUNT(*), SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld GROUP BY provider", (long long)e7, (long long)END_S);
    snprintf(q_pg[3], 700, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld)", (long long)e7, (long long)END_S);
    snprintf(q_pg[4], 700, "SELECT DATE(created_at AT TIME ZONE 'UTC'), COUNT(*), SUM(cost_usd), SUM(prompt_tokens + completion_tokens) FROM api_call_logs WHERE user_id = 'user-00000' AND created_at >= '2026-10-01T00:00:00Z' AND created_at < '2026-11-01T00:00:00Z' GROUP BY 1 ORDER BY 1 DESC");
    snprintf(q_sq[4], 700, "SELECT created_at / 86400, COUNT(*), SUM(cost_usd), SUM(prompt_tokens + completion_tokens) FROM api_call_logs WHERE user_id = 'user-00000' AND created_at >= 1790812800 AND created_at < 1793491200 GROUP BY 1 ORDER BY 1 DESC");
    snprintf(q_pg[5], 700, "SELECT user_id, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= to_timestamp(%lld) AND created_at < to_timestamp(%lld) GROUP BY user_id ORDER BY 3 DESC LIMIT 10", (long long)e30, (long long)END_S);
    snprintf(q_sq[5], 700, "SELECT user_id, COUNT(*), SUM(cost_usd) FROM api_call_logs WHERE created_at >= %lld AND created_at < %lld GROUP BY user_id ORDER BY 3 DESC LIMIT 10", (long long)e30, (long long)END_S);
    char f30[24], f7[24], to[24];
    snprintf(f30, sizeof f30, "%lld", (long long)e30 * 1000);
    snprintf(f7, sizeof f7, "%lld", (long long)e7 * 1000);
    snprintf(to, sizeof to, "%lld", (long long)END_S * 1000);
    const char *tq[NQ][13] = {
        {"from", f30, "to", to, "group_by", "provider", NULL},
        {"from", f30, "to", to, "interval", "day", "group_by", "provider", "order_by", "cost_usd", NULL},
        {"from", f7, "to", to, "group_by", "provider", NULL},
        {"from", f7, "to", to, NULL},
        {"from", "2026-10-01", "to", "2026-11-01", "interval", "day", "where", "user_id=user-00000", NULL},
        {"from", f30, "to", to, "group_by", "user_id", "order_by", "cost_usd", "limit", "10", NULL},
    };
    static const char *names[NQ] = {"query: cost by provider, 30 days", "query: daily cost trends, 30 days",
                                    "query: error rate by provider, 7 days", "query: latency p50/p95/p99, 7 days",
                                    "query: one user's month (daily breakdown, heaviest user)",
                                    "query: top 10 users by cost, 30 days"};
    static const int ev_col[NQ] = {1, 2, 1, -1, 1, 1}, cost_col[NQ] = {2, 3, -1, -1, 2, 2};
    int failed = 0;
    for (int q = 0; q < NQ; q++) {
        answer A = {0}, B = {0}, C = {0};
        tm_answer(t, tq[q], &A);
        pg_answer(pg, q_pg[q], ev_col[q], cost_col[q], &B);
        if (q == 3)
            sq_percentiles(sq, e7, END_S, &C);
        else
            sq_answer(sq, q_sq[q], ev_col[q], cost_col[q], &C);
        char na[48], nb[48];
        norm(A.cost, na);
        norm(B.cost, nb);
        if (q != 3 && (A.rows != B.rows || A.events != B.events || (cost_col[q] >= 0 && strcmp(na, nb)))) {
            fprintf(stderr, "MISMATCH %s: tokmeter rows %ld events %lld cost %s; postgres rows %ld events %lld cost %s\n",
                    names[q], A.rows, (long long)A.events, na, B.rows, (long long)B.events, nb);
            failed = 1;
        }
        if (q != 3 && (C.rows != B.rows || C.events != B.events)) {
            fprintf(stderr, "MISMATCH %s: sqlite rows %ld events %lld; postgres rows %ld events %lld\n", names[q],
                    C.rows, (long long)C.events, B.rows, (long long)B.events);
            failed = 1;
        }
        for (int k = 0; q == 3 && k < 3; k++)
            if (fabs(A.p[k] - B.p[k]) > 0.02 * B.p[k] + 1) {
                fprintf(stderr, "MISMATCH %s: p%d tokmeter %.3f vs postgres %.3f\n", names[q], k, A.p[k], B.p[k]);
                failed = 1;
            }
        fprintf(stderr, "compare: %s: answers agree (%ld rows)\n", names[q], B.rows);
    }
    if (failed) {
        fprintf(stderr, "compare: answers differ: no times reported\n");
        return 2;
    }
    for (int q = 0; q < NQ; q++) {
        figure *f = fig(names[q], "ms", 0);
        for (int rep = 0; rep < reps; rep++)
            for (int sys = 0; sys < 3; sys++) {
                answer a = {0};
                double t0 = bench_now();
                if (sys == 0)
                    tm_answer(t, tq[q], &a);
                else if (sys == 1)
                    pg_answer(pg, q_pg[q], ev_col[q], cost_col[q], &a);
                else if (q == 3)
                    sq_percentiles(sq, e7, END_S, &a);
                else
                    sq_answer(sq, q_sq[q], ev_col[q], cost_col[q], &a);
                f->v[sys][f->n[sys]++] = (bench_now() - t0) * 1e3;
            }
    }
    /* The daemon: restart to ready, then HTTP ingest (which adds events,
     * so after every query). */
    tm_close(t);
    t = NULL;
    restart_rows(tdb, dir, reps);
    http_rows(tdb, dir, reps, single_s);
    /* 5. The table. */
    FILE *o = fopen(out, "w");
    char host[256] = "?", cpu[256] = "?";
    gethostname(host, sizeof host);
    FILE *ci = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (ci && fgets(line, sizeof line, ci))
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (ci)
        fclose(ci);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
    fprintf(o, "# Side by side: tokmeter, PostgreSQL (the seed's design), plain SQLite\n\n"
               "Machine: %ld cores, %s. Date: %s. %ld events (90 days, 10,000 users, 40 models, 8 providers,\n"
               "50 endpoints). Each figure: median [min, max] over %d interleaved repetitions. Ratio: how many\n"
               "times better tokmeter is (throughput ratio, or time ratio other/tokmeter). Every query's\n"
               "answers were checked equal first (counts and exact costs; latency percentiles within 2%%).\n\n"
               "| workload | unit | tokmeter | PostgreSQL | SQLite | × vs PostgreSQL | × vs SQLite |\n|---|---|---|---|---|---|---|\n",
            sysconf(_SC_NPROCESSORS_ONLN), cpu, date, n, reps);
    for (int i = 0; i < nfigs; i++) {
        figure *f = &figs[i];
        double med[3] = {0, 0, 0}, mn, mx;
        fprintf(o, "| %s | %s |", f->workload, f->unit);
        for (int s = 0; s < 3; s++) {
            if (!f->n[s]) {
                fprintf(o, " — |");
                continue;
            }
            med[s] = median(f->v[s], f->n[s], &mn, &mx);
            fprintf(o, f->n[s] > 1 ? " %.4g [%.4g, %.4g] |" : " %.4g |", med[s], mn, mx);
        }
        for (int s = 1; s < 3; s++) {
            double ratio = med[0] > 0 && med[s] > 0 ? (f->higher_better ? med[0] / med[s] : med[s] / med[0]) : 0;
            fprintf(o, ratio ? " %.3g |" : " — |", ratio);
        }
        fprintf(o, "\n");
    }
    fclose(o);
    sqlite3_close(sq);
    PQfinish(pg);
    fprintf(stderr, "compare: wrote %s\n", out);
    return 0;
}
