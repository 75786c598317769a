/*
 * notify.c — change notifications between daemons through Redis. After
 * each commit a daemon PUBLISHes the commit's identity and the users whose
 * quota sums the commit changed (one a line, or "*" for anyone) on a
 * channel named after its store; every daemon SUBSCRIBEs to it and hands
 * each message to its usage cache (quota.c), which then drops only those
 * users' sums instead of all of them. The identity: on SQLite the version
 * the commit made ("VERSION\n", a commit count every process shares), on
 * PostgreSQL its transaction id ("x" XID "\n"), which every daemon's
 * store tells among the commits a version step made visible.
 *
 * Advisory only: the cache moves past a commit keeping other users' sums
 * only when it holds that commit's message, so a lost message (Redis
 * down, a daemon killed before it published) costs a recount from the
 * store, never a stale answer. The
 * writer thread never waits on Redis: it queues the message (at most
 * NOTIFY_QUEUE; more are dropped) for the publisher thread. Every Redis
 * call has a 100 ms timeout; after a failure Redis is left alone for a
 * second. Failures are counted as outages (up → down), and each change
 * (up → down, down → up) goes to the log hook once (tm__notify_log). The
 * subscriber connects at start, so an outage at start is seen then.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"
#include "policy.h"

#define NOTIFY_QUEUE 256
#define TIMEOUT_MS 100
#define RETRY_MS 1000

struct tm_notify {
    tm_redis_addr a;
    char channel[96];
    int by_xid;             /* messages name PostgreSQL transaction ids      */
    struct tm_usage_cache *uc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *q[NOTIFY_QUEUE];
    size_t nq;
    int stop, down;
    pthread_t pub, sub;
    int npub;               /* threads started: 0, 1 (pub) or 2              */
    uint64_t outages, published, received, dropped;
    char last[512];
    void (*log)(void *arg, int up, const char *why); /* tm__notify_log  */
    void *log_arg;
};

/* Records a failure: a new outage (told to the log hook) when Redis was up. */
static void failed(tm_notify *n, const char *what, const char *why)
{
    pthread_mutex_lock(&n->mu);
    snprintf(n->last, sizeof n->last, "redis %s:%d: %s: %s", n->a.host, n->a.port, what, why);
    if (!n->down) {
        n->outages++;
        if (n->log)
            n->log(n->log_arg, 0, n->last);
    }
    n->down = 1;
    pthread_mutex_unlock(&n->mu);
}

/* Redis answered (mu held): told to the log hook when it was down. */
static void up_locked(tm_notify *n)
{
    if (n->down && n->log)
        n->log(n->log_arg, 1, NULL);
    n->down = 0;
}

static void up(tm_notify *n)
{
    pthread_mutex_lock(&n->mu);
    up_locked(n);
    pthread_mutex_unlock(&n->mu);
}

/* Waits ms unless stopped (mu held). */
static void pause_ms(tm_notify *n, int ms)
{
    struct timespec until = tm__deadline((int64_t)ms * 1000);
    while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &until) == 0)
        ;
}

static redisContext *connect_to(tm_notify *n, const char *what)
{
    char why[400];
    redisContext *c = tm__redis_connect(&n->a, TIMEOUT_MS, why, sizeof why);
    if (!c)
        failed(n, what, why);
    return c;
}

static void *publisher(void *arg)
{
    tm_notify *n = arg;
    redisContext *c = NULL;
    int64_t down_until = 0;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (!n->stop && !n->nq)
            pthread_cond_wait(&n->cv, &n->mu);
        if (n->stop)
            break;
        char *msg = n->q[0];
        memmove(n->q, n->q + 1, --n->nq * sizeof *n->q);
        pthread_mutex_unlock(&n->mu);
        int ok = 0;
        if (tm__now_us() >= down_until && (c || (c = connect_to(n, "publish")))) {
            redisReply *rep = redisCommand(c, "PUBLISH %s %s", n->channel, msg);
            ok = rep && rep->type == REDIS_REPLY_INTEGER;
            if (!ok)
                failed(n, "publish", rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                     : c->errstr[0] ? c->errstr : "no reply");
            if (rep)
                freeReplyObject(rep);
        }
        if (!ok && c) {
            redisFree(c);
            c = NULL;
        }
        if (!ok && tm__now_us() >= down_until)
            down_until = tm__now_us() + RETRY_MS * 1000;
        free(msg);
        pthread_mutex_lock(&n->mu);
        if (ok)
            n->published++, up_locked(n);
        else
            n->dropped++;
    }
    pthread_mutex_unlock(&n->mu);
    if (c)
        redisFree(c);
    return NULL;
}

/* One message's payload to the cache: "VERSION\n" (or, by_xid, "xXID\n")
 * then "*\n" or users. A message of the other kind is not this store's. */
static void deliver(tm_notify *n, const char *msg, size_t len)
{
    char *end = NULL;
    if (memchr(msg, '\0', len) || (msg[0] == 'x') != n->by_xid)
        return;
    msg += n->by_xid;
    long long v = msg[0] >= '0' && msg[0] <= '9' ? strtoll(msg, &end, 10) : 0;
    if (!end || *end != '\n' || v <= 0)
        return;
    const char *users = end + 1;
    tm__usage_notify(n->uc, v, strcmp(users, "*\n") == 0 ? NULL : users);
    pthread_mutex_lock(&n->mu);
    n->received++;
    pthread_mutex_unlock(&n->mu);
}

