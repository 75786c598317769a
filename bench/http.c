/*
 * http.c — an HTTP load generator for the daemon, on loopback.
 *
 *   bench_http PORT single CONNS SECONDS   one event per POST, CONNS keep-alive connections
 *   bench_http PORT batch  CONNS SECONDS   1,000-event NDJSON bodies
 *   bench_http PORT check  CONNS SECONDS   POST /v1/check for 100 users
 *
 * Each connection is a thread that sends a request, reads the whole
 * response, and records the latency; every response must be a 200 or the
 * run fails. Bounded in time; traffic goes only to 127.0.0.1.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int port, batch, check, seconds;
static double t_end;

typedef struct worker {
    int id;
    long n, events;
    double *lat;
    long cap;
    int failed;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    size_t cap = (size_t)(batch ? 1000 : 1) * 400 + 512;
    char *body = malloc(cap), *req = malloc(cap + 512), resp[65536];
    int fd = bench_connect(port);
    if (fd < 0) {
        w->failed = 1;
        return NULL;
    }
    while (bench_now() < t_end) {
        size_t len = 0;
        int k = batch ? 1000 : 1;
        for (int i = 0; i < k; i++)
            len += (size_t)snprintf(body + len, cap - len,
                                    "{\"id\":\"w%d-%ld-%d\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\","
                                    "\"user_id\":\"user-%ld\",\"endpoint\":\"/chat\",\"input_tokens\":%d,"
                                    "\"output_tokens\":%d,\"latency_ms\":%d}\n",
                                    w->id, w->n, i, (w->n * 7 + i) % 1000, 100 + i, 20 + i % 50, 200 + i % 900);
        if (check)
            len = (size_t)snprintf(body, cap, "{\"user_id\":\"user-%ld\",\"operation\":\"chat\","
                                              "\"estimated_tokens\":500}", w->n % 100);
        int rl = snprintf(req, cap + 512,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\n\r\n", check ? "/v1/check" : "/v1/events",
                          batch ? "application/x-ndjson" : "application/json", len);
        memcpy(req + rl, body, len);
        double t0 = bench_now();
        if (write(fd, req, (size_t)rl + len) != (ssize_t)((size_t)rl + len) ||
            bench_read_response(fd, resp, sizeof resp) != 200) {
            w->failed = 1;
            break;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, (size_t)w->cap * sizeof *w->lat);
        }
        w->lat[w->n++] = bench_now() - t0;
        w->events += k;
    }
    close(fd);
    free(body);
    free(req);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_http PORT single|batch|check CONNS SECONDS\n");
        return 64;
    }
    port = atoi(argv[1]);
    batch = strcmp(argv[2], "batch") == 0;
    check = strcmp(argv[2], "check") == 0;
    int conns = atoi(argv[3]);
    seconds = atoi(argv[4]);
    worker *ws = calloc((size_t)conns, sizeof *ws);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = bench_now();
    t_end = t0 + seconds;
    for (int i = 0; i < conns; i++) {
        ws[i].id = i;
        pthread_create(&th[i], NULL, run, &ws[i]);
    }
    long n = 0, events = 0, failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        n += ws[i].n;
        events += ws[i].events;
        failed += ws[i].failed;
    }
    double dt = bench_now() - t0;
    double *all = malloc((size_t)(n ? n : 1) * sizeof *all);
    long k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, ws[i].lat, (size_t)ws[i].n * sizeof *all);
        k += ws[i].n;
    }
    qsort(all, (size_t)n, sizeof *all, bench_cmpd);
    printf("http %-6s %3d connections: %8ld requests %9.0f req/s %10.0f events/s  p50 %.3f ms  p99 %.3f ms%s\n",
           batch ? "batch" : check ? "check" : "single", conns, n, n / dt, events / dt, n ? all[n / 2] * 1e3 : 0,
           n ? all[(long)(n * 0.99)] * 1e3 : 0, failed ? "  (SOME FAILED)" : "");
    return failed ? 1 : 0;
}
