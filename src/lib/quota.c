/*
 * quota.c — users' tiers, their quotas, and the check before a call.
 *
 * A quota's use is a report query (src/query) over the user's events in
 * the current period, so `tokmeter quota` and `tokmeter report` agree to
 * the last digit. The check adds the call's estimate to each use, compares
 * with the limits (hard: deny; soft: allow with a warning), and asks the
 * rate limiter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../policy/policy.h"
#include "../store/store.h"
#include "lib.h"

typedef struct user_ctx {
    const char *id, *tier, *overrides;
} user_ctx;

static int user_task(tm_store *s, void *arg)
{
    user_ctx *c = arg;
    return s->ops->user_put(s, c->id, c->tier, c->overrides, tm__now_us());
}

int tm__user_set(tm *t, const char *user, const char *tier, const char *overrides)
{
    tm_policy *p = tm__policy(t);
    if (!*user || strlen(user) > 128)
        return tm__fail(TM_EINVAL, "user: must be 1 to 128 bytes");
    if (tier && !tm__policy_tier(p, tier))
        return tm__fail(TM_EINVAL, "tier: no tier named '%s' in the config (%d tiers)", tier,
                        p ? p->ntiers : 0);
    if (overrides) { /* check them against some tier before storing */
        tm_tier scratch;
        memset(&scratch, 0, sizeof scratch);
        int rc = tm__tier_override(&scratch, overrides, "limits");
        if (rc)
            return rc;
    }
    user_ctx c = {user, tier, overrides};
    return tm__writer_exec(tm__writer(t), user_task, &c);
}

/* The user's effective tier (default tier, else none) with overrides. */
static int effective_tier(tm *t, const char *user, tm_tier *out, int *has)
{
    char name[80];
    char *ov = NULL;
    tm_store *s = tm__store(t);
    tm_policy *p = tm__policy(t);
    int rc = s->ops->user_get(s, user, name, sizeof name, &ov);
    if (rc && rc != TM_ENOTFOUND)
        return rc;
    const tm_tier *base = tm__policy_tier(p, name[0] ? name : p ? p->default_tier : NULL);
    *has = base != NULL;
    memset(out, 0, sizeof *out);
    if (base)
        *out = *base;
    else
        snprintf(out->tz, sizeof out->tz, "UTC"), out->period = TM_PERIOD_MONTH, out->anchor_day = 1;
    rc = ov ? tm__tier_override(out, ov, "user overrides") : TM_OK;
    if (ov && out->nlimits)
        *has = 1;
    free(ov);
    return rc;
}

/* The use of every limit in [from, to), from one report query over the
 * user's events grouped by metric type: requests, tokens and cost from the
 * totals, events:/value: limits from their metric type's row. */
static int limits_use(tm *t, const char *user, const tm_tier *tier, int64_t from, int64_t to,
                      tm_i128 *used)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    char f[32], tt[32], w[200];
    if (tier->nlimits == 0)
        return TM_OK;
    snprintf(f, sizeof f, "%lld", (long long)(from / 1000));
    snprintf(tt, sizeof tt, "%lld", (long long)(to / 1000));
    snprintf(w, sizeof w, "user_id=%s", user);
    tm__query_init(&q);
    int rc = tm__query_set(&q, "from", f);
    if (rc == TM_OK) rc = tm__query_set(&q, "to", tt);
    if (rc == TM_OK) rc = tm__query_set(&q, "where", w);
    if (rc == TM_OK) rc = tm__query_set(&q, "group_by", "metric_type");
    if (rc == TM_OK)
        rc = tm__run_query(t, &q, &res);
    for (int i = 0; rc == TM_OK && i < tier->nlimits; i++) {
        const tm_limit *l = &tier->limits[i];
        const tm_sums *s = &res->totals.s;
        used[i] = 0;
        if (l->kind == TM_L_EVENTS || l->kind == TM_L_VALUE) {
            for (size_t k = 0; k < res->nrows; k++)
                if (strcmp(res->rows[k].dim[TM_D_METRIC], l->metric_type) == 0)
                    used[i] = l->kind == TM_L_EVENTS ? res->rows[k].s.events : res->rows[k].s.value;
        } else {
            used[i] = l->kind == TM_L_REQUESTS ? s->requests : l->kind == TM_L_TOKENS ? s->total : s->cost;
        }
    }
    tm__qresult_free(res);
    tm__query_free(&q);
    return rc;
}

typedef struct quota {
    tm_tier tier;
    int has;
    int64_t start, reset;
    tm_i128 used[TM_MAX_LIMITS];
} quota;

static int quota_of(tm *t, const char *user, int64_t now, quota *qu)
{
    int rc = effective_tier(t, user, &qu->tier, &qu->has);
    if (rc == TM_OK)
        rc = tm__period_bounds(&qu->tier, now, &qu->start, &qu->reset);
    if (rc == TM_OK)
        rc = limits_use(t, user, &qu->tier, qu->start, qu->reset, qu->used);
    return rc;
}

