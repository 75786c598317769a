/*
 * pgscale.c — tokmeter's PostgreSQL store with 1, 2 and 3 daemons on one
 * PostgreSQL, beside the seed guide's own design (api_call_logs, bench/
 * seed.h) on the same server and the same generated events.
 *
 *   bench_pgscale CONNINFO TM_URL EVENTS SINGLE_SECONDS REPS MIN_D MAX_D OUT.md
 *
 * appends the table rows for MIN_D..MAX_D daemons to OUT.md (bench/
 * pgscale.sh writes the header and alternates builds).
 *
 * A daemon is a process with its own tokmeter handle (its writer thread,
 * its connections, its in-memory rollups: what `tokmeter serve` runs
 * under HTTP); the seed design's writers and readers are processes with
 * one libpq connection each. For each number of daemons D, in fresh
 * schemas:
 *   1. durable single writes for SINGLE_SECONDS: each daemon tm_track_sync,
 *      each seed writer one autocommit INSERT a call; then the same from
 *      CALLERS threads per daemon at once (HTTP clients waiting for
 *      their 200s: tokmeter commits the waiting calls together);
 *   2. the EVENTS loaded in 1,000-event chunks dealt round robin to the D
 *      processes: tokmeter tm_track + tm_flush; the seed design multi-row
 *      INSERTs (1,000 rows a statement) and, into a second table, COPY;
 *   3. the six dashboard queries: answers checked equal (counts and exact
 *      costs, latency within 2%), then each process runs each query REPS
 *      times at once with the others (median of all); tokmeter's first
 *      query of a new handle (the whole load of the rollups) and a query
 *      right after another daemon committed 1,000 events (the change log).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "seed.h"

#define MAXD 3
#define CHUNK 1000
#define CALLERS 16          /* threads a daemon serves at once in workload 1b */

static const char *conninfo, *tm_url;
static char q_pg[NQ][700];
static const char *tq[NQ][13];

static void tm_die(const char *what)
{
    fprintf(stderr, "tokmeter: %s: %s\n", what, tm_errmsg());
    exit(1);
}

static tm *tm_at(const char *schema)
{
    char url[1024];
    tm *t = NULL;
    tm_options o = {0};
    const char *b = getenv("PGSCALE_BATCH"); /* events per commit at most (default 65,536) */
    o.batch_max = b ? (size_t)atol(b) : 0;
    snprintf(url, sizeof url, "%s%sschema=%s", tm_url, strchr(tm_url, '?') ? "&" : "?", schema);
    if (tm_open(&t, url, &o))
        tm_die("open");
    return t;
}

static PGconn *pg_at(const char *schema)
{
    char ci[1024];
    snprintf(ci, sizeof ci, "%s options=-csearch_path=%s", conninfo, schema);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK)
        die_pg(c, "connect");
    return c;
}

/* An empty schema (with the seed design's table, or left to tokmeter). */
static void pg_fresh(const char *schema, int seed)
{
    PGconn *c = pg_at("public");
    char sql[200];
    pg_exec(c, "SET client_min_messages = warning");
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    pg_exec(c, sql);
    PQfinish(c);
    if (!seed)
        return;
    c = pg_at(schema);
    pg_exec(c, "SET client_min_messages = warning");
    pg_exec(c, PG_SCHEMA);
    PQfinish(c);
}

/* Runs fn(k, arg) in d processes started together; each writes one double
 * back. Returns the wall time from the start to the last one's end, and
 * the values in out[k]. */
static double in_parallel(int d, double (*fn)(int k, void *arg), void *arg, double *out)
{
    int fds[MAXD][2], go[2];
    pid_t pids[MAXD];
    fflush(NULL); /* nothing buffered is written twice by a child */
    if (pipe(go))
        exit(1);
    for (int k = 0; k < d; k++) {
        if (pipe(fds[k]))
            exit(1);
        if ((pids[k] = fork()) == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 1) /* every process ready first */
                _exit(1);
            double v = fn(k, arg);
            if (write(fds[k][1], &v, sizeof v) != sizeof v)
                _exit(1);
            _exit(0);
        }
        close(fds[k][1]);
    }
    close(go[0]);
    sleep(1); /* they open their handles; then all start at once */
    double t0 = bench_now();
    char g[MAXD] = {0};
    if (write(go[1], g, (size_t)d) != d)
        exit(1);
    for (int k = 0; k < d; k++) {
        double v = -1;
        if (read(fds[k][0], &v, sizeof v) != sizeof v) {
            fprintf(stderr, "pgscale: process %d failed\n", k);
            exit(1);
        }
        out[k] = v;
        close(fds[k][0]);
    }
    double dt = bench_now() - t0;
    for (int k = 0; k < d; k++) {
        int st;
        waitpid(pids[k], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "pgscale: process %d exited badly\n", k);
            exit(1);
        }
    }
    close(go[1]);
    return dt;
}

