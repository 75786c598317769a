/*
 * route_alerts.c — GET /v1/alerts (the alert history) and GET /v1/me (the
 * key the caller sent).
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

/* ---- alerts ---- */

static int alert_row(void *arg, const tm_alert_entry *e)
{
    tm_buf *b = arg;
    tm__buf_puts(b, b->len > 12 ? ",\n  " : "\n  ");
    return tm__buf_puts(b, e->body);
}

enum MHD_Result tm__route_get_alerts(req *r)
{
    enum MHD_Result ret;
    if (tm__forbid_user(r, NULL, &ret))
        return ret;
    const char *firing = tm__arg(r, "firing"), *limit = tm__arg(r, "limit");
    size_t n = limit ? strtoul(limit, NULL, 10) : 100;
    tm_buf b = TM_BUF_INIT;
    tm__buf_puts(&b, "{\"alerts\": [");
    int rc = tm__alert_history(tm__pctx(r->s->t), firing && strcmp(firing, "0") != 0, n ? n : 100,
                               alert_row, &b);
    tm__buf_puts(&b, "]}\n");
    ret = rc ? tm__reply_rc(r, rc, "invalid_query") : tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}

/* GET /v1/me: the key the caller sent (its scope and bound user), so the
 * dashboard shows only what the key may read; null when no key was needed. */
enum MHD_Result tm__route_get_me(req *r)
{
    tm_buf b = TM_BUF_INIT;
    if (!r->has_key) {
        tm__buf_puts(&b, "{\"key\": null}\n");
    } else {
        tm__buf_printf(&b, "{\"key\": {\"id\": \"%s\", \"scope\": \"%s\", \"user_id\": ", r->key.id,
                       r->key.scope);
        tm__json_str_or_null(&b, r->key.user[0] ? r->key.user : NULL);
        tm__buf_puts(&b, "}}\n");
    }
    enum MHD_Result ret = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ret;
}
