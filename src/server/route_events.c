/*
 * route_events.c — POST /v1/events (one event, a JSON array or NDJSON):
 * the body goes to the library's ingest; the answer waits for the disk,
 * the request's thread does not (the connection is suspended meanwhile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "server_int.h"

/* ---- ingest ----
 *
 * A body is decoded, admitted and handed to the writer on the request's
 * thread; then the connection is suspended and the thread serves others
 * while the group commit runs. The writer's completion (events_ready, on
 * its thread) resumes the connection; libmicrohttpd calls the handler
 * again, and the answer goes out: a 200 still means on disk. While the
 * daemon stops (wstop), a request waits on its thread as before. */

static void events_ready(void *arg)
{
    tm__resume(arg);
}

static enum MHD_Result answer(req *r, int rc, tm_batch_result *res)
{
    if (rc == TM_ETOOBIG)
        return tm__reply_error(r, 413, "too_many_events", "%s", tm_errmsg());
    if (rc)
        return tm__reply_rc(r, rc, "invalid_body");
    if (res->accepted)
        tm__alerts_nudge(r->s);
    __atomic_fetch_add(&r->s->events[0], res->accepted, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[1], res->duplicates, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[2], res->rejected, __ATOMIC_RELAXED);
    r->nevents = res->n;
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":[", res->accepted,
                   res->duplicates);
    size_t k = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->items[i].status != TM_ITEM_REJECTED)
            continue;
        tm__buf_printf(&b, "%s{\"index\":%zu,\"error\":", k++ ? "," : "", res->items[i].index);
        tm__json_str(&b, res->items[i].error, strlen(res->items[i].error));
        tm__buf_putc(&b, '}');
    }
    tm__buf_puts(&b, "]}\n");
    tm_batch_result_free(res);
    enum MHD_Result ok = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ok;
}

enum MHD_Result tm__route_post_events(req *r)
{
    tm_batch_result *res = NULL;
    tm_track_job *j = r->job;
    if (j) { /* resumed: the commit landed */
        r->job = NULL;
        tm__resumed(r);
        int rc = tm__track_end(j, &res);
        return answer(r, rc, res);
    }
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    const char *idem = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Idempotency-Key");
    unsigned flags = ct && strncmp(ct, "application/x-ndjson", 20) == 0 ? TM_JSON_NDJSON : 0;
    if (r->has_key && r->key.user[0])
        return tm__reply_error(r, 403, "forbidden",
                               "this key is bound to user %s: it may only check that user's "
                               "limits (POST /v1/check); storing events needs an unbound key",
                               r->key.user);
    if (r->body.len && memchr(r->body.data, '\0', r->body.len))
        return tm__reply_error(r, 400, "invalid_body", "body: contains a NUL byte");
    if (idem && (!*idem || strlen(idem) > 128))
        return tm__reply_error(r, 400, "invalid_header", "Idempotency-Key: must be 1 to 128 bytes");
    srv *s = r->s;
    pthread_mutex_lock(&s->wmu);
    int suspend = !s->wstop && tm__now_us() >= s->plain_until_us;
    s->nwaiting += (unsigned)suspend;
    r->waiting = suspend;
    pthread_mutex_unlock(&s->wmu);
    int rc = tm__track_start(s->t, r->body.data ? r->body.data : "", r->body.len, flags, idem,
                             __atomic_load_n(&s->cfg.max_events, __ATOMIC_RELAXED),
                             suspend ? events_ready : NULL, r, &j);
    if (rc == TM_OK && suspend) {
        /* Suspend first: the resume may come before this returns. */
        r->job = j;
        MHD_suspend_connection(r->c);
        tm__track_arm(j);
        return MHD_YES;
    }
    if (rc == TM_OK)
        rc = tm__track_end(j, &res);
    return answer(r, rc, res);
}

void tm__events_completed(req *r)
{
    tm_batch_result *res = NULL;
    if (!r->waiting)
        return;
    tm__resumed(r);
    if (r->job) { /* resumed, but closed before the answer (the client left) */
        tm__track_end(r->job, &res);
        tm_batch_result_free(res);
        r->job = NULL;
    }
    pthread_mutex_lock(&r->s->wmu);
    if (--r->s->nwaiting == 0)
        pthread_cond_broadcast(&r->s->wcv);
    pthread_mutex_unlock(&r->s->wmu);
    r->waiting = 0;
}

void tm__events_drain(srv *s, unsigned max_s)
{
    struct timespec until = tm__deadline((int64_t)max_s * 1000000);
    pthread_mutex_lock(&s->wmu);
    s->wstop = 1;
    while (s->nwaiting && pthread_cond_timedwait(&s->wcv, &s->wmu, &until) == 0)
        ;
    pthread_mutex_unlock(&s->wmu);
}