static void *subscriber(void *arg)
{
    tm_notify *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        pthread_mutex_unlock(&n->mu);
        redisContext *c = connect_to(n, "subscribe");
        redisReply *rep = c ? redisCommand(c, "SUBSCRIBE %s", n->channel) : NULL;
        int ok = rep && rep->type == REDIS_REPLY_ARRAY;
        if (c && !ok)
            failed(n, "subscribe", rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                   : c->errstr[0] ? c->errstr : "unexpected reply");
        if (rep)
            freeReplyObject(rep);
        if (ok)
            up(n);
        tm__usage_remote(n->uc, ok);
        while (ok && !__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
            void *r = NULL;
            if (redisGetReplyFromReader(c, &r) != REDIS_OK) {
                ok = 0;
                break;
            }
            if (r) {
                redisReply *m = r;
                if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                    m->element[2]->type == REDIS_REPLY_STRING)
                    deliver(n, m->element[2]->str, m->element[2]->len);
                freeReplyObject(r);
                continue;
            }
            struct pollfd pf = {c->fd, POLLIN, 0};
            int k = poll(&pf, 1, 200); /* wakes to see a stop */
            if ((k < 0 && errno != EINTR) || (k > 0 && redisBufferRead(c) != REDIS_OK))
                ok = 0;
        }
        tm__usage_remote(n->uc, 0);
        if (!ok && c && !__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE))
            failed(n, "subscription", c->errstr[0] ? c->errstr : "connection lost");
        if (c)
            redisFree(c);
        pthread_mutex_lock(&n->mu);
        if (!ok) /* messages meanwhile are lost: the cache recounts */
            pause_ms(n, RETRY_MS);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int tm__notify_start(tm_notify **out, const char *redis_url, const char *store_tag, int by_xid,
                     struct tm_usage_cache *uc)
{
    *out = NULL;
    tm_notify *n = calloc(1, sizeof *n);
    if (!n)
        return TM_ENOMEM;
    int rc = tm__redis_parse(redis_url, "config", &n->a);
    if (rc) {
        free(n);
        return rc;
    }
    snprintf(n->channel, sizeof n->channel, "tokmeter:commits:%s", store_tag);
    n->uc = uc;
    n->by_xid = by_xid != 0;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (pthread_create(&n->pub, NULL, publisher, n) == 0)
        n->npub = 1;
    if (n->npub && pthread_create(&n->sub, NULL, subscriber, n) == 0)
        n->npub = 2;
    if (n->npub < 2) {
        tm__notify_stop(n);
        return tm__fail(TM_ENOMEM, "notifications: could not start a thread");
    }
    *out = n;
    return TM_OK;
}

void tm__notify_stop(tm_notify *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&n->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->npub >= 1)
        pthread_join(n->pub, NULL);
    if (n->npub >= 2)
        pthread_join(n->sub, NULL);
    while (n->nq)
        free(n->q[--n->nq]);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

int tm__commit_users(tm_buf *b, tm_event *const *evs, const unsigned char *dup, size_t n)
{
    tm_strmap seen = {0};
    int all = 0, rc = TM_OK;
    size_t head = b->len;
    for (size_t i = 0; i < n && !all; i++) {
        const char *u = evs[i]->user_id;
        if (dup[i] == 2)
            all = 1; /* it replaced a copy whose user is not known here */
        if (dup[i] != 0 || !u || all)
            continue;
        int64_t x;
        if (tm__strmap_get(&seen, u, &x))
            continue;
        if (strchr(u, '\n') || strlen(u) >= 256 || b->len - head > TM_NOTIFY_MAX ||
            tm__strmap_put(&seen, u, 1) != TM_OK || tm__buf_puts(b, u) != TM_OK ||
            tm__buf_putc(b, '\n') != TM_OK) {
            all = 1; /* a list cut short would leave a user's sums stale */
            continue;
        }
    }
    tm__strmap_clear(&seen);
    if (all) {
        b->len = head;
        if (b->data)
            b->data[head] = '\0';
        rc = tm__buf_puts(b, "*\n");
    }
    return rc;
}

void tm__notify_commit(tm_notify *n, int64_t id, const char *users)
{
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "%s%lld\n%s", n->by_xid ? "x" : "", (long long)id, users ? users : "");
    pthread_mutex_lock(&n->mu);
    if (b.data && n->nq < NOTIFY_QUEUE) {
        n->q[n->nq++] = b.data;
        b.data = NULL;
        pthread_cond_signal(&n->cv);
    } else {
        n->dropped++;
    }
    pthread_mutex_unlock(&n->mu);
    tm__buf_free(&b);
}

void tm__notify_stats(tm_notify *n, tm_notify_stats *st, char *last, size_t cap)
{
    pthread_mutex_lock(&n->mu);
    st->outages = n->outages;
    st->down = n->down;
    st->published = n->published;
    st->received = n->received;
    st->dropped = n->dropped;
    if (last)
        snprintf(last, cap, "%s", n->last);
    pthread_mutex_unlock(&n->mu);
}

void tm__notify_log(tm_notify *n, void (*fn)(void *arg, int up, const char *why), void *arg)
{
    pthread_mutex_lock(&n->mu);
    n->log = fn;
    n->log_arg = arg;
    if (fn && n->down)
        fn(arg, 0, n->last);
    pthread_mutex_unlock(&n->mu);
}
