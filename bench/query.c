/*
 * query.c — query benchmark over a realistic data set.
 *
 *   bench_query [DIR] [EVENTS] [gen]  (default /var/tmp, 10,000,000; gen:
 *                                      generate the store and stop)
 *
 * Generates EVENTS events over 90 days (10,000 users with a skewed
 * distribution, 40 models over 8 providers, 50 endpoints, heavy-tailed
 * latencies, 3% errors with a status code and message) into
 * DIR/bench-query-EVENTS.db unless a store with that many events is already
 * there, then prints:
 *   - ingest rate of the generation (tm_track, group commit, rollups);
 *   - restart-to-ready: tm_open plus the first query (loads the rollups);
 *   - p50/p99 latency of each query type over 200 runs.
 * The 90 days end on 2026-11-01 (UTC), or on the date in BENCH_END
 * (YYYY-MM-DD): bench/dashboard.sh makes a store that ends near today, as
 * the dashboard's presets end now (the queries below keep their dates).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/lib/lib.h"
#include "bench.h"
#include "tokmeter.h"

#define DAYS 90
static int64_t END_US = 1793491200000000LL; /* 2026-11-01T00:00:00Z */

/* Failed calls: a status code and the provider's message, some more often. */
static const struct {
    int status;
    const char *error;
} failures[6] = {
    {429, "rate_limit_exceeded: Rate limit reached for requests"},
    {429, "rate_limit_exceeded: Rate limit reached for requests"},
    {500, "internal_error: The server had an error processing your request"},
    {503, "overloaded: The engine is currently overloaded, please try again later"},
    {400, "context_length_exceeded: This model's maximum context length is 128000 tokens"},
    {408, "timeout: Request timed out"},
};

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static const char *providers[8] = {"openai", "anthropic", "google", "deepseek",
                                   "mistral", "xai", "groq", "cerebras"};
static char models[40][32], endpoints[50][32];

static void generate(tm *t, long n)
{
    for (int i = 0; i < 40; i++)
        snprintf(models[i], sizeof models[i], "%s-model-%d", providers[i / 5], i % 5);
    for (int i = 0; i < 50; i++)
        snprintf(endpoints[i], sizeof endpoints[i], "/api/v1/endpoint-%02d", i);
    char user[32];
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        tm_event ev;
        tm_event_init(&ev);
        int m = (int)(pow(bench_unit(&rng), 1.5) * 40);
        int u = (int)(pow(bench_unit(&rng), 2.0) * 10000);
        int e = (int)(pow(bench_unit(&rng), 1.8) * 50);
        snprintf(user, sizeof user, "user-%05d", u);
        /* Arrival order, as live ingest sees it: time runs forward, with a
         * few seconds of jitter. */
        ev.ts_us = END_US - DAYS * 86400000000LL + (int64_t)((double)i / n * DAYS * 86400e6) +
                   (int64_t)(bench_unit(&rng) * 5e6);
        ev.provider = providers[m / 5];
        ev.model = models[m];
        ev.user_id = user;
        ev.endpoint = endpoints[e];
        ev.operation = bench_next(&rng) % 4 ? "chat" : "embed";
        ev.input_tokens = (int64_t)(bench_unit(&rng) * 4000);
        ev.output_tokens = (int64_t)(bench_unit(&rng) * 800);
        ev.cache_read_tokens = bench_next(&rng) % 3 ? 0 : (int64_t)(bench_unit(&rng) * 8000);
        ev.latency_ns = (int64_t)(150e6 * exp(0.9 * sqrt(-2 * log(bench_unit(&rng) + 1e-12)) * cos(6.283185 * bench_unit(&rng))));
        ev.success = bench_next(&rng) % 100 >= 3;
        ev.cost_pusd = (int64_t)(bench_unit(&rng) * 20000000000.0); /* up to 2 cents, reported */
        ev.has = TM_HAS_TS | TM_HAS_TOKENS | TM_HAS_LATENCY | TM_HAS_SUCCESS | TM_HAS_COST;
        if (!ev.success) {
            ev.status_code = failures[i % 6].status;
            ev.error = failures[i % 6].error;
            ev.has |= TM_HAS_STATUS;
        }
        if (tm_track(t, &ev)) {
            fprintf(stderr, "track: %s\n", tm_errmsg());
            exit(1);
        }
        if ((i + 1) % 1000000 == 0) {
            fprintf(stderr, "  generated %ld events (%.0f/s)\n", i + 1, (i + 1) / (bench_now() - t0));
        }
    }
    if (tm_flush(t)) {
        fprintf(stderr, "flush: %s\n", tm_errmsg());
        exit(1);
    }
    double dt = bench_now() - t0;
    printf("generate: %ld events in %.1f s: %.0f events/s (tm_track, with rollups)\n", n, dt, n / dt);
}

static void run_report(tm *t, const char *const *params)
{
    tm_report *r = NULL;
    if (tm_report_run(t, params, &r)) {
        fprintf(stderr, "query: %s\n", tm_errmsg());
        exit(1);
    }
    tm_report_free(r);
}

#define REPS 200