typedef struct job {
    int d;
    int kind;               /* 0 tokmeter, 1 seed INSERT, 2 seed COPY      */
    char schema[64];
    double seconds;
    int rep;
} job;

/* Events written one durable call at a time for job->seconds: each
 * process from its own part of the events (ids generated: none repeat). */
static double single_writes(int k, void *arg)
{
    const job *j = arg;
    long i = (long)k * (nev / MAXD), n = 0;
    char model[32], endpoint[32], user[32], row[512], sql[800];
    tm *t = j->kind == 0 ? tm_at(j->schema) : NULL;
    PGconn *c = j->kind ? pg_at(j->schema) : NULL;
    double t0 = bench_now();
    while (bench_now() - t0 < j->seconds) {
        const ev *e = &evs[i++ % nev];
        if (t) {
            tm_event te;
            tm_event_of(e, &te, model, endpoint, user);
            if (tm_track_sync(t, &te, NULL))
                tm_die("track");
        } else {
            pg_row(e, row, sizeof row);
            snprintf(sql, sizeof sql, "INSERT INTO api_call_logs " PG_COLS " VALUES %s", row);
            pg_exec(c, sql);
        }
        n++;
    }
    double rate = (double)n / (bench_now() - t0);
    if (t)
        tm_close(t);
    PQfinish(c);
    return rate;
}

/* 1b: CALLERS threads per process, each writing one durable event a call
 * (as HTTP clients waiting for their 200): tokmeter's group commit puts
 * the calls that wait together into one transaction; the seed design's
 * callers each have a connection and commit their own INSERT. */
typedef struct caller {
    const job *j;
    tm *t;
    long from, n;
    double until;
} caller;

static void *caller_run(void *arg)
{
    caller *c = arg;
    char model[32], endpoint[32], user[32], row[512], sql[800];
    PGconn *pg = c->t ? NULL : pg_at(c->j->schema);
    for (long i = c->from; bench_now() < c->until; i++, c->n++) {
        const ev *e = &evs[i % nev];
        if (c->t) {
            tm_event te;
            tm_event_of(e, &te, model, endpoint, user);
            if (tm_track_sync(c->t, &te, NULL))
                tm_die("track");
        } else {
            pg_row(e, row, sizeof row);
            snprintf(sql, sizeof sql, "INSERT INTO api_call_logs " PG_COLS " VALUES %s", row);
            pg_exec(pg, sql);
        }
    }
    PQfinish(pg);
    return NULL;
}

static double concurrent_writes(int k, void *arg)
{
    const job *j = arg;
    tm *t = j->kind == 0 ? tm_at(j->schema) : NULL;
    caller cs[CALLERS];
    pthread_t th[CALLERS];
    double t0 = bench_now();
    for (int i = 0; i < CALLERS; i++) {
        cs[i] = (caller){j, t, ((long)k * CALLERS + i) * (nev / (MAXD * CALLERS)), 0, t0 + j->seconds};
        pthread_create(&th[i], NULL, caller_run, &cs[i]);
    }
    long n = 0;
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        n += cs[i].n;
    }
    double rate = (double)n / (bench_now() - t0);
    if (t)
        tm_close(t);
    return rate;
}

/* Process k's chunks of the events: every d-th CHUNK from the k-th. */
static double load(int k, void *arg)
{
    const job *j = arg;
    char model[32], endpoint[32], user[32];
    tm *t = j->kind == 0 ? tm_at(j->schema) : NULL;
    PGconn *c = j->kind ? pg_at(j->schema) : NULL;
    size_t cap = CHUNK * 200 + 200;
    char *sql = malloc(cap);
    double t0 = bench_now();
    for (long from = (long)k * CHUNK; from < nev; from += (long)j->d * CHUNK) {
        long to = from + CHUNK < nev ? from + CHUNK : nev;
        if (t) {
            for (long i = from; i < to; i++) {
                tm_event te;
                tm_event_of(&evs[i], &te, model, endpoint, user);
                if (tm_track(t, &te))
                    tm_die("track");
            }
        } else if (j->kind == 1) {
            size_t len = (size_t)snprintf(sql, cap, "INSERT INTO api_call_logs " PG_COLS " VALUES ");
            for (long i = from; i < to; i++) {
                len += (size_t)pg_row(&evs[i], sql + len, cap - len);
                sql[len++] = ',';
            }
            sql[len - 1] = '\0';
            pg_exec(c, sql);
        } else {
            pg_copy(c, from, to);
        }
    }
    if (t && tm_flush(t))
        tm_die("flush");
    double dt = bench_now() - t0;
    free(sql);
    if (t)
        tm_close(t);
    PQfinish(c);
    return dt;
}

