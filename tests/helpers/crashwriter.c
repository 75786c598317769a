/*
 * crashwriter.c — a test helper for the durability promise.
 *
 *   tm_crashwriter DB PREFIX THREADS
 *
 * THREADS threads each call tm_track_sync in a loop with ids
 * PREFIX-<thread>-<n>, and print each id on stdout (flushed) only after its
 * call returned TM_OK. The test kills this process with SIGKILL at a random
 * moment and then checks that every printed id is in the store exactly once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "tokmeter.h"

static tm *t;
static const char *prefix;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void *loop(void *arg)
{
    long id = (long)arg;
    char buf[128];
    for (long n = 0;; n++) {
        tm_event ev;
        tm_event_init(&ev);
        snprintf(buf, sizeof buf, "%s-%ld-%ld", prefix, id, n);
        ev.id = buf;
        ev.provider = "openai";
        ev.model = "gpt-4o-mini";
        ev.user_id = "crash";
        ev.input_tokens = n;
        ev.output_tokens = 1;
        ev.has = TM_HAS_TOKENS;
        if (tm_track_sync(t, &ev, NULL) != TM_OK) {
            fprintf(stderr, "track: %s\n", tm_errmsg());
            exit(1);
        }
        pthread_mutex_lock(&out_mu);
        printf("%s\n", buf);
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tm_crashwriter DB PREFIX THREADS\n");
        return 64;
    }
    prefix = argv[2];
    int n = (int)strtol(argv[3], NULL, 10);
    if (tm_open(&t, argv[1], NULL) != TM_OK) {
        fprintf(stderr, "open: %s\n", tm_errmsg());
        return 1;
    }
    pthread_t th[64];
    for (long i = 0; i < n && i < 64; i++)
        pthread_create(&th[i], NULL, loop, (void *)i);
    pthread_join(th[0], NULL); /* never returns: killed by the test */
    return 0;
}
