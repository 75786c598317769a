/*
 * policy.c — tiers, periods and the GCRA rate limiter.
 *
 * Periods are cut in the tier's zone: a day from local midnight, a week
 * from Monday, a month from the anchor day (the 1st, or e.g. the 15th;
 * an anchor past a month's end is that month's last day: 31 → Feb 28/29).
 * A period starts at the instant of reset: [start, reset).
 *
 * GCRA (the generic cell rate algorithm): each key keeps a theoretical
 * arrival time TAT. With emission interval T = 1/rate and tolerance
 * τ = T·(burst − 1), a cost of n conforms when max(TAT, now) + T·n − τ ≤ now
 * + T; it then moves TAT to max(TAT, now) + T·n. A denial waits until
 * that holds: retry_after = max(TAT, now) + T·n − τ − T − now. A cost of
 * more than the burst (n·T > τ + T) never conforms: no wait is given.
 */
#include "policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"

/* ---- config ---- */

/* at: where the limits object is, for messages ("cfg.json: tiers.pro.limits"). */
static int parse_limit(tm_limit *l, const char *name, const tm_jv *v, const char *at)
{
    const tm_jv *amount = v;
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    if (v->type == TM_J_OBJECT) {
        amount = tm__json_get(v, "limit");
        const tm_jv *soft = tm__json_get(v, "soft");
        l->soft = soft && soft->type == TM_J_TRUE;
        if (!amount)
            return tm__fail(TM_EINVAL, "%s.%s: needs \"limit\"", at, name);
    }
    int scale = 0;
    if (strcmp(name, "requests") == 0)
        l->kind = TM_L_REQUESTS;
    else if (strcmp(name, "total_tokens") == 0)
        l->kind = TM_L_TOKENS;
    else if (strcmp(name, "cost_usd") == 0)
        l->kind = TM_L_COST, scale = 12;
    else if (strncmp(name, "events:", 7) == 0 && name[7])
        l->kind = TM_L_EVENTS, snprintf(l->metric_type, sizeof l->metric_type, "%s", name + 7);
    else if (strncmp(name, "value:", 6) == 0 && name[6])
        l->kind = TM_L_VALUE, scale = 9, snprintf(l->metric_type, sizeof l->metric_type, "%s", name + 6);
    else
        return tm__fail(TM_EINVAL, "%s.%s: unknown limit (requests, total_tokens, cost_usd, "
                                   "events:METRIC_TYPE, value:METRIC_TYPE)", at, name);
    int64_t x;
    if ((amount->type != TM_J_NUMBER && amount->type != TM_J_STRING) ||
        tm__dec_parse(amount->s, amount->n, scale, 0, &x) != TM_DEC_OK ||
        (scale == 0 && strpbrk(amount->s, ".eE")))
        return tm__fail(TM_EINVAL, "%s.%s: must be a non-negative %s", at, name,
                        scale ? "decimal" : "whole number");
    l->limit = x;
    return TM_OK;
}

/* The limits object o of tier t. origin: the file, or NULL; path: where
 * in it (tiers.NAME.limits, or limits for a user's overrides). */
static int parse_limits(tm_tier *t, const tm_jv *o, const char *origin, const char *path)
{
    char at[400];
    snprintf(at, sizeof at, "%s%s%s", origin ? origin : "", origin ? ": " : "", path);
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: must be an object", at);
    for (size_t i = 0; i < o->n; i++) {
        int k = 0;
        while (k < t->nlimits && strcmp(t->limits[k].name, o->keys[i]) != 0)
            k++;
        if (k == TM_MAX_LIMITS)
            return tm__fail(TM_EINVAL, "%s: more than %d limits", at, TM_MAX_LIMITS);
        int rc = parse_limit(&t->limits[k], o->keys[i], o->vals[i], at);
        if (rc)
            return rc;
        if (k == t->nlimits)
            t->nlimits++;
    }
    return TM_OK;
}

static int parse_tier(tm_tier *t, const char *name, const tm_jv *o, const char *origin)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->period = TM_PERIOD_MONTH;
    t->anchor_day = 1;
    snprintf(t->tz, sizeof t->tz, "UTC");
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: tiers.%s: must be an object", origin, name);
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        const tm_jv *v = o->vals[i];
        int rc = TM_OK;
        if (strcmp(k, "period") == 0) {
            if (v->type == TM_J_STRING && strcmp(v->s, "day") == 0)
                t->period = TM_PERIOD_DAY;
            else if (v->type == TM_J_STRING && strcmp(v->s, "week") == 0)
                t->period = TM_PERIOD_WEEK;
            else if (v->type == TM_J_STRING && strcmp(v->s, "month") == 0)
                t->period = TM_PERIOD_MONTH;
            else
                rc = tm__fail(TM_EINVAL, "%s: tiers.%s.period: must be day, week or month", origin, name);
        } else if (strcmp(k, "anchor_day") == 0) {
            uint64_t d = 0;
            if (v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, 31, &d) || d < 1)
                rc = tm__fail(TM_EINVAL, "%s: tiers.%s.anchor_day: must be 1 to 31", origin, name);
            t->anchor_day = (int)d;
        } else if (strcmp(k, "tz") == 0) {
            tm_tz *z = NULL;
            if (v->type != TM_J_STRING || v->n >= sizeof t->tz || tm__tz_load(v->s, &z))
                rc = tm__fail(TM_EINVAL, "%s: tiers.%s.tz: not a time zone", origin, name);
            tm__tz_free(z);
            if (rc == TM_OK)
                snprintf(t->tz, sizeof t->tz, "%s", v->s);
        } else if (strcmp(k, "limits") == 0) {
            char path[200];
            snprintf(path, sizeof path, "tiers.%s.limits", name);
            rc = parse_limits(t, v, origin, path);
        } else {
            rc = tm__fail(TM_EINVAL, "%s: tiers.%s.%s: unknown key (period, anchor_day, tz, limits)",
                          origin, name, k);
        }
        if (rc)
            return rc;
    }
    if (t->anchor_day != 1 && t->period != TM_PERIOD_MONTH)
        return tm__fail(TM_EINVAL, "%s: tiers.%s.anchor_day: only for month periods", origin, name);
    return TM_OK;
}

static int parse_rate(tm_rate_rule *r, size_t i, const tm_jv *o, const char *origin)
{
    static const struct { const char *key; int tokens; double per_s; } units[] = {
        {"requests_per_second", 0, 1}, {"requests_per_minute", 0, 1.0 / 60},
        {"tokens_per_minute", 1, 1.0 / 60}};
    memset(r, 0, sizeof *r);
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: rate_limits[%zu]: must be an object", origin, i);
    int have = 0;
    for (size_t k = 0; k < o->n; k++) {
        const char *key = o->keys[k];
        const tm_jv *v = o->vals[k];
        if (strcmp(key, "scope") == 0) {
            if (v->type == TM_J_STRING && strcmp(v->s, "global") == 0)
                r->scope = 0;
            else if (v->type == TM_J_STRING && strcmp(v->s, "user") == 0)
                r->scope = 1;
            else if (v->type == TM_J_STRING && strcmp(v->s, "user_operation") == 0)
                r->scope = 2;
            else
                return tm__fail(TM_EINVAL, "%s: rate_limits[%zu].scope: must be global, user or "
                                           "user_operation", origin, i);
            continue;
        }
        if (strcmp(key, "operation") == 0 && v->type == TM_J_STRING && v->n < sizeof r->operation) {
            memcpy(r->operation, v->s, v->n + 1);
            continue;
        }
        size_t u = 0;
        while (u < 3 && strcmp(key, units[u].key) != 0)
            u++;
        if (u == 3)
            return tm__fail(TM_EINVAL, "%s: rate_limits[%zu].%s: unknown key (scope, operation, "
                                       "requests_per_second, requests_per_minute, tokens_per_minute)",
                            origin, i, key);
        uint64_t n;
        if (have++)
            return tm__fail(TM_EINVAL, "%s: rate_limits[%zu].%s: a rule has one rate; give a rule "
                                       "of its own for each", origin, i, key);
        if (v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, 1000000000, &n) || !n)
            return tm__fail(TM_EINVAL, "%s: rate_limits[%zu].%s: must be a whole number from 1 to "
                                       "1000000000", origin, i, key);
        r->tokens = units[u].tokens;
        r->per_s = (double)n * units[u].per_s;
        r->per_minute = u != 0;
        r->burst = u == 0 ? (double)n : (double)n; /* one second's or one minute's worth */
    }
    if (!have)
        return tm__fail(TM_EINVAL, "%s: rate_limits[%zu]: needs a rate", origin, i);
    return TM_OK;
}

int tm__policy_load(tm_policy **out, const char *path)
{
    tm_policy *p = calloc(1, sizeof *p);
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    int rc = TM_OK;
    *out = NULL;
    if (!p)
        return TM_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    if (!path || !*path)
        goto out;
    rc = tm__json_load_file(&a, path, 4u << 20, &root);
    const tm_jv *tiers = rc ? NULL : tm__json_get(root, "tiers");
    const tm_jv *rates = rc ? NULL : tm__json_get(root, "rate_limits");
    const tm_jv *def = rc ? NULL : tm__json_get(root, "default_tier");
    const tm_jv *redis = rc ? NULL : tm__json_get(root, "redis");
    if (redis && redis->type != TM_J_STRING)
        rc = tm__fail(TM_EINVAL, "%s: redis: must be a string (redis://[[USER]:PASSWORD@]HOST[:PORT])", path);
    else if (redis)
        rc = tm__redis_new(redis->s, path, &p->redis);
    if (tiers && tiers->type != TM_J_OBJECT)
        rc = tm__fail(TM_EINVAL, "%s: tiers: must be an object of named tiers", path);
    if (rc == TM_OK && tiers && tiers->n) {
        if (!(p->tiers = calloc(tiers->n, sizeof *p->tiers)))
            rc = TM_ENOMEM;
        for (size_t i = 0; rc == TM_OK && i < tiers->n; i++, p->ntiers++)
            rc = parse_tier(&p->tiers[i], tiers->keys[i], tiers->vals[i], path);
    }
    if (rc == TM_OK && def) {
        if (def->type != TM_J_STRING || !tm__policy_tier(p, def->s))
            rc = tm__fail(TM_EINVAL, "%s: default_tier: must name a tier", path);
        else
            snprintf(p->default_tier, sizeof p->default_tier, "%s", def->s);
    }
    if (rc == TM_OK && rates) {
        if (rates->type != TM_J_ARRAY)
            rc = tm__fail(TM_EINVAL, "%s: rate_limits: must be an array", path);
        else if (rates->n && !(p->rates = calloc(rates->n, sizeof *p->rates)))
            rc = TM_ENOMEM;
        for (size_t i = 0; rc == TM_OK && i < rates->n; i++, p->nrates++)
            rc = parse_rate(&p->rates[i], i, rates->vals[i], path);
    }
out:
    tm__arena_free(&a);
    if (rc) {
        tm__policy_free(p);
        return rc;
    }
    *out = p;
    return TM_OK;
}

void tm__policy_free(tm_policy *p)
{
    if (!p)
        return;
    free(p->tiers);
    free(p->rates);
    tm__strmap_clear(&p->tat);
    tm__redis_free(p->redis);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const tm_tier *tm__policy_tier(const tm_policy *p, const char *name)
{
    for (int i = 0; p && name && i < p->ntiers; i++)
        if (strcmp(p->tiers[i].name, name) == 0)
            return &p->tiers[i];
    return NULL;
}

int tm__tier_override(tm_tier *t, const char *json, const char *origin)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char jerr[200];
    int rc = tm__json_parse(&a, json, strlen(json), &v, jerr, sizeof jerr);
    if (rc == TM_EINVAL)
        rc = tm__fail(TM_EINVAL, "%s: %s", origin ? origin : "limits", jerr);
    const tm_jv *l = rc ? NULL : tm__json_get(v, "limits");
    if (rc == TM_OK && l)
        rc = parse_limits(t, l, origin, "limits");
    tm__arena_free(&a);
    return rc;
}

