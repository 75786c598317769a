/*
 * lib.h — what the CLI and the daemon use of a tm handle beyond the public
 * API: running report queries with the handle's store and rollups.
 */
#ifndef TM_LIB_LIB_H
#define TM_LIB_LIB_H

#include "../policy/policy.h"
#include "../query/query.h"
#include "tokmeter.h"

/* Runs q on t's store and rollups (see query.h). */
int tm__run_query(tm *t, const tm_query_spec *q, tm_qresult **out);

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

/* Replaces the handle's price catalog with one loaded from path (NULL:
 * built-in only); on error the old one stays. For SIGHUP. */
int tm__reload_prices(tm *t, const char *path);

/* The handle's store, rollups, policy and usage sums, for quotas, checks
 * and alerts (src/policy/policy.h): valid while the handle is open. */
struct tm_pctx;
const struct tm_pctx *tm__pctx(tm *t);

/* Reloads the policy from the config file (SIGHUP). */
int tm__reload_policy(tm *t, const char *path);

#endif
