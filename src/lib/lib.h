/*
 * lib.h — what the CLI and the daemon use of a tm handle beyond the public
 * API: running report queries with the handle's store and rollups.
 */
#ifndef TM_LIB_LIB_H
#define TM_LIB_LIB_H

#include "../policy/policy.h"
#include "../query/errors.h"
#include "../query/query.h"
#include "tokmeter.h"

/* Runs q on t's store and rollups (see query.h). */
int tm__run_query(tm *t, const tm_query_spec *q, tm_qresult **out);

/* The top errors by message (errors.h) over t's store, reading at most
 * TM_ERRORS_SCAN events. */
int tm__run_top_errors(tm *t, const tm_query_spec *q, tm_top_errors *out);

/* One user's month, the seed lesson's dashboard: `period` (YYYY-MM; NULL:
 * the current month in tz), its totals, its days and its top endpoints.
 * Free with tm__user_month_free (also after an error: a no-op then). */
typedef struct tm_user_month {
    char period[8];             /* YYYY-MM                                       */
    int64_t requests, tokens;   /* events and total tokens                        */
    tm_i128 cost;               /* pico-USD                                       */
    char limit[48];             /* the user's requests limit as text, or "null"   */
    tm_qresult *daily;          /* interval day, oldest first                     */
    tm_qresult *top;            /* grouped by endpoint, most calls first, ≤ 10    */
} tm_user_month;
int tm__user_month(tm *t, const char *user, const char *period, const char *tz, tm_user_month *out);
void tm__user_month_free(tm_user_month *u);
/* Appends u as GET /api/usage/{userId}'s data object, with a newline. */
int tm__user_month_json(const tm_user_month *u, const char *user, tm_buf *b);

/* tm_track_json with a cap on the number of events: more than max_events
 * (0: no cap) is refused whole with TM_ETOOBIG before anything is stored. */
int tm__track_json(tm *t, const char *json, size_t len, unsigned flags, const char *id_default,
                   size_t max_events, tm_batch_result **out);

/* The same in two halves, so that a caller can wait without a thread:
 * tm__track_start decodes, admits and submits (an error: nothing is left
 * in flight, no job, ready is never called); tm__track_arm submits the rest
 * and from then on ready(arg) is called exactly once when every event has
 * committed (see tm__batch_arm: possibly on the writer thread, possibly
 * inside tm__track_arm); tm__track_end gives the result (waiting for the
 * commits when ready was NULL) and frees the job. */
typedef struct tm_track_job tm_track_job;
int tm__track_start(tm *t, const char *json, size_t len, unsigned flags, const char *id_default,
                    size_t max_events, void (*ready)(void *arg), void *ready_arg, tm_track_job **out);
void tm__track_arm(tm_track_job *j);
int tm__track_end(tm_track_job *j, tm_batch_result **out);

/* ---- the batch pipeline (batch.c): every bulk way in ----
 *
 * Events go in one by one (admitted by the caller; the batch takes them),
 * are submitted to the writer `chunk` at a time with at most `inflight`
 * chunks committing (0: no limit), and fate(arg, tag, dup) reports each
 * event's end as its chunk commits (dup: 0 stored, 1 duplicate, 2 replaced
 * a smaller copy). flush submits the rest and waits for all; free waits
 * for what is in flight and frees what was never submitted. */
typedef struct tm_batch tm_batch;
int tm__batch_open(tm *t, size_t chunk, size_t inflight, void (*fate)(void *arg, size_t tag, int dup),
                   void *arg, tm_batch **out);
int tm__batch_add(tm_batch *b, tm_event *ev, size_t tag);
int tm__batch_flush(tm_batch *b);
void tm__batch_free(tm_batch *b);
/* Waiting without a thread: after tm__batch_notify (right after open),
 * tm__batch_arm submits the rest and ready(arg) is called exactly once when
 * every chunk has committed (or failed): on the writer thread under its
 * lock, or in tm__batch_arm itself when nothing is left in flight. ready
 * must be quick and must not call the writer; flush then returns at once
 * with the fates. Before arm, nothing calls ready, so an error path may
 * flush or free as usual. */
void tm__batch_notify(tm_batch *b, void (*ready)(void *arg), void *arg);
void tm__batch_arm(tm_batch *b);
/* The queued, not yet submitted event `back` places from the newest (1:
 * the newest), or NULL: a caller may replace it (freeing the old one). */
tm_event **tm__batch_recent(tm_batch *b, size_t back);

/* Called for every admitted event (validated and priced), for the daemon's
 * debug log; NULL turns it off. fn must be thread-safe. */
void tm__set_event_hook(tm *t, void (*fn)(void *arg, const tm_event *ev), void *arg);

/* Admission for importers and collectors (src/ingest/): validates, fills
 * defaults and prices e in place like every other way in, but debits no
 * rate limit and calls no event hook (the usage is history), and marks e
 * to replace a smaller stored copy of its id (TM__HAS_REPLACE). */
int tm__admit_import(tm *t, tm_event *e, int64_t now, char *err, size_t errlen);

/* The handle's store and writer, for the library's own files. */
struct tm_store *tm__store(tm *t);
struct tm_writer *tm__writer(tm *t);


/* The handle's store, rollups, policy and usage sums, for quotas, checks
 * and alerts (src/policy/policy.h): valid while the handle is open. */
struct tm_pctx;
const struct tm_pctx *tm__pctx(tm *t);

/* Change notifications (policy/notify.c): when the policy names a Redis,
 * publishes each commit there and subscribes to the other daemons' on the
 * same store; a no-op without Redis or when already on. Taken from the
 * policy at the time of the call: a reload does not move it. */
int tm__notify_enable(tm *t);
/* The notifier, or NULL (off). Valid while the handle is open. */
tm_notify *tm__notifier(tm *t);
/* 16 hex digits naming the store (a hash of its path or URL), for keys
 * shared by the daemons on one store. */
const char *tm__store_tag(tm *t);

/* SIGHUP: loads the policy (tiers, rate limits) from the config file and
 * the price catalog from prices (NULL: built-in only), and replaces both
 * only when both load; on any error the old ones stay whole. */
int tm__reload(tm *t, const char *config, const char *prices);

#endif
