/*
 * policy.h — the face of policy: tiers and quotas, their periods, and rate
 * limits (GCRA). Quota use is never counted separately: it is a query over
 * the committed events (src/query), the same one reports run, so a quota
 * and a report over the same range cannot disagree.
 *
 * Config (the "tiers", "default_tier" and "rate_limits" keys of the config
 * file; docs/quotas.md):
 *
 *   "tiers": {"free": {"period": "month", "limits": {"requests": 10000}},
 *             "pro":  {"period": "month", "anchor_day": 15, "tz": "Europe/Berlin",
 *                      "limits": {"cost_usd": {"limit": "50", "soft": true},
 *                                 "events:evaluation_run": 100}}},
 *   "default_tier": "free",
 *   "rate_limits": [{"scope": "user", "requests_per_minute": 60},
 *                   {"scope": "user_operation", "requests_per_second": 2},
 *                   {"scope": "global", "tokens_per_minute": 1000000}],
 *   "redis": "redis://127.0.0.1:6379"     shared limiter state (policy/redis.c);
 *            "redis://:PASSWORD@HOST:PORT" or "redis://USER:PASSWORD@HOST:PORT"
 *            with a password (percent-encoded; never shown: tm__redis_shown)
 */
#ifndef TM_POLICY_POLICY_H
#define TM_POLICY_POLICY_H

#include <pthread.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/strmap.h"
#include "../core/tz.h"
#include "../query/query.h"
#include "tokmeter.h"

enum { TM_PERIOD_DAY, TM_PERIOD_WEEK, TM_PERIOD_MONTH };

/* What a limit counts. */
enum { TM_L_REQUESTS, TM_L_TOKENS, TM_L_COST, TM_L_EVENTS, TM_L_VALUE };

#define TM_MAX_LIMITS 16

typedef struct tm_limit {
    int kind;
    char metric_type[65];   /* for events:/value: limits                      */
    char name[80];          /* as configured: "requests", "events:x", ...     */
    tm_i128 limit;          /* units: count, tokens, pUSD, or nano-units      */
    int soft;               /* over a soft limit: allowed, with a warning     */
} tm_limit;

typedef struct tm_tier {
    char name[65];
    int period;
    int anchor_day;         /* 1-31 for month periods (clamped to month end)  */
    char tz[64];
    tm_limit limits[TM_MAX_LIMITS];
    int nlimits;
} tm_tier;

typedef struct tm_rate_rule {
    int scope;              /* 0 global, 1 user, 2 user_operation              */
    char operation[129];    /* only this operation ("" any), for scope 2        */
    int tokens;             /* 1: counts tokens, else requests                 */
    double per_s;           /* allowed per second                             */
    int per_minute;         /* 1: configured per minute (as messages say it)  */
    double burst;           /* bucket depth, in the same units                */
} tm_rate_rule;

/* The limiter's state shared in Redis (policy/redis.c). Every call with
 * the policy's mutex held; on any error the caller uses its local state. */
typedef struct tm_redis tm_redis;
int tm__redis_new(const char *url, const char *origin, tm_redis **out);
void tm__redis_free(tm_redis *r);
void tm__redis_key(const char *key, char *buf, size_t cap);
/* One atomic GCRA decision over n keys; rule[i] = {T µs, tau µs, cost,
 * tokens 0/1}. Sets *allowed, the largest *over_us and its key's index,
 * and tats[i] to each key's theoretical arrival time after it. */
int tm__redis_gcra(tm_redis *r, size_t n, const char *const *keys, const double (*rule)[4],
                   int64_t now_us, int debit, int *allowed, double *over_us, size_t *worst,
                   int64_t *tats);
/* Moves each key's time on by inc_us[i] (tokens spent); tats[i] gets it. */
int tm__redis_consume(tm_redis *r, size_t n, const char *const *keys, const double *inc_us,
                      int64_t now_us, int64_t *tats);
