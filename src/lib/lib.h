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

/* The seed lesson's per-user dashboard shape for user in `period`
 * (YYYY-MM; NULL: the current month in tz), appended to b. */
int tm__user_usage_json(tm *t, const char *user, const char *period, const char *tz, tm_buf *b);

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
