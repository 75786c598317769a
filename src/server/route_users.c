/*
 * route_users.c — users and their limits: GET /v1/users/{id}/quota,
 * PUT /v1/users/{id} (tier and overrides) and POST /v1/check (quota and
 * rate limits before a call).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "server_int.h"

static enum MHD_Result get_quota_reply(req *r, const char *user)
{
    tm_buf b = TM_BUF_INIT;
    tm_quota q;
    int rc = tm__quota_get(tm__pctx(r->s->t), user, tm__now_us(), &q);
    if (rc == TM_OK) {
        tm__quota_json(&b, user, &q, NULL);
        tm__buf_putc(&b, '\n');
    }
    enum MHD_Result ret = rc ? tm__reply_rc(r, rc, "invalid_query") : tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}

enum MHD_Result tm__route_get_user_quota(req *r)
{
    char user[256];
    enum MHD_Result ret;
    if (!tm__path_user(r->url, "/v1/users/", "/quota", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}/quota");
    if (tm__forbid_user(r, user, &ret))
        return ret;
    return get_quota_reply(r, user);
}

/* PUT /v1/users/{id} {"tier": "pro", "limits": {...}} (admin). */
enum MHD_Result tm__route_put_user(req *r)
{
    char user[256], *ov = NULL;
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    enum MHD_Result ret;
    int rc;
    if (!tm__path_user(r->url, "/v1/users/", "", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}");
    if (r->has_key && strcmp(r->key.scope, "admin") != 0)
        return tm__reply_error(r, 403, "forbidden", "only an admin key may set a user's tier");
    if (tm__json_parse(&a, r->body.data ? r->body.data : "", r->body.len, &v, err, sizeof err) ||
        v->type != TM_J_OBJECT) {
        tm__arena_free(&a);
        return tm__reply_error(r, 400, "invalid_body", "body: must be {\"tier\": \"NAME\"}");
    }
    const tm_jv *tier = tm__json_get(v, "tier"), *limits = tm__json_get(v, "limits");
    tm_buf o = TM_BUF_INIT;
    if (limits) {
        tm__buf_puts(&o, "{\"limits\": ");
        tm__json_write(&o, limits);
        tm__buf_putc(&o, '}');
        ov = o.data;
    }
    if (tier && tier->type != TM_J_STRING)
        ret = tm__reply_error(r, 400, "invalid_body", "tier: must be a string");
    else if ((rc = tm__user_set(tm__pctx(r->s->t), user, tier ? tier->s : NULL, ov)) != TM_OK)
        ret = tm__reply_rc(r, rc, "invalid_body");
    else
        ret = get_quota_reply(r, user);
    tm__buf_free(&o);
    tm__arena_free(&a);
    return ret;
}

/* Says once per outage that the shared limiter (Redis) failed and this
 * daemon decides with its local state meanwhile, and once when Redis
 * answers again (a failure and a recovery between two calls: both), at
 * the same level (warn), so a log filtered to warnings pairs them. */
void tm__redis_log(const srv *s)
{
    static uint64_t seen;
    static int logged_down;
    char last[512];
    int down;
    uint64_t n = tm__rate_redis_errors(tm__pctx_policy(tm__pctx(s->t)), &down, last, sizeof last);
    if (n > __atomic_exchange_n(&seen, n, __ATOMIC_RELAXED)) {
        const char *kv[] = {"error", last, NULL};
        tm__log(s, 2, "rate limits: Redis failed; local limits meanwhile", kv);
        __atomic_store_n(&logged_down, 1, __ATOMIC_RELAXED);
    }
    if (!down && __atomic_exchange_n(&logged_down, 0, __ATOMIC_RELAXED))
        tm__log(s, 2, "rate limits: Redis reachable again; shared limits resumed", NULL);
}

/* The notifier's log hook (tm__notify_log): once per change. */
void tm__notify_logged(void *arg, int up, const char *why)
{
    const char *kv[] = {"error", why, NULL};
    if (up)
        tm__log(arg, 2, "change notifications: Redis reachable again", NULL);
    else
        tm__log(arg, 2, "change notifications: Redis failed; caches check the store's version meanwhile", kv);
}

/* POST /v1/check — before a call: quota and rate limits. A check debits the
 * rate limiter, so it is a write: ingest and admin keys (a user-bound
 * ingest key for its own user only). */
enum MHD_Result tm__route_post_check(req *r)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    enum MHD_Result ret;
    if (tm__json_parse(&a, r->body.data ? r->body.data : "", r->body.len, &v, err, sizeof err) ||
        v->type != TM_J_OBJECT) {
        tm__arena_free(&a);
        return tm__reply_error(r, 400, "invalid_body", "body: must be a JSON object with user_id");
    }
    tm_check_request rq = {0};
    const tm_jv *f;
    if ((f = tm__json_get(v, "user_id")) && f->type == TM_J_STRING) rq.user_id = f->s;
    if ((f = tm__json_get(v, "operation")) && f->type == TM_J_STRING) rq.operation = f->s;
    if ((f = tm__json_get(v, "provider")) && f->type == TM_J_STRING) rq.provider = f->s;
    if ((f = tm__json_get(v, "model")) && f->type == TM_J_STRING) rq.model = f->s;
    int rc = TM_OK;
    uint64_t tok = 0;
    if ((f = tm__json_get(v, "estimated_tokens")) &&
        (f->type != TM_J_NUMBER || tm__uint_parse(f->s, f->n, 1ull << 53, &tok)))
        rc = tm__fail(TM_EINVAL, "estimated_tokens: must be a non-negative integer");
    rq.estimated_tokens = (int64_t)tok;
    if (rc == TM_OK && (f = tm__json_get(v, "estimated_cost_usd")) &&
        ((f->type != TM_J_NUMBER && f->type != TM_J_STRING) ||
         tm__dec_parse(f->s, f->n, 12, 0, &rq.estimated_cost_pusd) != TM_DEC_OK))
        rc = tm__fail(TM_EINVAL, "estimated_cost_usd: must be a non-negative decimal");
    if (rc == TM_OK && tm__forbid_user(r, rq.user_id ? rq.user_id : "", &ret)) {
        tm__arena_free(&a);
        return ret;
    }
    tm_check_result res;
    tm_buf b = TM_BUF_INIT;
    if (rc == TM_OK)
        rc = tm__check(tm__pctx(r->s->t), &rq, &res, &b);
    if (rc == TM_OK && res.soft_exceeded)
        tm__soft_limit_alert(r->s, rq.user_id, res.warning, res.reset_us);
    tm__redis_log(r->s);
    if (rc)
        ret = tm__reply_rc(r, rc, "invalid_body");
    else
        ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    tm__arena_free(&a);
    return ret;
}
