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
 *                   {"scope": "global", "tokens_per_minute": 1000000}]
 */
#ifndef TM_POLICY_POLICY_H
#define TM_POLICY_POLICY_H

#include <pthread.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/strmap.h"
#include "../core/tz.h"

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
    double burst;           /* bucket depth, in the same units                */
} tm_rate_rule;

typedef struct tm_policy {
    tm_tier *tiers;
    int ntiers;
    char default_tier[65];
    tm_rate_rule *rates;
    int nrates;
    pthread_mutex_t mu;     /* guards the limiter state                        */
    tm_strmap tat;          /* rate key → theoretical arrival time (µs)        */
} tm_policy;

/* Loads the policy sections of a config file (path NULL: none). Errors:
 * TM_EINVAL naming the file and key. */
int tm__policy_load(tm_policy **out, const char *path);
void tm__policy_free(tm_policy *p);

const tm_tier *tm__policy_tier(const tm_policy *p, const char *name);

/* Applies a user's overrides (JSON {"limits": {...}}) over a tier's copy. */
int tm__tier_override(tm_tier *t, const char *json, const char *origin);

/* [start, reset) of the period holding now. */
int tm__period_bounds(const tm_tier *t, int64_t now_us, int64_t *start_us, int64_t *reset_us);

/* The rate limiter. Tests whether `requests` more requests and `tokens`
 * more tokens would conform under every rule that applies; when all do and
 * `debit`, the requests (not the tokens: those are debited when the event
 * arrives) are debited. Returns 1 if allowed, else 0 with *retry_after_s
 * and the rule in *why (a short text); *retry_after_s is -1 when a rule
 * can never allow it (more at once than its burst). A denial debits no
 * rule. */
int tm__rate_check(tm_policy *p, const char *user, const char *operation, int64_t requests,
                   int64_t tokens, int64_t now_us, int debit, double *retry_after_s,
                   char *why, size_t whylen);

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

#endif
