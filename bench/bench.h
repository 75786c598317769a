/*
 * bench.h — helpers every benchmark uses: a monotonic clock, a loopback
 * connection and an HTTP response reader, a seeded xorshift generator (so
 * runs are repeatable), and a double comparator for sorting latencies into
 * percentiles. Header-only: each bench is one translation unit.
 */
#ifndef TM_BENCH_H
#define TM_BENCH_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64: the next value of the generator whose state is *s. */
static inline uint64_t bench_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A uniform double in [0, 1) from the generator *s. */
static inline double bench_unit(uint64_t *s) { return (double)(bench_next(s) >> 11) / 9007199254740992.0; }

/* A TCP connection to 127.0.0.1:port with Nagle off, or -1. */
static inline int bench_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one whole HTTP response into buf (Content-Length or chunked; one
 * request in flight, so no bytes beyond it). Returns the status, or -1. */
static inline int bench_read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, cap - have - 1);
        if (got <= 0)
            return -1;
        have += (size_t)got;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t head = (size_t)(end + 4 - buf);
        *end = '\0';
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        int chunked = strcasestr(buf, "\r\nTransfer-Encoding: chunked") != NULL;
        *end = '\r';
        if (cl && have >= head + strtoul(cl + 17, NULL, 10))
            return atoi(buf + 9);
        if (chunked && have >= head + 5 && memcmp(buf + have - 5, "0\r\n\r\n", 5) == 0)
            return atoi(buf + 9);
        if (have + 1 >= cap)
            return -1;
    }
}

/* qsort comparator for doubles, ascending. */
static inline int bench_cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif
