/*
 * proxy.c — the gateway's overhead: the same load straight to the fake
 * upstream and through `tokmeter serve`'s proxy, in one run (bench/proxy.sh).
 *
 *   bench_proxy UPSTREAM_PORT TOKMETER_PORT json|sse CONNS SECONDS
 *
 * Each connection is a thread on a keep-alive socket: it sends a chat
 * completion request, reads the whole answer (Content-Length or chunked),
 * and records the latency. The two targets alternate in rounds of half a
 * second, so both see the same machine. Prints p50, p99 and calls/s for
 * each and the difference. Every answer must be a 200 or the run fails.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static int sse, conns;
static double t_end;
static const char *paths[2] = {"/bench/json", "/proxy/bench/bench/json"};
static int ports[2];

typedef struct worker {
    long n[2];
    double *lat[2];
    long cap[2];
    int failed;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    char req[2][1024], resp[65536];
    int fd[2] = {bench_connect(ports[0]), bench_connect(ports[1])};
    size_t rl[2];
    const char *body = sse ? "{\"model\":\"bench-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                           : "{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    /* BENCH_NO_USER=1: no user, so no quota check (to see what the check costs) */
    const char *user = getenv("BENCH_NO_USER") ? "" : "X-Tokmeter-User: bench-user\r\n";
    for (int t = 0; t < 2; t++) {
        char path[64];
        snprintf(path, sizeof path, "%s", paths[t]);
        if (sse)
            memcpy(strstr(path, "json"), "sse", 4);
        rl[t] = (size_t)snprintf(req[t], sizeof req[t],
                                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 "Authorization: Bearer sk-bench\r\n%s"
                                 "Content-Length: %zu\r\n\r\n%s", path, user, strlen(body), body);
    }
    if (fd[0] < 0 || fd[1] < 0) {
        w->failed = 1;
        return NULL;
    }
    while (!w->failed) {
        double now = bench_now();
        if (now >= t_end)
            break;
        int t = (int)((t_end - now) * 2) % 2; /* alternate targets every 0.5 s */
        double t0 = bench_now();
        if (write(fd[t], req[t], rl[t]) != (ssize_t)rl[t] || bench_read_response(fd[t], resp, sizeof resp) != 200) {
            w->failed = 1;
            break;
        }
        if (w->n[t] == w->cap[t]) {
            w->cap[t] = w->cap[t] ? w->cap[t] * 2 : 4096;
            w->lat[t] = realloc(w->lat[t], (size_t)w->cap[t] * sizeof *w->lat[t]);
        }
        w->lat[t][w->n[t]++] = bench_now() - t0;
    }
    close(fd[0]);
    close(fd[1]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_proxy UPSTREAM_PORT TOKMETER_PORT json|sse CONNS SECONDS\n");
        return 64;
    }
    ports[0] = atoi(argv[1]);
    ports[1] = atoi(argv[2]);
    sse = strcmp(argv[3], "sse") == 0;
    conns = atoi(argv[4]);
    int seconds = atoi(argv[5]);
    worker *ws = calloc((size_t)conns, sizeof *ws);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    t_end = bench_now() + seconds;
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, &ws[i]);
    long failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        failed += ws[i].failed;
    }
    double p50[2], p99[2], rate[2];
    for (int t = 0; t < 2; t++) {
        long n = 0, k = 0;
        for (int i = 0; i < conns; i++)
            n += ws[i].n[t];
        double *all = malloc((size_t)(n ? n : 1) * sizeof *all), busy = 0;
        for (int i = 0; i < conns; i++) {
            memcpy(all + k, ws[i].lat[t], (size_t)ws[i].n[t] * sizeof *all);
            k += ws[i].n[t];
        }
        for (long i = 0; i < n; i++)
            busy += all[i];
        qsort(all, (size_t)n, sizeof *all, bench_cmpd);
        p50[t] = n ? all[n / 2] * 1e6 : 0;
        p99[t] = n ? all[(long)(n * 0.99)] * 1e6 : 0;
        /* calls/s while this target was being driven: n over its share of the time */
        rate[t] = busy > 0 ? (double)n / (busy / conns) : 0;
        printf("proxy %-4s %2d conns %-9s %8ld calls %9.0f calls/s  p50 %8.1f us  p99 %8.1f us\n",
               sse ? "sse" : "json", conns, t ? "tokmeter" : "direct", n, rate[t], p50[t], p99[t]);
        free(all);
    }
    printf("proxy %-4s %2d conns added    p50 %+.1f us  p99 %+.1f us%s\n", sse ? "sse" : "json", conns,
           p50[1] - p50[0], p99[1] - p99[0], failed ? "  (SOME FAILED)" : "");
    for (int i = 0; i < conns; i++)
        free(ws[i].lat[0]), free(ws[i].lat[1]);
    free(ws);
    free(th);
    return failed ? 1 : 0;
}
