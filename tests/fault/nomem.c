/*
 * nomem.c — ENOMEM at each allocation of an ingest, in turn.
 *
 *   LD_PRELOAD=/usr/lib/fiu/fiu_posix_preload.so tm_nomem DIR
 *
 * libfiu's POSIX preload (Debian's libfiu0) puts a failure point in front of
 * malloc, calloc and realloc; an external callback makes exactly the N-th
 * allocation after it is armed fail with ENOMEM. For N = 1, 2, ... a batch
 * of three events goes through tm_track_json (the daemon's and the CLI's
 * way in) with the N-th allocation failing, until a batch passes with no
 * allocation left to fail. Each time: no crash; either all three are
 * accepted, or the call fails with TM_ENOMEM (or TM_EIO from the store)
 * and a message; never is a valid event rejected as bad input; and the
 * same batch sent again with the fault cleared is stored (accepted, or a
 * duplicate of what was stored before the error). At the end the store is
 * reopened: every acknowledged event is there and tm_verify passes.
 * Allocations of the writer's thread count too, so N walks every step of
 * validation, pricing, queueing and the commit.
 */
#include <errno.h>
#include <fiu-control.h>
#include <fiu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokmeter.h"

static long countdown;

static int fail_nth(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
    (void)name, (void)failnum, (void)failinfo, (void)flags;
    return __atomic_sub_fetch(&countdown, 1, __ATOMIC_SEQ_CST) == 0;
}

static void verify_line(void *arg, const char *line)
{
    (void)arg;
    if (strncmp(line, "ok", 2) != 0)
        fprintf(stderr, "nomem: verify: %s\n", line);
}

static const char *const points[] = {"libc/mm/malloc", "libc/mm/calloc", "libc/mm/realloc"};

static void arm(long n)
{
    __atomic_store_n(&countdown, n, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < 3; i++)
        fiu_enable_external(points[i], 1, (void *)(long)ENOMEM, 0, fail_nth);
}

static void disarm(void)
{
    for (size_t i = 0; i < 3; i++)
        fiu_disable(points[i]);
}

static int count_ids(void *arg, const tm_event *ev)
{
    (void)ev;
    ++*(long *)arg;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: LD_PRELOAD=.../fiu_posix_preload.so tm_nomem DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/store.db", argv[1]);
    fiu_init(0);
    tm *t = NULL;
    if (tm_open(&t, path, NULL) != TM_OK) {
        fprintf(stderr, "nomem: open: %s\n", tm_errmsg());
        return 1;
    }
    long n, acked = 0, failed = 0, problems = 0;
    char body[1024];
    for (n = 1; n < 100000; n++) {
        snprintf(body, sizeof body,
                 "[{\"id\":\"n%ld-a\",\"timestamp\":1790000000000,\"provider\":\"anthropic\",\"model\":"
                 "\"claude-sonnet-4\",\"user_id\":\"u1\",\"input_tokens\":100,\"output_tokens\":20,"
                 "\"latency_ms\":12.5,\"metadata\":{\"k\":[1,2]}},"
                 "{\"id\":\"n%ld-b\",\"timestamp\":1790000000000,\"service\":\"openai\",\"model\":"
                 "\"gpt-4o\",\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}},"
                 "{\"id\":\"n%ld-c\",\"timestamp\":1790000000000,\"metric_type\":\"compute_minutes\","
                 "\"value\":\"1.5\"}]",
                 n, n, n);
        tm_batch_result *r = NULL;
        arm(n);
        int rc = tm_track_json(t, body, strlen(body), 0, NULL, &r);
        disarm();
        int fired = __atomic_load_n(&countdown, __ATOMIC_SEQ_CST) <= 0;
        if (rc == TM_OK && r && r->accepted == 3) {
            acked += 3;
        } else if (rc == TM_OK) {
            fprintf(stderr, "nomem: allocation %ld failed: %zu accepted, %zu rejected (%s)\n", n,
                    r ? r->accepted : 0, r ? r->rejected : 0,
                    r && r->n && r->items[0].error ? r->items[0].error : "-");
            problems++;
        } else if (rc == TM_ENOMEM || rc == TM_EIO) {
            failed++;
            if (!*tm_errmsg()) {
                fprintf(stderr, "nomem: allocation %ld: %s with no message\n", n, tm_strerror(rc));
                problems++;
            }
        } else {
            fprintf(stderr, "nomem: allocation %ld: unexpected %s: %s\n", n, tm_strerror(rc), tm_errmsg());
            problems++;
        }
        tm_batch_result_free(r);
        if (!(rc == TM_OK && r)) { /* the fault cleared: the same batch again */
            r = NULL;
            rc = tm_track_json(t, body, strlen(body), 0, NULL, &r);
            if (rc != TM_OK || !r || r->accepted + r->duplicates != 3) {
                fprintf(stderr, "nomem: allocation %ld: the retry without the fault got %s: %s\n", n,
                        tm_strerror(rc), tm_errmsg());
                problems++;
            } else {
                acked += 3;
            }
            tm_batch_result_free(r);
        }
        if (!fired)
            break; /* no allocation was left to fail: every one has been tried */
    }
    if (tm_close(t) != TM_OK)
        fprintf(stderr, "nomem: close: %s\n", tm_errmsg());
    t = NULL;
    long stored = 0;
    if (tm_open(&t, path, NULL) != TM_OK || tm_events(t, NULL, count_ids, &stored) != TM_OK) {
        fprintf(stderr, "nomem: reopen: %s\n", tm_errmsg());
        return 1;
    }
    if (stored < acked) {
        fprintf(stderr, "nomem: %ld events acknowledged, %ld stored\n", acked, stored);
        problems++;
    }
    if (tm_verify(t, verify_line, NULL) != TM_OK) {
        fprintf(stderr, "nomem: verify: %s\n", tm_errmsg());
        problems++;
    }
    tm_close(t);
    printf("nomem: %ld allocations failed in turn, %ld calls failed cleanly, %ld events acknowledged, "
           "%ld stored, %ld problems\n",
           n - 1, failed, acked, stored, problems);
    return problems ? 1 : 0;
}