static void quota_json(tm_buf *b, const char *user, const quota *qu, const tm_i128 *extra)
{
    char s[32], r[32];
    tm__time_format(qu->start, s);
    tm__time_format(qu->reset, r);
    tm__buf_puts(b, "{\"user_id\": ");
    tm__json_str(b, user, strlen(user));
    tm__buf_puts(b, ", \"tier\": ");
    if (qu->tier.name[0])
        tm__json_str(b, qu->tier.name, strlen(qu->tier.name));
    else
        tm__buf_puts(b, "null");
    tm__buf_printf(b, ", \"period_start\": \"%s\", \"reset_at\": \"%s\", \"limits\": {", s, r);
    for (int i = 0; i < qu->tier.nlimits; i++) {
        const tm_limit *l = &qu->tier.limits[i];
        tm_i128 used = qu->used[i] + (extra ? extra[i] : 0), rem = l->limit - used;
        char lt[48], ut[48], rt[48];
        tm__limit_text(l, l->limit, lt);
        tm__limit_text(l, used, ut);
        tm__limit_text(l, rem < 0 ? 0 : rem, rt);
        tm__buf_printf(b, "%s\"%s\": {\"limit\": %s, \"used\": %s, \"remaining\": %s%s}", i ? ", " : "",
                       l->name, lt, ut, rt, l->soft ? ", \"soft\": true" : "");
    }
    tm__buf_puts(b, "}}");
}

int tm__quota_json(tm *t, const char *user, tm_buf *b)
{
    quota qu;
    int rc = quota_of(t, user, tm__now_us(), &qu);
    if (rc == TM_OK)
        quota_json(b, user, &qu, NULL);
    return rc;
}

int tm__quota_limit(tm *t, const char *user, const char *name, char *buf, size_t cap)
{
    tm_tier tier;
    int has = 0;
    int rc = effective_tier(t, user, &tier, &has);
    snprintf(buf, cap, "null");
    for (int i = 0; rc == TM_OK && i < tier.nlimits; i++)
        if (strcmp(tier.limits[i].name, name) == 0)
            tm__limit_text(&tier.limits[i], tier.limits[i].limit, buf);
    return rc;
}

int tm__check(tm *t, const tm_check_request *rq, tm_check_result *out, tm_buf *json)
{
    quota qu;
    int64_t now = tm__now_us();
    tm_i128 extra[TM_MAX_LIMITS] = {0};
    memset(out, 0, sizeof *out);
    out->allowed = 1;
    if (!rq->user_id || !*rq->user_id)
        return tm__fail(TM_EINVAL, "user_id: is required");
    if (rq->estimated_tokens < 0 || rq->estimated_cost_pusd < 0)
        return tm__fail(TM_EINVAL, "estimated_tokens: must not be negative");
    int rc = quota_of(t, rq->user_id, now, &qu);
    if (rc)
        return rc;
    out->reset_us = qu.reset;
    for (int i = 0; i < qu.tier.nlimits; i++) {
        const tm_limit *l = &qu.tier.limits[i];
        extra[i] = l->kind == TM_L_REQUESTS ? 1 : l->kind == TM_L_TOKENS ? rq->estimated_tokens
                 : l->kind == TM_L_COST ? rq->estimated_cost_pusd : 0;
        if (qu.used[i] + extra[i] <= l->limit)
            continue;
        char lt[48], ut[48];
        tm__limit_text(l, l->limit, lt);
        tm__limit_text(l, qu.used[i] + extra[i], ut);
        if (l->soft) {
            if (!out->soft_exceeded)
                snprintf(out->warning, sizeof out->warning, "soft limit: %s would be %s of %s", l->name, ut, lt);
            out->soft_exceeded = 1;
        } else if (out->allowed) {
            out->allowed = 0;
            snprintf(out->reason, sizeof out->reason, "quota: %s would be %s of %s this period", l->name, ut, lt);
            out->retry_after_s = (double)(qu.reset - now) / 1e6;
        }
    }
    if (out->allowed) {
        double wait = 0;
        char why[200] = "";
        if (!tm__rate_check(tm__policy(t), rq->user_id, rq->operation, 1, rq->estimated_tokens,
                            now, 1, &wait, why, sizeof why)) {
            out->allowed = 0;
            out->retry_after_s = wait;
            snprintf(out->reason, sizeof out->reason, "%s", why);
        }
    }
    if (json) {
        tm__buf_printf(json, "{\"allowed\": %s, \"reason\": ", out->allowed ? "true" : "false");
        const char *reason = out->allowed ? (out->soft_exceeded ? out->warning : "within limits") : out->reason;
        tm__json_str(json, reason, strlen(reason));
        tm__buf_puts(json, ", \"quota\": ");
        quota_json(json, rq->user_id, &qu, NULL);
        if (out->allowed)
            tm__buf_puts(json, ", \"retry_after_s\": null}\n");
        else
            tm__buf_printf(json, ", \"retry_after_s\": %.3f}\n", out->retry_after_s);
    }
    return TM_OK;
}

int tm_check(tm *t, const tm_check_request *rq, tm_check_result *out)
{
    return tm__check(t, rq, out, NULL);
}

int tm__quota_percent(tm *t, const char *user, int64_t now_us, long double *pct)
{
    quota qu;
    int rc = quota_of(t, user, now_us, &qu);
    *pct = 0;
    for (int i = 0; rc == TM_OK && i < qu.tier.nlimits; i++) {
        const tm_limit *l = &qu.tier.limits[i];
        if (l->limit > 0) {
            long double p = (long double)qu.used[i] * 100.0L / (long double)l->limit;
            if (p > *pct)
                *pct = p;
        }
    }
    return rc;
}