/* Outages so far (a failure after a success, or the first failure), and
 * the last failure in last (cap bytes). */
uint64_t tm__redis_errors(const tm_redis *r, int *down, char *last, size_t cap);
/* Tries Redis (PING) when it has not answered yet or failed last, so that
 * an outage at start and a recovery are seen without a check; at most
 * once a second while down. */
void tm__redis_probe(tm_redis *r);
const char *tm__redis_url(const tm_redis *r); /* as configured; NULL without Redis */

/* Where Redis is: redis://[[USER]:PASSWORD@]HOST[:PORT][/], the user and
 * password percent-decoded (RFC 3986); "" when not given. */
typedef struct tm_redis_addr {
    char host[256];
    int port;
    char user[256];
    char pass[256];
} tm_redis_addr;
/* Parses url (origin names the file in errors, which say what is wrong
 * with the "redis" key and show the URL masked). rediss:// is refused. */
int tm__redis_parse(const char *url, const char *origin, tm_redis_addr *a);
/* url with its password (or a user part without ':') as "***", written to
 * buf (cut to cap); returns buf. */
const char *tm__redis_shown(const char *url, char *buf, size_t cap);
/* Connects within timeout_ms (also each later call's timeout) and sends
 * AUTH when a password is given; NULL on failure, with why (Redis's own
 * reason, never the password). */
struct redisContext *tm__redis_connect(const tm_redis_addr *a, int timeout_ms, char *why, size_t cap);
/* SET key with an expiry, with nx only if it is not set: 1 set here, 0
 * claimed before (by any daemon), -1 Redis failed. unclaim deletes the key
 * (a claim whose work failed). */
int tm__redis_claim(tm_redis *r, const char *key, int64_t ttl_ms, int nx);
void tm__redis_unclaim(tm_redis *r, const char *key);

typedef struct tm_policy {
    tm_tier *tiers;
    int ntiers;
    char default_tier[65];
    tm_rate_rule *rates;
    int nrates;
    pthread_mutex_t mu;     /* guards the limiter state                        */
    tm_strmap tat;          /* rate key → theoretical arrival time (µs)        */
    tm_redis *redis;        /* shared state, or NULL: tat alone                */
} tm_policy;

/* Loads the policy sections of a config file (path NULL: none). Errors:
 * TM_EINVAL naming the file and key. */
int tm__policy_load(tm_policy **out, const char *path);
void tm__policy_free(tm_policy *p);

const tm_tier *tm__policy_tier(const tm_policy *p, const char *name);

/* Applies a user's overrides (JSON {"limits": {...}}) over a tier's copy;
 * origin names where they came from in messages, or NULL (the request). */
int tm__tier_override(tm_tier *t, const char *json, const char *origin);

/* [start, reset) of the period holding now. */
int tm__period_bounds(const tm_tier *t, int64_t now_us, int64_t *start_us, int64_t *reset_us);

/* The rate limiter (in Redis when configured, else or when Redis fails in
 * this process's memory). Tests whether `requests` more requests and `tokens`
 * more tokens would conform under every rule that applies; when all do and
 * `debit`, the requests (not the tokens: those are debited when the event
 * arrives) are debited. Returns 1 if allowed, else 0 with *retry_after_s
 * and the rule in *why (a short text); *retry_after_s is -1 when a rule
 * can never allow it (more at once than its burst). A denial debits no
 * rule. */
int tm__rate_check(tm_policy *p, const char *user, const char *operation, int64_t requests,
                   int64_t tokens, int64_t now_us, int debit, double *retry_after_s,
                   char *why, size_t whylen);

/* Claims key (under the policy's mutex) in the shared Redis for ttl_ms: 1
 * claimed here or no Redis to ask (or it failed: then the caller acts as
 * if alone), 0 already claimed by some daemon. done holds it for ttl_ms
 * from now (the work is done); unclaim gives it back (the work failed). */
