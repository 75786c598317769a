/*
 * route_usage.c — reads: GET /v1/usage (the general query, docs/queries.md),
 * the top errors by message (GET /v1/errors) and one user's month
 * (GET /v1/users/{id}/usage). Every read runs the
 * query engine on the handle, bounded by limits.max_query_rows.
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

/* ---- queries ---- */

typedef struct qargs {
    tm_query_spec *q;
    int rc;
    char bad[160];
} qargs;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    qargs *a = cls;
    (void)kind;
    if (a->rc)
        return MHD_NO;
    if ((a->rc = tm__query_set(a->q, key, value ? value : "")))
        snprintf(a->bad, sizeof a->bad, "%s", tm_errmsg());
    return a->rc ? MHD_NO : MHD_YES;
}

/* Runs q, bounded by limits.max_query_rows, and replies with an error when
 * it fails (returns 1). */
int tm__route_query(req *r, tm_query_spec *q, tm_qresult **res, enum MHD_Result *ret)
{
    q->max_rows = __atomic_load_n(&r->s->cfg.max_query_rows, __ATOMIC_RELAXED);
    int rc = tm__run_query(r->s->t, q, res);
    if (rc == TM_OK)
        return 0;
    *ret = rc == TM_ETOOBIG ? tm__reply_error(r, 400, "query_too_expensive", "%s", tm_errmsg())
                            : tm__reply_rc(r, rc, "invalid_query");
    return 1;
}

/* Reads the query string into q through it; a user-bound key may ask for
 * exactly its own user, nothing wider. 1 with *ret the answer if refused. */
static int read_args(req *r, tm_query_spec *q, MHD_KeyValueIterator it, enum MHD_Result *ret)
{
    qargs a = {q, TM_OK, ""};
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, it, &a);
    if (a.rc) {
        *ret = tm__reply_error(r, 400, "invalid_query", "%s", a.bad);
        return 1;
    }
    return r->has_key && r->key.user[0] &&
           tm__forbid_user(r, q->nwhere[TM_D_USER] == 1 ? q->where[TM_D_USER][0] : NULL, ret);
}

enum MHD_Result tm__route_get_usage(req *r)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    enum MHD_Result ret;
    tm__query_init(&q);
    if (read_args(r, &q, each_arg, &ret) || tm__route_query(r, &q, &res, &ret))
        goto out;
    tm_buf b = TM_BUF_INIT;
    tm__qresult_json(res, &b);
    ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
out:
    tm__qresult_free(res);
    tm__query_free(&q);
    return ret;
}

/* GET /v1/errors: from, to, tz, where and limit (default 10) only. */
static enum MHD_Result each_error_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    qargs *a = cls;
    static const char *const ok[] = {"from", "to", "tz", "where", "limit"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(key, ok[i]) == 0)
            return each_arg(cls, kind, key, value);
    a->rc = TM_EINVAL;
    snprintf(a->bad, sizeof a->bad, "%s: unknown parameter (from, to, tz, where, limit)", key);
    return MHD_NO;
}

enum MHD_Result tm__route_get_errors(req *r)
{
    tm_query_spec q;
    tm_top_errors te = {0};
    enum MHD_Result ret;
    tm__query_init(&q);
    q.limit = 10;
    if (read_args(r, &q, each_error_arg, &ret))
        goto out;
    int rc = tm__run_top_errors(r->s->t, &q, &te);
    if (rc) {
        ret = tm__reply_rc(r, rc, "invalid_query");
        goto out;
    }
    tm_buf b = TM_BUF_INIT;
    tm__top_errors_json(&te, &b);
    ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
out:
    tm__top_errors_free(&te);
    tm__query_free(&q);
    return ret;
}

/* "/v1/users/ID/usage" → ID, url-decoded into buf. */
const char *tm__path_user(const char *url, const char *prefix, const char *suffix, char *buf,
                          size_t cap)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(url);
    if (n <= pl + sl || strncmp(url, prefix, pl) || strcmp(url + n - sl, suffix))
        return NULL;
    size_t k = 0;
    for (size_t i = pl; i < n - sl && k + 1 < cap; i++) {
        if (url[i] == '%' && i + 2 < n - sl) {
            char hex[3] = {url[i + 1], url[i + 2], 0};
            buf[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            buf[k++] = url[i];
        }
    }
    buf[k] = '\0';
    return k ? buf : NULL;
}

enum MHD_Result tm__user_usage_reply(req *r, const char *user, int envelope)
{
    enum MHD_Result ret;
    if (tm__forbid_user(r, user, &ret))
        return ret;
    tm_buf b = TM_BUF_INIT, out = TM_BUF_INIT;
    tm_user_month u;
    int rc = tm__user_month(r->s->t, user, tm__arg(r, "period"), tm__arg(r, "tz"), &u);
    if (rc == TM_OK) {
        rc = tm__user_month_json(&u, user, &b);
        tm__user_month_free(&u);
    }
    if (rc)
        ret = tm__reply_rc(r, rc, "invalid_query");
    else if (envelope) {
        tm__buf_puts(&out, "{\"success\": true, \"data\": ");
        tm__buf_add(&out, b.data, b.len - 1); /* without its newline */
        tm__buf_puts(&out, "}\n");
        ret = tm__reply(r, 200, &out);
    } else {
        ret = tm__reply(r, 200, &b);
    }
    tm__buf_free(&b);
    tm__buf_free(&out);
    return ret;
}

enum MHD_Result tm__route_get_user_usage(req *r)
{
    char user[256];
    if (!tm__path_user(r->url, "/v1/users/", "/usage", user, sizeof user))
        return tm__reply_error(r, 404, "not_found", "use /v1/users/{id}/usage");
    return tm__user_usage_reply(r, user, 0);
}