/* ---- periods ---- */

static int dim(int64_t y, unsigned m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : d[m - 1];
}

int tm__period_bounds(const tm_tier *t, int64_t now_us, int64_t *start_us, int64_t *reset_us)
{
    tm_tz *z = NULL;
    int rc = tm__tz_load(t->tz, &z);
    if (rc)
        return rc;
    int64_t now = now_us / 1000000 - (now_us % 1000000 < 0), days = tm__tz_local_day(z, now);
    int64_t y, s_day, r_day;
    unsigned m, d;
    tm__civil_from_days(days, &y, &m, &d);
    if (t->period == TM_PERIOD_DAY) {
        s_day = days;
        r_day = days + 1;
    } else if (t->period == TM_PERIOD_WEEK) {
        s_day = days - ((days % 7 + 7 + 3) % 7);
        r_day = s_day + 7;
    } else {
        int a = t->anchor_day;
        int64_t py = y, ny = y;
        unsigned pm = m, nm = m;
        int this_anchor = a < dim(y, m) ? a : dim(y, m);
        if ((int)d >= this_anchor) { /* the period began this month */
            nm = m == 12 ? 1 : m + 1;
            ny = m == 12 ? y + 1 : y;
        } else { /* it began last month */
            pm = m == 1 ? 12 : m - 1;
            py = m == 1 ? y - 1 : y;
        }
        s_day = tm__days_from_civil(py, pm, (unsigned)(a < dim(py, pm) ? a : dim(py, pm)));
        r_day = tm__days_from_civil(ny, nm, (unsigned)(a < dim(ny, nm) ? a : dim(ny, nm)));
    }
    *start_us = tm__tz_local_to_utc(z, s_day * 86400) * 1000000;
    *reset_us = tm__tz_local_to_utc(z, r_day * 86400) * 1000000;
    tm__tz_free(z);
    return TM_OK;
}

/* ---- GCRA ---- */

static const char *scope_name(const tm_rate_rule *r)
{
    return r->scope == 0 ? "global" : r->scope == 1 ? "per user" : "per user and operation";
}

/* A rule's rate as configured: tokens or requests per minute, or per second. */
static double rule_amount(const tm_rate_rule *r)
{
    return r->per_minute ? r->per_s * 60 : r->per_s;
}

static const char *rule_unit(const tm_rate_rule *r)
{
    return r->per_minute ? "minute" : "second";
}

/* The limiter key of rule i for (user, operation) in key, and in rkey its
 * Redis key (named by the rule's content, not its place, so daemons whose
 * configs list rules in another order, or a reload, share the state).
 * Returns 0 when the rule does not apply. */
static int rate_key(const tm_rate_rule *r, int i, const char *user, const char *operation,
                    char key[300], char rkey[512])
{
    if ((r->scope >= 1 && !user) ||
        (r->scope == 2 && r->operation[0] && (!operation || strcmp(operation, r->operation) != 0)))
        return 0;
    const char *u = r->scope >= 1 ? user : "", *o = r->scope == 2 ? (operation ? operation : "") : "";
    snprintf(key, 300, "%d|%s|%s", i, u, o);
    char rule[400];
    snprintf(rule, sizeof rule, "%d|%s|%.9g|%.9g|%s|%s|%s", r->scope, r->tokens ? "t" : "r",
             r->per_s, r->burst, r->operation, u, o);
    tm__redis_key(rule, rkey, 512);
    return 1;
}

/* Copies the shared state's times (Redis's answer) into the local map,
 * where they are later: should Redis fail, the local limiter goes on from
 * where all the daemons together were, not from a full bucket. */
static void mirror(tm_policy *p, int n, char (*keys)[300], const int64_t *shared)
{
    for (int k = 0; k < n; k++) {
        int64_t tat = 0;
        if (!tm__strmap_get(&p->tat, keys[k], &tat) || tat < shared[k])
            tm__strmap_put(&p->tat, keys[k], shared[k]);
    }
}