int tm__policy_claim(tm_policy *p, const char *key, int64_t ttl_ms);
void tm__policy_claim_done(tm_policy *p, const char *key, int64_t ttl_ms);
void tm__policy_unclaim(tm_policy *p, const char *key);

/* The shared limiter's outages so far (0 without Redis; tm__redis_errors),
 * whether it failed last (*down), and the last failure in last (cap
 * bytes). probe: tm__redis_probe under the policy's mutex. */
uint64_t tm__rate_redis_errors(tm_policy *p, int *down, char *last, size_t cap);
void tm__rate_redis_probe(tm_policy *p);

/* Carries the limiter state of `from` into `to` (a reloaded policy): each
 * rule of `to` equal to one of `from` (scope, operation, unit, rate and
 * burst) keeps its buckets, so a reload empties no bucket but a changed
 * rule's. Errors: TM_ENOMEM. */
int tm__rate_carry(tm_policy *to, tm_policy *from);

/* Debits tokens actually used (an event arrived) against the token rules,
 * whether or not they conform: they are spent. */
void tm__rate_consume(tm_policy *p, const char *user, const char *operation, int64_t tokens,
                      int64_t now_us);

/* Text of a limit's amount in its unit ("10000", "50", "12.5"). */
void tm__limit_text(const tm_limit *l, tm_i128 v, char *buf);

/* ---- quotas, checks and alert evaluation over a store (quota.c, evaluate.c) ----
 *
 * What they need of an open handle, and no more: the store, its writer,
 * the rollups queries read, the policy (swapped whole on reload) and the
 * users' period sums. The handle (src/lib) owns all of them; policy code
 * borrows them for one call. */
struct tm_usage_cache;
typedef struct tm_pctx {
    tm_store *store;
    tm_writer *writer;
    tm_rollups *rollups;
    tm_policy *policy;              /* read with tm__pctx_policy: reload swaps it */
    struct tm_usage_cache *usage;
} tm_pctx;

static inline tm_policy *tm__pctx_policy(const tm_pctx *c)
{
    return __atomic_load_n(&c->policy, __ATOMIC_ACQUIRE);
}

/* Users' sums over their current quota period, valid at one store
 * version, so a check need not read the user's events. The cache moves
 * from version v - 1 to v keeping every user but the ones the step's
 * commits changed, when it holds a message (tm__usage_notify) for each of
 * them (the store's `commits`; SQLite: commit v), else empty. */
struct tm_usage_cache *tm__usage_new(void);
void tm__usage_free(struct tm_usage_cache *c);
/* This process's commit that made s's version `version` (SQLite): its
 * events are added to their users' sums. */
void tm__usage_commit(struct tm_usage_cache *c, tm_store *s, tm_event *const *evs,
                      const unsigned char *dup, size_t n, int64_t version);
/* The commit with identity id (SQLite: the version it made; PostgreSQL:
 * its transaction id) changed the sums of users (names each ended by
 * '\n'; NULL: of anyone). Kept (at most 64 ahead of the cache) until the
 * cache moves past the commit; a missing one leaves the cache to empty
 * itself. */
void tm__usage_notify(struct tm_usage_cache *c, int64_t id, const char *users);
/* Whether other processes' messages are coming (the subscription to
 * Redis is up): a step's missing message is then waited for a little
 * longer before the cache empties. */
void tm__usage_remote(struct tm_usage_cache *c, int on);
/* Checks answered from the cache and not, so far. */
void tm__usage_stats(struct tm_usage_cache *c, uint64_t *hits, uint64_t *misses);

/* The users whose quota sums a committed batch changed (dup as append set
 * it), each ended by '\n', into b; "*\n" when anyone's may have (it
 * replaced a copy, a name is 256 bytes or more or holds '\n', the list
 * passed TM_NOTIFY_MAX bytes before a name, or out of memory). TM_ENOMEM
 * when even that could not be written: the caller takes it as "*". */
