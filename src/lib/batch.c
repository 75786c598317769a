/*
 * batch.c — a stream of events on its way to the writer: the one pipeline
 * behind every bulk way in (a JSON body, an importer, a collector).
 *
 *   add ─► [queue: up to `chunk` events] ─submit─► [in flight: ≤ `inflight`
 *          chunks, each with its ticket] ─wait─► fate(tag, dup) per event
 *
 * The caller admits each event (validation, price) and hands it over; the
 * batch submits a full queue as one writer submission, waits for the oldest
 * chunk when `inflight` are already committing, and reports each event's
 * fate (stored, duplicate, replaced) through the callback as its chunk
 * commits. Nothing is acknowledged before its chunk is durable.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../store/store.h"
#include "lib.h"

typedef struct bchunk {
    tm_ticket ticket;
    size_t n;
    size_t *tags;
    unsigned char *dup;
    struct bchunk *next;
} bchunk;

struct tm_batch {
    tm_writer *w;
    size_t chunk, inflight;     /* inflight 0: no limit                     */
    void (*fate)(void *arg, size_t tag, int dup);
    void *arg;
    tm_event **queue;           /* owned until submitted                    */
    size_t *qtags;
    size_t nq;
    bchunk *head, *tail;        /* in flight, oldest first                  */
    size_t nflight;
    void (*ready)(void *arg);   /* tm__batch_notify: called once all commit  */
    void *ready_arg;
    size_t unfinished;          /* chunks not yet committed, + 1 until armed */
};

int tm__batch_open(tm *t, size_t chunk, size_t inflight, void (*fate)(void *arg, size_t tag, int dup),
                   void *arg, tm_batch **out)
{
    tm_batch *b = calloc(1, sizeof *b);
    *out = NULL;
    if (!b)
        return TM_ENOMEM;
    *b = (tm_batch){tm__writer(t), chunk ? chunk : 1, inflight, fate, arg, NULL, NULL, 0, NULL, NULL, 0};
    b->queue = malloc(b->chunk * sizeof *b->queue);
    b->qtags = malloc(b->chunk * sizeof *b->qtags);
    if (!b->queue || !b->qtags) {
        free(b->queue);
        free(b->qtags);
        free(b);
        return TM_ENOMEM;
    }
    *out = b;
    return TM_OK;
}

/* Waits for the oldest chunk in flight and reports its events' fate. */
static int wait_oldest(tm_batch *b)
{
    bchunk *c = b->head;
    int rc = tm__writer_wait(b->w, &c->ticket);
    if (rc == TM_OK && b->fate)
        for (size_t i = 0; i < c->n; i++)
            b->fate(b->arg, c->tags[i], c->dup[i]);
    b->head = c->next;
    if (!b->head)
        b->tail = NULL;
    b->nflight--;
    free(c->tags);
    free(c->dup);
    free(c);
    return rc;
}

/* A chunk's ticket is done (writer thread, its lock held): the last of
 * an armed batch calls ready, and touches b no more (b may be freed then). */
static void chunk_done(void *arg)
{
    tm_batch *b = arg;
    void (*ready)(void *) = b->ready;
    void *ready_arg = b->ready_arg;
    if (__atomic_sub_fetch(&b->unfinished, 1, __ATOMIC_ACQ_REL) == 0)
        ready(ready_arg);
}

static int submit(tm_batch *b)
{
    if (!b->nq)
        return TM_OK;
    int rc = TM_OK;
    while (b->inflight && b->nflight >= b->inflight && rc == TM_OK)
        rc = wait_oldest(b);
    if (rc)
        return rc;
    bchunk *c = calloc(1, sizeof *c);
    if (c && (!(c->tags = malloc(b->nq * sizeof *c->tags)) || !(c->dup = calloc(b->nq, 1)))) {
        free(c->tags);
        free(c);
        c = NULL;
    }
    if (!c)
        return TM_ENOMEM;
    memcpy(c->tags, b->qtags, b->nq * sizeof *c->tags);
    c->n = b->nq;
    c->ticket = (tm_ticket){c->n, 0, c->dup, NULL, NULL, NULL};
    if (b->ready) {
        c->ticket.done = chunk_done;
        c->ticket.done_arg = b;
        __atomic_add_fetch(&b->unfinished, 1, __ATOMIC_ACQ_REL);
    }
    if (b->tail)
        b->tail->next = c;
    else
        b->head = c;
    b->tail = c;
    b->nflight++;
    size_t n = b->nq;
    b->nq = 0;
    return tm__writer_submit(b->w, b->queue, n, &c->ticket); /* takes the events, even on error */
}

int tm__batch_add(tm_batch *b, tm_event *ev, size_t tag)
{
    b->queue[b->nq] = ev;
    b->qtags[b->nq++] = tag;
    return b->nq == b->chunk ? submit(b) : TM_OK;
}

tm_event **tm__batch_recent(tm_batch *b, size_t back)
{
    return back >= 1 && back <= b->nq ? &b->queue[b->nq - back] : NULL;
}

int tm__batch_flush(tm_batch *b)
{
    int rc = submit(b);
    while (b->head) {
        int r = wait_oldest(b);
        if (rc == TM_OK)
            rc = r;
    }
    return rc;
}

void tm__batch_notify(tm_batch *b, void (*ready)(void *arg), void *arg)
{
    b->ready = ready;
    b->ready_arg = arg;
    b->unfinished = 1; /* the guard tm__batch_arm drops */
}

void tm__batch_arm(tm_batch *b)
{
    submit(b); /* an error is the chunk's: its ticket is done, flush reports it */
    void (*ready)(void *) = b->ready;
    void *ready_arg = b->ready_arg;
    if (__atomic_sub_fetch(&b->unfinished, 1, __ATOMIC_ACQ_REL) == 0)
        ready(ready_arg);
}

void tm__batch_free(tm_batch *b)
{
    if (!b)
        return;
    while (b->head) /* no ticket outlives the batch */
        wait_oldest(b);
    for (size_t i = 0; i < b->nq; i++) /* never handed to the writer */
        free(b->queue[i]);
    free(b->queue);
    free(b->qtags);
    free(b);
}