int tm__rate_check(tm_policy *p, const char *user, const char *operation, int64_t requests,
                   int64_t tokens, int64_t now_us, int debit, double *retry_after_s, char *why,
                   size_t whylen)
{
    int allowed = 1;
    double wait = 0, worst = 0;
    char keys[64][300], rkeys[64][512];
    const char *rk[64];
    double rule[64][4];
    int idx[64], n = 0;
    size_t wi = 0;
    *retry_after_s = 0;
    if (!p || !p->nrates)
        return 1;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nrates && n < 64; i++) {
        const tm_rate_rule *r = &p->rates[i];
        int64_t cost = r->tokens ? tokens : requests;
        if (cost <= 0 || !rate_key(r, i, user, operation, keys[n], rkeys[n]))
            continue;
        /* Never conforms when the cost alone is more than the burst
         * (τ + T = T·burst): no state needed, no wait helps. */
        if ((double)cost > r->burst) {
            if (wait >= 0)
                snprintf(why, whylen, "rate limit: %lld %s at once is more than the %s limit of %g "
                         "%s per %s allows (its burst is %g): it can never conform; split it",
                         (long long)cost, r->tokens ? "tokens" : "requests", scope_name(r),
                         rule_amount(r), r->tokens ? "tokens" : "requests", rule_unit(r), r->burst);
            allowed = 0;
            wait = -1;
            continue;
        }
        double T = 1e6 / r->per_s;
        rule[n][0] = T, rule[n][1] = T * (r->burst - 1), rule[n][2] = (double)cost, rule[n][3] = r->tokens;
        rk[n] = rkeys[n];
        idx[n++] = i;
    }
    int64_t shared[64];
    int in_redis = wait >= 0 && n > 0 && p->redis &&
                   tm__redis_gcra(p->redis, (size_t)n, rk, (const double(*)[4])rule, now_us, debit,
                                  &allowed, &worst, &wi, shared) == TM_OK;
    if (in_redis)
        mirror(p, n, keys, shared);
    if (wait >= 0 && n > 0 && !in_redis) {
        /* Locally: conforms when the new TAT is at most τ + T ahead of now. */
        int64_t new_tat[64];
        allowed = 1, worst = 0, wi = 0;
        for (int k = 0; k < n; k++) {
            int64_t tat = now_us;
            if (!tm__strmap_get(&p->tat, keys[k], &tat) || tat < now_us)
                tat = now_us;
            double next = (double)tat + rule[k][0] * rule[k][2];
            double over = next - (double)now_us - rule[k][1] - rule[k][0];
            if (over > 0) {
                allowed = 0;
                if (over > worst)
                    worst = over, wi = (size_t)k;
            }
            new_tat[k] = rule[k][3] ? -1 : (int64_t)next; /* tokens: debited on arrival */
        }
        if (allowed && debit)
            for (int k = 0; k < n; k++)
                if (new_tat[k] >= 0)
                    tm__strmap_put(&p->tat, keys[k], new_tat[k]);
    }
    if (wait >= 0 && !allowed) {
        const tm_rate_rule *r = &p->rates[idx[wi]];
        wait = worst / 1e6;
        snprintf(why, whylen, "rate limit: %s %g %s per %s", scope_name(r), rule_amount(r),
                 r->tokens ? "tokens" : "requests", rule_unit(r));
    }
    pthread_mutex_unlock(&p->mu);
    *retry_after_s = wait;
    return allowed;
}

static int same_rule(const tm_rate_rule *a, const tm_rate_rule *b)
{
    return a->scope == b->scope && a->tokens == b->tokens && a->per_s == b->per_s &&
           a->burst == b->burst && strcmp(a->operation, b->operation) == 0;
}