#define TM_NOTIFY_MAX 8192
int tm__commit_users(tm_buf *b, tm_event *const *evs, const unsigned char *dup, size_t n);

/* Change notifications through Redis (notify.c): each commit is published
 * on a channel named after the store (store_tag), and every message from
 * the channel goes to uc (tm__usage_notify). Commits are named by their
 * version, or with by_xid by their PostgreSQL transaction id. Two threads
 * of their own; commit only queues (never waits on Redis). */
typedef struct tm_notify tm_notify;
typedef struct tm_notify_stats {
    uint64_t outages;       /* times Redis went from answering to failing    */
    int down;               /* failing now                                    */
    uint64_t published, received, dropped;
} tm_notify_stats;
int tm__notify_start(tm_notify **out, const char *redis_url, const char *store_tag, int by_xid,
                     struct tm_usage_cache *uc);
void tm__notify_stop(tm_notify *n);
/* Publishes that commit id changed users (as tm__commit_users wrote them). */
void tm__notify_commit(tm_notify *n, int64_t id, const char *users);
void tm__notify_stats(tm_notify *n, tm_notify_stats *st, char *last, size_t cap);
/* fn (NULL: none) is called, under the notifier's lock, when Redis fails
 * after answering (up 0, why: the failure) and when it answers again after
 * failing (up 1): once per change, not per retry. Called at once with up 0
 * when it is down already. */
void tm__notify_log(tm_notify *n, void (*fn)(void *arg, int up, const char *why), void *arg);

/* set: a user's tier (NULL: keep) and limit overrides as JSON
 * {"limits": {...}} (NULL: none). */
int tm__user_set(const tm_pctx *c, const char *user, const char *tier, const char *overrides);

/* A user's quota at one instant: the effective tier, the period holding
 * it, and the use of each of the tier's limits in that period. */
typedef struct tm_quota {
    tm_tier tier;           /* the config's tier with the user's overrides; name "" : none */
    char set_tier[80];      /* the tier stored for the user ("" none), defined or not   */
    int has;                /* any limit applies                                        */
    int64_t start, reset;   /* the period [start, reset), µs                             */
    tm_i128 used[TM_MAX_LIMITS]; /* per tier.limits[i], in its unit                      */
} tm_quota;

int tm__quota_get(const tm_pctx *c, const char *user, int64_t now_us, tm_quota *out);
/* Appends q as the API's JSON object; extra (may be NULL) is added to each
 * use first (a check's estimate). */
void tm__quota_json(tm_buf *b, const char *user, const tm_quota *q, const tm_i128 *extra);
/* The user's limit `name` as text, or "null". */
int tm__quota_limit(const tm_pctx *c, const char *user, const char *name, char *buf, size_t cap);
/* Quota and rate-limit check; with json, also its answer as JSON. */
int tm__check(const tm_pctx *c, const tm_check_request *rq, tm_check_result *out, tm_buf *json);
/* The fullest of a user's limits at now_us, in percent of its limit, as
 * exact decimal text rounded half to even to 6 places, into buf[≥48]. */
int tm__quota_percent(const tm_pctx *c, const char *user, int64_t now_us, char *buf);

/* Evaluates every alert rule at now (evaluate.c): records state changes,
 * posts them to the webhooks when deliver, and calls on(arg, body,
 * delivery result) for each transition. */
struct tm_alerts;
int tm__alerts_evaluate(const tm_pctx *c, const struct tm_alerts *a, int64_t now, int deliver,
                        void (*on)(void *arg, const char *body, int delivered), void *arg,
                        int *transitions);

/* The alert history newest first (firing_only: the pairs firing now), at
 * most limit entries (0: all); records one state directly (the soft-limit
 * outbox). */
int tm__alert_history(const tm_pctx *c, int firing_only, size_t limit,
                      int (*fn)(void *arg, const tm_alert_entry *e), void *arg);
int tm__alert_record(const tm_pctx *c, tm_alert_change *ch); /* sets ch->changed */

#endif