static int cmpd(const void *a, const void *b) { return bench_cmpd(a, b); }

/* Each process runs query j->rep REPS times (its own handle, first loaded
 * by one untimed run); returns the median ms. */
static int reps;
static double queries(int k, void *arg)
{
    const job *j = arg;
    (void)k;
    double v[64];
    answer a;
    tm *t = j->kind == 0 ? tm_at(j->schema) : NULL;
    PGconn *c = j->kind ? pg_at(j->schema) : NULL;
    if (t)
        tm_answer(t, tq[j->rep], &a); /* the whole load: measured apart */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        if (t)
            tm_answer(t, tq[j->rep], &a);
        else
            pg_answer(c, q_pg[j->rep], seed_ev_col[j->rep], seed_cost_col[j->rep], &a);
        v[r] = (bench_now() - t0) * 1e3;
    }
    qsort(v, (size_t)reps, sizeof *v, cmpd);
    if (t)
        tm_close(t);
    PQfinish(c);
    return v[reps / 2];
}

static double median3(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: bench_pgscale CONNINFO TM_URL EVENTS SINGLE_SECONDS REPS MIN_D MAX_D OUT.md\n");
        return 64;
    }
    conninfo = argv[1];
    tm_url = argv[2];
    long n = strtol(argv[3], NULL, 10);
    double single_s = atof(argv[4]);
    reps = atoi(argv[5]);
    int mind = atoi(argv[6]), maxd = atoi(argv[7]);
    if (reps < 1 || reps > 64 || mind < 1 || maxd < mind || maxd > MAXD) {
        fprintf(stderr, "pgscale: REPS 1..64, 1 <= MIN_D <= MAX_D <= %d\n", MAXD);
        return 64;
    }
    generate(n);
    seed_queries(q_pg, tq);
    FILE *o = fopen(argv[8], "a");
    if (!o)
        return 1;
    for (int d = mind; d <= maxd; d++) {
        double per[MAXD], wall;
        job j = {.d = d, .seconds = single_s};
        char tms[32], seeds[32], tms1[32], seeds1[32], copys[32];
        snprintf(tms, sizeof tms, "scale_tm%d", d);
        snprintf(tms1, sizeof tms1, "scale_tm%d_single", d);
        snprintf(seeds, sizeof seeds, "scale_seed%d", d);
        snprintf(seeds1, sizeof seeds1, "scale_seed%d_single", d);
        snprintf(copys, sizeof copys, "scale_copy%d", d);
        pg_fresh(seeds, 1);
        pg_fresh(seeds1, 1);
        pg_fresh(copys, 1);
        pg_fresh(tms, 0);
        pg_fresh(tms1, 0);
        /* 1. durable single writes */
        double rate[2] = {0, 0};
        for (int kind = 0; kind < 2; kind++) {
            j.kind = kind;
            snprintf(j.schema, sizeof j.schema, "%s", kind ? seeds1 : tms1);
            in_parallel(d, single_writes, &j, per);
            for (int k = 0; k < d; k++)
                rate[kind] += per[k];
        }
        fprintf(o, "| %d | ingest: one durable write per call, all daemons | events/s | %.0f | %.0f | %.3g |\n", d,
                rate[0], rate[1], rate[0] / rate[1]);
        fprintf(stderr, "pgscale: %d daemons: single %.0f vs %.0f ev/s\n", d, rate[0], rate[1]);
        for (int kind = 0; kind < 2; kind++) {
            j.kind = kind;
            snprintf(j.schema, sizeof j.schema, "%s", kind ? seeds1 : tms1);
            in_parallel(d, concurrent_writes, &j, per);
            rate[kind] = 0;
            for (int k = 0; k < d; k++)
                rate[kind] += per[k];
        }
        fprintf(o, "| %d | ingest: %d callers per daemon, each waiting for its durable write, all daemons | events/s |"
                   " %.0f | %.0f | %.3g |\n", d, CALLERS, rate[0], rate[1], rate[0] / rate[1]);
        fprintf(stderr, "pgscale: %d daemons: %d callers each %.0f vs %.0f ev/s\n", d, CALLERS, rate[0], rate[1]);
        /* 2. batched load */
        double lr[3];
        for (int kind = 0; kind < 3; kind++) {
            j.kind = kind;
            snprintf(j.schema, sizeof j.schema, "%s", kind == 0 ? tms : kind == 1 ? seeds : copys);
            wall = in_parallel(d, load, &j, per);
            lr[kind] = (double)n / wall;
            fprintf(stderr, "pgscale: %d daemons: load kind %d: %.0f ev/s (%.1f s)\n", d, kind, lr[kind], wall);
        }
        fprintf(o, "| %d | ingest: batched, all daemons (tokmeter tm_track; seed multi-row INSERT of 1,000) | events/s |"
                   " %.0f | %.0f | %.3g |\n", d, lr[0], lr[1], lr[0] / lr[1]);
        fprintf(o, "| %d | ingest: batched, per daemon | events/s | %.0f | %.0f | %.3g |\n", d, lr[0] / d,
                lr[1] / d, lr[0] / lr[1]);
        fprintf(o, "| %d | ingest: seed design with COPY, all writers | events/s | — | %.0f | %.3g |\n", d, lr[2],
                lr[0] / lr[2]);
        PGconn *c = pg_at(seeds);
        pg_exec(c, "ANALYZE api_call_logs");
        PQfinish(c);
        c = pg_at(copys);
        pg_exec(c, "DROP TABLE api_call_logs");
        PQfinish(c);
        /* 3. queries: equal answers first */
        tm *t = tm_at(tms);
        c = pg_at(seeds);
        double first[NQ];
        for (int q = 0; q < NQ; q++) {
            answer A = {0}, B = {0};
            char na[48], nb[48];
            double t0 = bench_now();
            tm_answer(t, tq[q], &A);
            first[q] = (bench_now() - t0) * 1e3;
            pg_answer(c, q_pg[q], seed_ev_col[q], seed_cost_col[q], &B);
            norm(A.cost, na);
            norm(B.cost, nb);
            int bad = q == 3 ? 0 : A.rows != B.rows || A.events != B.events || (seed_cost_col[q] >= 0 && strcmp(na, nb));
            for (int k = 0; q == 3 && k < 3; k++)
                bad |= fabs(A.p[k] - B.p[k]) > 0.02 * B.p[k] + 1;
            if (bad) {
                fprintf(stderr, "pgscale: MISMATCH %s: tokmeter rows %ld events %lld cost %s; seed rows %ld events %lld cost %s\n",
                        seed_names[q], A.rows, (long long)A.events, na, B.rows, (long long)B.events, nb);
                return 2;
            }
        }
        fprintf(o, "| %d | query: the first of a new daemon (loads the rollups whole) | ms | %.4g | — | — |\n", d,
                first[0]);
        for (int q = 0; q < NQ; q++) {
            double ms[2];
            for (int kind = 0; kind < 2; kind++) {
                job qj = {.d = d, .kind = kind, .rep = q};
                snprintf(qj.schema, sizeof qj.schema, "%s", kind ? seeds : tms);
                in_parallel(d, queries, &qj, per);
                ms[kind] = median3(per, d);
            }
            fprintf(o, "| %d | %s (each daemon at once) | ms | %.4g | %.4g | %.3g |\n", d, seed_names[q], ms[0],
                    ms[1], ms[1] / ms[0]);
        }
        /* A query right after another daemon's commit of 1,000 events. */
        tm *other = tm_at(tms);
        double v[64];
        answer a;
        char model[32], endpoint[32], user[32];
        for (int r = 0; r < reps; r++) {
            for (long i = 0; i < CHUNK; i++) {
                tm_event te;
                tm_event_of(&evs[(r * CHUNK + i) % nev], &te, model, endpoint, user);
                if (tm_track(other, &te))
                    tm_die("track");
            }
            if (tm_flush(other))
                tm_die("flush");
            double t0 = bench_now();
            tm_answer(t, tq[0], &a);
            v[r] = (bench_now() - t0) * 1e3;
        }
        fprintf(o, "| %d | %s, right after another daemon committed 1,000 events | ms | %.4g | — | — |\n", d,
                seed_names[0], median3(v, reps));
        tm_close(other);
        tm_close(t);
        PQfinish(c);
        fflush(o);
    }
    fclose(o);
    return 0;
}
