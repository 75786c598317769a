/*
 * ingest.c — ingest benchmark for libtokmeter's store path.
 *
 *   bench_ingest [DIR] [EVENTS]
 *
 * Prints, on a fresh store in DIR (default /var/tmp; must be a real disk:
 * tmpfs makes fsync free and the figures meaningless):
 *   1. batched:  EVENTS events through tm_track (queued; group commit),
 *                with generated ids and with client ids (dedup index);
 *   2. json:     the same through tm_track_json, NDJSON bodies of 1,000;
 *   3. durable:  16 threads, each tm_track_sync one event at a time;
 *                p50/p99/max acknowledgement latency and events/s.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tokmeter.h"

static const char *providers[] = {"openai", "anthropic", "google", "deepseek",
                                  "mistral", "xai", "groq", "cerebras"};
static const char *models[] = {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5",
                               "gemini-2.5-pro", "deepseek-chat", "mistral-large", "grok-4"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static void fill(tm_event *ev, long i, char *user, char *endpoint, char *id)
{
    tm_event_init(ev);
    uint64_t r = bench_next(&rng);
    snprintf(user, 32, "user-%u", (unsigned)(r % 10000));
    snprintf(endpoint, 32, "/api/e%u", (unsigned)((r >> 16) % 50));
    ev->provider = providers[r % 8];
    ev->model = models[(r >> 8) % 8];
    ev->user_id = user;
    ev->endpoint = endpoint;
    ev->operation = "chat";
    ev->input_tokens = (int64_t)(r >> 20) % 4000;
    ev->output_tokens = (int64_t)(r >> 32) % 800;
    ev->latency_ns = (int64_t)((r >> 40) % 3000) * 1000000;
    ev->ts_us = 1790000000000000LL + i * 1000;
    ev->total_tokens = ev->input_tokens + ev->output_tokens;
    ev->has = TM_HAS_TOKENS | TM_HAS_TOTAL | TM_HAS_LATENCY | TM_HAS_TS;
    if (id) {
        snprintf(id, 40, "%016llx-%08lx", (unsigned long long)bench_next(&rng), i);
        ev->id = id;
    }
}

static tm *fresh(const char *dir, const char *name)
{
    char path[1024], p[1100];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
    tm *t = NULL;
    tm_options o = {0};
    if (getenv("BATCH"))
        o.queue_max = o.batch_max = strtoul(getenv("BATCH"), NULL, 10);
    if (tm_open(&t, path, &o)) {
        fprintf(stderr, "open %s: %s\n", path, tm_errmsg());
        exit(1);
    }
    return t;
}

static void batched(const char *dir, long n, int client_ids)
{
    tm *t = fresh(dir, client_ids ? "bench-batch-ids.db" : "bench-batch.db");
    char user[32], endpoint[32], id[40];
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        tm_event ev;
        fill(&ev, i, user, endpoint, client_ids ? id : NULL);
        if (tm_track(t, &ev)) {
            fprintf(stderr, "track: %s\n", tm_errmsg());
            exit(1);
        }
    }
    if (tm_flush(t)) {
        fprintf(stderr, "flush: %s\n", tm_errmsg());
        exit(1);
    }
    double dt = bench_now() - t0;
    printf("batched tm_track, %-16s %9ld events  %8.2f s  %10.0f events/s\n",
           client_ids ? "client ids:" : "generated ids:", n, dt, n / dt);
    tm_close(t);
}

typedef struct jworker {
    tm *t;
    long n, first;
} jworker;

/* One client: builds NDJSON bodies of 1,000 events and sends each durably. */
static void *json_worker(void *arg)
{
    jworker *w = arg;
    char user[32], endpoint[32], id[40], line[1024];
    size_t len = 0;
    char *body = malloc(1000 * 1024);
    for (long i = w->first; i < w->first + w->n; i++) {
        tm_event ev;
        fill(&ev, i, user, endpoint, id);
        size_t k = tm_event_to_json(&ev, line, sizeof line);
        memcpy(body + len, line, k);
        len += k;
        body[len++] = '\n';
        if ((i + 1 - w->first) % 1000 == 0 || i == w->first + w->n - 1) {
            tm_batch_result *r = NULL;
            if (tm_track_json(w->t, body, len, TM_JSON_NDJSON, NULL, &r) || r->rejected) {
                fprintf(stderr, "json: %s %s\n", tm_errmsg(),
                        r && r->rejected ? r->items[0].error : "");
                exit(1);
            }
            tm_batch_result_free(r);
            len = 0;
        }
    }
    free(body);
    return NULL;
}

/* Like concurrent HTTP clients: `clients` threads each send durable NDJSON
 * bodies of 1,000 events (client ids). Body building is included. */
static void json(const char *dir, long n, int clients)
{
    tm *t = fresh(dir, "bench-json.db");
    pthread_t th[16];
    jworker ws[16];
    double t0 = bench_now();
    for (int i = 0; i < clients; i++) {
        ws[i] = (jworker){t, n / clients, i * (n / clients)};
        pthread_create(&th[i], NULL, json_worker, &ws[i]);
    }
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double dt = bench_now() - t0;
    printf("tm_track_json, %d clients, durable bodies of 1000: %8ld events  %8.2f s  %10.0f events/s\n",
           clients, n, dt, n / dt);
    tm_close(t);
}

typedef struct worker {
    tm *t;
    int id;
    long n;
    double *lat;
} worker;

static void *sync_worker(void *arg)
{
    worker *w = arg;
    char user[32], endpoint[32], id[40];
    for (long i = 0; i < w->n; i++) {
        tm_event ev;
        fill(&ev, i, user, endpoint, id);
        double t0 = bench_now();
        if (tm_track_sync(w->t, &ev, NULL)) {
            fprintf(stderr, "sync: %s\n", tm_errmsg());
            exit(1);
        }
        w->lat[i] = bench_now() - t0;
    }
    return NULL;
}

static void durable(const char *dir, int threads, long per)
{
    tm *t = fresh(dir, "bench-sync.db");
    worker ws[64];
    pthread_t th[64];
    double *lat = malloc(sizeof *lat * (size_t)(threads * per));
    double t0 = bench_now();
    for (int i = 0; i < threads; i++) {
        ws[i] = (worker){t, i, per, lat + i * per};
        pthread_create(&th[i], NULL, sync_worker, &ws[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double dt = bench_now() - t0;
    long n = threads * per;
    qsort(lat, (size_t)n, sizeof *lat, bench_cmpd);
    printf("durable tm_track_sync, %2d writers: %8ld events  %10.0f events/s  "
           "ack p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           threads, n, n / dt, lat[n / 2] * 1e3, lat[(long)(n * 0.99)] * 1e3, lat[n - 1] * 1e3);
    free(lat);
    tm_close(t);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    printf("tokmeter ingest benchmark: %ld events, store in %s, %ld cores\n", n, dir,
           sysconf(_SC_NPROCESSORS_ONLN));
    batched(dir, n, 0);
    batched(dir, n, 1);
    json(dir, n / 2, 1);
    json(dir, n / 2, 4);
    durable(dir, 1, 2000);
    durable(dir, 16, 2000);
    return 0;
}
