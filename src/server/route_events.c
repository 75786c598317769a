/*
 * route_events.c — POST /v1/events (one event, a JSON array or NDJSON):
 * the body goes to the library's ingest; the answer waits for the disk.
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

/* ---- ingest ---- */

enum MHD_Result tm__route_post_events(req *r)
{
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    const char *idem = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Idempotency-Key");
    unsigned flags = ct && strncmp(ct, "application/x-ndjson", 20) == 0 ? TM_JSON_NDJSON : 0;
    if (r->has_key && r->key.user[0])
        return tm__reply_error(r, 403, "forbidden",
                               "this key is bound to user %s: it may only check that user's "
                               "limits (POST /v1/check); storing events needs an unbound key",
                               r->key.user);
    if (r->body.len && memchr(r->body.data, '\0', r->body.len))
        return tm__reply_error(r, 400, "invalid_body", "body: contains a NUL byte");
    if (idem && (!*idem || strlen(idem) > 128))
        return tm__reply_error(r, 400, "invalid_header", "Idempotency-Key: must be 1 to 128 bytes");
    tm_batch_result *res = NULL;
    int rc = tm__track_json(r->s->t, r->body.data ? r->body.data : "", r->body.len, flags, idem,
                            __atomic_load_n(&r->s->cfg.max_events, __ATOMIC_RELAXED), &res);
    if (rc == TM_ETOOBIG)
        return tm__reply_error(r, 413, "too_many_events", "%s", tm_errmsg());
    if (rc)
        return tm__reply_rc(r, rc, "invalid_body");
    if (res->accepted)
        tm__alerts_nudge(r->s);
    __atomic_fetch_add(&r->s->events[0], res->accepted, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[1], res->duplicates, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->s->events[2], res->rejected, __ATOMIC_RELAXED);
    r->nevents = res->n;
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":[", res->accepted,
                   res->duplicates);
    size_t k = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->items[i].status != TM_ITEM_REJECTED)
            continue;
        tm__buf_printf(&b, "%s{\"index\":%zu,\"error\":", k++ ? "," : "", res->items[i].index);
        tm__json_str(&b, res->items[i].error, strlen(res->items[i].error));
        tm__buf_putc(&b, '}');
    }
    tm__buf_puts(&b, "]}\n");
    tm_batch_result_free(res);
    enum MHD_Result ok = tm__reply(r, 200, &b);
    tm__buf_free(&b);
    return ok;
}