/* user_usage: the seed route's answer (GET /api/usage/{userId}) for a
 * random user (1) or the heaviest, user-00000 (2). */
static void bench(tm *t, const char *name, const char *const *params, int user_usage)
{
    double lat[REPS];
    char user[32];
    for (int i = -10; i < REPS; i++) {
        double t0 = bench_now();
        if (user_usage) {
            tm_buf b = TM_BUF_INIT;
            tm_user_month u;
            snprintf(user, sizeof user, "user-%05d", user_usage == 2 ? 0 : (int)(bench_next(&rng) % 10000));
            if (tm__user_month(t, user, "2026-10", "UTC", &u) || tm__user_month_json(&u, user, &b)) {
                fprintf(stderr, "usage: %s\n", tm_errmsg());
                exit(1);
            }
            tm__user_month_free(&u);
            tm__buf_free(&b);
        } else {
            run_report(t, params);
        }
        if (i >= 0)
            lat[i] = (bench_now() - t0) * 1e3;
    }
    qsort(lat, REPS, sizeof lat[0], bench_cmpd);
    printf("  %-44s p50 %8.3f ms   p99 %8.3f ms\n", name, lat[REPS / 2], lat[REPS * 99 / 100]);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10000000;
    const char *end = getenv("BENCH_END");
    if (end && *end) {
        struct tm d = {0};
        if (sscanf(end, "%d-%d-%d", &d.tm_year, &d.tm_mon, &d.tm_mday) != 3) {
            fprintf(stderr, "BENCH_END: want a date YYYY-MM-DD, got %s\n", end);
            return 1;
        }
        d.tm_year -= 1900;
        d.tm_mon -= 1;
        END_US = (int64_t)timegm(&d) * 1000000;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/bench-query-%ld.db", dir, n);
    tm *t = NULL;
    if (tm_open(&t, path, NULL)) {
        fprintf(stderr, "open: %s\n", tm_errmsg());
        return 1;
    }
    int64_t have = 0;
    tm_count(t, &have);
    printf("tokmeter query benchmark: %ld events over %d days, store %s, %ld cores\n", n, DAYS,
           path, sysconf(_SC_NPROCESSORS_ONLN));
    if (have != n) {
        if (have) {
            fprintf(stderr, "%s holds %lld events, not %ld: remove it first\n", path, (long long)have, n);
            return 1;
        }
        generate(t, n);
    } else {
        printf("generate: reusing the store (%lld events)\n", (long long)have);
    }
    tm_close(t);
    if (argc > 3 && strcmp(argv[3], "gen") == 0)
        return 0;

    /* Restart to ready: open, and answer a first query (the rollups load):
     * from the store's rows (no snapshot: none is left by a run that never
     * loaded them), then from the snapshot that clean close leaves. */
    const char *daily[] = {"from", "2026-10-02", "to", "2026-11-01", "interval", "day",
                           "group_by", "provider", "tz", "UTC", NULL};
    char snap[1100];
    snprintf(snap, sizeof snap, "%s-rollups", path);
    double t0 = 0;
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            unlink(snap);
        else
            tm_close(t);
        t0 = bench_now();
        if (tm_open(&t, path, NULL)) {
            fprintf(stderr, "open: %s\n", tm_errmsg());
            return 1;
        }
        run_report(t, daily);
        printf("restart to ready (open + first query), %s: %.3f s\n",
               k ? "from the rollups snapshot" : "rollups from the store", bench_now() - t0);
    }
    const char *user_days[] = {"from", "2026-10-01", "to", "2026-11-01", "interval", "day",
                               "where", "user_id=user-00000", "tz", "UTC", NULL};
    t0 = bench_now();
    run_report(t, user_days);
    printf("first user query (loads the user cells): %.3f s\n", bench_now() - t0);

    const char *hourly[] = {"from", "2026-10-25", "to", "2026-11-01", "interval", "hour",
                            "where", "model=openai-model-0", "tz", "UTC", NULL};
    const char *p95[] = {"from", "2026-10-25", "to", "2026-11-01", "group_by", "provider",
                         "tz", "UTC", NULL};
    const char *top[] = {"from", "2026-10-02", "to", "2026-11-01", "group_by", "endpoint",
                         "order_by", "events", "limit", "10", "tz", "UTC", NULL};
    const char *top_users[] = {"from", "2026-10-02", "to", "2026-11-01", "group_by", "user_id",
                               "order_by", "cost_usd", "limit", "10", "tz", "UTC", NULL};
    printf("queries (%d runs each, JSON included):\n", REPS);
    bench(t, "daily cost by provider, 30 days", daily, 0);
    bench(t, "hourly series for one model, 7 days", hourly, 0);
    bench(t, "latency p50/p95/p99 by provider, 7 days", p95, 0);
    bench(t, "one user's month (usage dashboard)", NULL, 1);
    bench(t, "one user's month, heaviest user (dashboard)", NULL, 2);
    bench(t, "a user's daily breakdown, heaviest user", user_days, 0);
    bench(t, "top 10 users by cost, 30 days", top_users, 0);
    bench(t, "top 10 endpoints, 30 days", top, 0);
    tm_close(t);
    return 0;
}