int tm__rate_carry(tm_policy *to, tm_policy *from)
{
    int rc = TM_OK;
    if (!to || !from)
        return TM_OK;
    pthread_mutex_lock(&from->mu);
    pthread_mutex_lock(&to->mu);
    for (size_t k = 0; k < from->tat.cap && rc == TM_OK; k++) {
        const tm_strmap_slot *sl = &from->tat.slots[k];
        char *rest;
        if (!sl->key)
            continue;
        long i = strtol(sl->key, &rest, 10); /* keys are "RULE|user|operation" */
        if (i < 0 || i >= from->nrates || *rest != '|')
            continue;
        for (int j = 0; j < to->nrates && rc == TM_OK; j++) {
            if (!same_rule(&from->rates[i], &to->rates[j]))
                continue;
            char key[300];
            snprintf(key, sizeof key, "%d%s", j, rest);
            rc = tm__strmap_put(&to->tat, key, sl->value);
            break;
        }
    }
    pthread_mutex_unlock(&to->mu);
    pthread_mutex_unlock(&from->mu);
    return rc;
}

void tm__rate_consume(tm_policy *p, const char *user, const char *operation, int64_t tokens,
                      int64_t now_us)
{
    char keys[64][300], rkeys[64][512];
    const char *rk[64];
    double inc[64];
    int n = 0;
    if (!p || !p->nrates || tokens <= 0)
        return;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nrates && n < 64; i++) {
        const tm_rate_rule *r = &p->rates[i];
        if (!r->tokens || !rate_key(r, i, user, operation, keys[n], rkeys[n]))
            continue;
        inc[n] = 1e6 / r->per_s * (double)tokens;
        rk[n] = rkeys[n];
        n++;
    }
    int64_t shared[64];
    if (n && p->redis && tm__redis_consume(p->redis, (size_t)n, rk, inc, now_us, shared) == TM_OK)
        mirror(p, n, keys, shared);
    else
        for (int k = 0; k < n; k++) {
            int64_t tat = now_us;
            if (!tm__strmap_get(&p->tat, keys[k], &tat) || tat < now_us)
                tat = now_us;
            tm__strmap_put(&p->tat, keys[k], tat + (int64_t)inc[k]);
        }
    pthread_mutex_unlock(&p->mu);
}

/* SET (nx: if not set) tokmeter:claim:KEY, or DEL it when ttl_ms < 0. */
static int claim(tm_policy *p, const char *key, int64_t ttl_ms, int nx)
{
    if (!p || !p->redis)
        return 1;
    char rkey[600];
    snprintf(rkey, sizeof rkey, "tokmeter:claim:%s", key);
    pthread_mutex_lock(&p->mu);
    int rc = 1;
    if (ttl_ms < 0)
        tm__redis_unclaim(p->redis, rkey);
    else
        rc = tm__redis_claim(p->redis, rkey, ttl_ms, nx);
    pthread_mutex_unlock(&p->mu);
    return rc != 0;
}

int tm__policy_claim(tm_policy *p, const char *key, int64_t ttl_ms) { return claim(p, key, ttl_ms, 1); }
void tm__policy_claim_done(tm_policy *p, const char *key, int64_t ttl_ms) { claim(p, key, ttl_ms, 0); }
void tm__policy_unclaim(tm_policy *p, const char *key) { claim(p, key, -1, 0); }

uint64_t tm__rate_redis_errors(tm_policy *p, int *down, char *last, size_t cap)
{
    *down = 0;
    if (!p || !p->redis)
        return 0;
    pthread_mutex_lock(&p->mu);
    uint64_t n = tm__redis_errors(p->redis, down, last, cap);
    pthread_mutex_unlock(&p->mu);
    return n;
}

void tm__rate_redis_probe(tm_policy *p)
{
    if (!p || !p->redis)
        return;
    pthread_mutex_lock(&p->mu);
    tm__redis_probe(p->redis);
    pthread_mutex_unlock(&p->mu);
}

void tm__limit_text(const tm_limit *l, tm_i128 v, char *buf)
{
    if (l->kind == TM_L_COST)
        tm__dec_format(v, 12, buf);
    else if (l->kind == TM_L_VALUE)
        tm__dec_format(v, 9, buf);
    else
        tm__dec_format(v, 0, buf);
}
