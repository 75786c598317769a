/*
 * lib.h — what the CLI and the daemon use of a tm handle beyond the public
 * API: running report queries with the handle's store and rollups.
 */
#ifndef TM_LIB_LIB_H
#define TM_LIB_LIB_H

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

/* API keys (src/lib/keys.c). Create writes the new key (shown once) into
 * key[cap ≥ 52] and its record into *rec. Check returns TM_ENOTFOUND for an
 * unknown, malformed or revoked key. */
int tm__key_create(tm *t, const char *scope, const char *user, const char *name, char *key,
                   size_t cap, tm_key_rec *rec);
int tm__key_revoke(tm *t, const char *id);
int tm__key_list(tm *t, int (*fn)(void *arg, const tm_key_rec *k), void *arg);
int tm__key_check(tm *t, const char *presented, tm_key_rec *out);
/* Keys not revoked, and keys ever created (revoked ones included). */
int tm__keys_count(tm *t, int *active, int *ever);

/* Users' sums over their current quota period, kept current by the commit
 * hook so a check need not read the user's events (src/lib/quota.c). */
struct tm_usage_cache;
struct tm_usage_cache *tm__usage_new(void);
void tm__usage_free(struct tm_usage_cache *c);
void tm__usage_commit(struct tm_usage_cache *c, tm_event *const *evs, const unsigned char *dup,
                      size_t n, int64_t version);
struct tm_usage_cache *tm__usage(tm *t);

/* Quotas (src/lib/quota.c). set: a user's tier (NULL: keep) and limit
 * overrides as JSON {"limits": {...}} (NULL: none). */
struct tm_policy *tm__policy(tm *t);
int tm__user_set(tm *t, const char *user, const char *tier, const char *overrides);
int tm__quota_json(tm *t, const char *user, tm_buf *b);
/* The user's limit `name` as text, or "null". */
int tm__quota_limit(tm *t, const char *user, const char *name, char *buf, size_t cap);
int tm__check(tm *t, const tm_check_request *rq, tm_check_result *out, tm_buf *json);
/* The fullest of a user's limits at now_us, in percent of its limit. */
int tm__quota_percent(tm *t, const char *user, int64_t now_us, long double *pct);

/* Evaluates every alert rule at now (src/lib/alerts.c): records state
 * changes, posts them to the webhooks when deliver, and calls on(arg,
 * body, delivery result) for each transition. */
struct tm_alerts;
int tm__alerts_evaluate(tm *t, const struct tm_alerts *a, int64_t now, int deliver,
                        void (*on)(void *arg, const char *body, int delivered), void *arg,
                        int *transitions);

/* SIGHUP: loads the policy (tiers, rate limits) from the config file and
 * the price catalog from prices (NULL: built-in only), and replaces both
 * only when both load; on any error the old ones stay whole. */
int tm__reload(tm *t, const char *config, const char *prices);

#endif
