/*
 * writer.c — group commit: many producers, one writer thread, one durable
 * transaction per batch.
 *
 *   producers ──submit──► ring [ev|ticket|slot] ... ──► writer thread
 *                                                        take ≤ batch_max
 *                                                        store->append (fsync)
 *   waiters ◄──signal each ticket's last event─────────── fill tickets
 *   (or its done callback: the daemon resumes a suspended connection)
 *
 * While one batch commits, the next one gathers in the ring, so the cost of
 * an fsync is shared by everything that arrived during the previous one:
 * under load batches grow, when idle a lone event commits at once.
 * Sequence numbers (queued, committed) make tm__writer_flush exact.
 * A waiter that finds the writer idle and a few events queued commits them
 * on its own thread (busy keeps one committer at a time): a lone caller
 * then pays for its fsync, not for two thread wake-ups.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/err.h"
#include "store.h"

typedef struct item {
    tm_event *ev;
    tm_ticket *t;       /* NULL: asynchronous */
    size_t slot;        /* index into t->dup  */
    int (*task)(tm_store *, void *);  /* instead of an event: run this */
    void *arg;
} item;

struct tm_writer {
    tm_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t has_work, has_room, done;
    item *ring;
    size_t cap, head, len;      /* ring of cap items; len queued          */
    size_t batch_max;
    uint64_t queued, committed; /* events ever queued / ever finished      */
    int async_err;              /* first unreported asynchronous error     */
    char async_msg[512];        /* its message                             */
    char last_msg[512];         /* message of the latest failed commit     */
    int stopping;
    int busy;                   /* a batch or task is being committed       */
    tm_commit_hook hook;
    void *hook_arg;
    tm_writer_stats stats;
};

const double tm__commit_bounds[TM_COMMIT_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                     0.025, 0.05, 0.1, 0.5, 2.5};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One of t's events is finished (w->mu held): the last one wakes its waiter. */
static void ticket_step(tm_ticket *t)
{
    if (--t->pending > 0)
        return;
    if (t->cv)
        pthread_cond_signal(t->cv);
    if (t->done)
        t->done(t->done_arg);
}

/* Takes up to max queued events (stopping at a task) off the ring, appends
 * them in one transaction and settles their tickets. Called with w->mu held
 * and w->busy set by the caller (the writer thread, or a waiter that found
 * the writer idle); unlocks while it appends and returns with the lock. */
static void commit_batch(tm_writer *w, item *batch, tm_event **evs, unsigned char *dup, size_t max)
{
    size_t n = 0, most = w->len < max ? w->len : max;
    while (n < most && !w->ring[(w->head + n) % w->cap].task)
        n++;
    for (size_t i = 0; i < n; i++) {
        batch[i] = w->ring[(w->head + i) % w->cap];
        evs[i] = batch[i].ev;
    }
    w->head = (w->head + n) % w->cap;
    w->len -= n;
    pthread_cond_broadcast(&w->has_room);
    pthread_mutex_unlock(&w->mu);

    tm_cellset cells = {0};
    int64_t version = 0, commit = 0;
    double t0 = mono_s();
    /* Room for the batch's cells: an event adds to a cell of each
     * projection, and the per-user ones are mostly its own. */
    int rc = batch && evs && dup && tm__cellset_reserve(&cells, 3 * n) == TM_OK
                 ? w->store->ops->append(w->store, evs, n, dup, &cells, &version, &commit)
                 : TM_ENOMEM;
    if (rc == TM_OK && w->hook) /* before anyone is told: reads stay fresh */
        w->hook(w->hook_arg, &cells, version, commit, evs, dup, n);
    tm__cellset_free(&cells);

    double took = mono_s() - t0;
    pthread_mutex_lock(&w->mu);
    w->stats.count++;
    w->stats.events += n;
    w->stats.sum_s += took;
    for (int b = 0; b < TM_COMMIT_BUCKETS; b++)
        w->stats.le[b] += took <= tm__commit_bounds[b];
    if (rc)
        snprintf(w->last_msg, sizeof w->last_msg, "%s",
                 *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        tm_ticket *t = batch[i].t;
        if (t) {
            t->dup[batch[i].slot] = rc ? 0 : dup[i];
            if (rc && !t->err)
                t->err = rc;
            ticket_step(t);
        } else if (rc && !w->async_err) {
            w->async_err = rc;
            memcpy(w->async_msg, w->last_msg, sizeof w->async_msg);
        }
        free(batch[i].ev);
    }
    w->committed += n;
    pthread_cond_broadcast(&w->done);
}

static void *run(void *arg)
{
    tm_writer *w = arg;
    pthread_setname_np(pthread_self(), "tm-writer"); /* for top -H and profiles */
    item *batch = malloc(w->batch_max * sizeof *batch);
    tm_event **evs = malloc(w->batch_max * sizeof *evs);
    unsigned char *dup = malloc(w->batch_max);

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->busy || (w->len == 0 && !w->stopping))
            pthread_cond_wait(&w->has_work, &w->mu);
        if (w->len == 0) /* stopping, and everything is committed */
            break;
        w->busy = 1;
        if (w->ring[w->head].task) { /* a task runs alone, in queue order */
            item it = w->ring[w->head];
            w->head = (w->head + 1) % w->cap;
            w->len--;
            pthread_cond_broadcast(&w->has_room);
            pthread_mutex_unlock(&w->mu);
            int trc = it.task(w->store, it.arg);
            pthread_mutex_lock(&w->mu);
            if (trc)
                snprintf(w->last_msg, sizeof w->last_msg, "%s",
                         *tm_errmsg() ? tm_errmsg() : tm_strerror(trc));
            it.t->err = trc;
            ticket_step(it.t);
            w->committed++;
            pthread_cond_broadcast(&w->done);
        } else {
            commit_batch(w, batch, evs, dup, w->batch_max);
        }
        w->busy = 0;
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    free(evs);
    free(dup);
    return NULL;
}

int tm__writer_start(tm_writer **out, tm_store *s, size_t queue_max, size_t batch_max,
                     tm_commit_hook hook, void *hook_arg)
{
    tm_writer *w = calloc(1, sizeof *w);
    if (!w)
        return TM_ENOMEM;
    w->store = s;
    w->hook = hook;
    w->hook_arg = hook_arg;
    w->cap = queue_max ? queue_max : 131072;
    w->batch_max = batch_max ? batch_max : 65536;
    if (w->batch_max > w->cap)
        w->batch_max = w->cap;
    if (!(w->ring = malloc(w->cap * sizeof *w->ring))) {
        free(w);
        return TM_ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->has_work, NULL);
    pthread_cond_init(&w->has_room, NULL);
    pthread_cond_init(&w->done, NULL);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        free(w->ring);
        free(w);
        return tm__fail(TM_ENOMEM, "writer: cannot start thread");
    }
    *out = w;
    return TM_OK;
}

int tm__writer_submit(tm_writer *w, tm_event **evs, size_t n, tm_ticket *t)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        while (w->len == w->cap && !w->stopping)
            pthread_cond_wait(&w->has_room, &w->mu);
        if (w->stopping) {
            /* Nothing from i on was queued: give it back as failed. */
            for (size_t k = i; k < n; k++) {
                free(evs[k]);
                if (t) {
                    t->err = TM_ECLOSED;
                    ticket_step(t);
                }
            }
            pthread_cond_broadcast(&w->done);
            pthread_mutex_unlock(&w->mu);
            return tm__fail(TM_ECLOSED, "tokmeter handle is closing");
        }
        w->ring[(w->head + w->len) % w->cap] = (item){evs[i], t, i, NULL, NULL};
        w->len++;
        w->queued++;
        if (w->len == 1 || (w->len & 255) == 0)
            pthread_cond_signal(&w->has_work);
    }
    pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->mu);
    return TM_OK;
}

int tm__writer_exec(tm_writer *w, int (*fn)(tm_store *, void *), void *arg)
{
    tm_ticket t = {1, 0, NULL, NULL};
    pthread_mutex_lock(&w->mu);
    while (w->len == w->cap && !w->stopping)
        pthread_cond_wait(&w->has_room, &w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return tm__fail(TM_ECLOSED, "tokmeter handle is closing");
    }
    w->ring[(w->head + w->len) % w->cap] = (item){NULL, &t, 0, fn, arg};
    w->len++;
    w->queued++;
    pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->mu);
    return tm__writer_wait(w, &t);
}

/* A waiter that finds the writer idle and few events queued commits them
 * itself: a lone caller's event then costs no wake-up of the writer thread
 * and none back, only its fsync. Its arrays live on the stack. */
#define SELF_MAX 64

int tm__writer_wait(tm_writer *w, tm_ticket *t)
{
    pthread_cond_t cv;
    pthread_cond_init(&cv, NULL);
    pthread_mutex_lock(&w->mu);
    t->cv = &cv; /* the writer signals it when the last event commits */
    while (t->pending > 0) {
        if (!w->busy && w->len > 0 && w->len <= SELF_MAX && !w->ring[w->head].task) {
            item batch[SELF_MAX];
            tm_event *evs[SELF_MAX];
            unsigned char dup[SELF_MAX];
            w->busy = 1;
            commit_batch(w, batch, evs, dup, SELF_MAX);
            w->busy = 0;
            pthread_cond_signal(&w->has_work); /* more may have come meanwhile */
            continue;
        }
        pthread_cond_wait(&cv, &w->mu);
    }
    t->cv = NULL;
    int rc = t->err;
    if (rc)
        tm__fail(rc, "%s", rc == TM_ECLOSED ? "tokmeter handle is closing" : w->last_msg);
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&cv);
    return rc;
}

int tm__writer_flush(tm_writer *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->queued;
    while (w->committed < target)
        pthread_cond_wait(&w->done, &w->mu);
    int rc = w->async_err;
    if (rc)
        tm__fail(rc, "%s", w->async_msg);
    w->async_err = 0;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void tm__writer_stats(tm_writer *w, tm_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

int tm__writer_stop(tm_writer *w)
{
    if (!w)
        return TM_OK;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->has_work);
    pthread_cond_broadcast(&w->has_room);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* drains the ring before it exits */
    int rc = w->async_err;
    if (rc)
        tm__fail(rc, "%s", w->async_msg);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->has_work);
    pthread_cond_destroy(&w->has_room);
    pthread_cond_destroy(&w->done);
    free(w->ring);
    free(w);
    return rc;
}
