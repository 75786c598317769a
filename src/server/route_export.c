/*
 * route_export.c — GET /v1/export?period=YYYY-MM[&by=user|project|provider]
 * [&format=csv|json][&tz=ZONE]: a month's billing export as a download
 * (Content-Disposition: attachment). Admin keys only: an export spans every
 * user. The export is the library's (src/lib/export.c); this only renders
 * it and replies.
 */
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "../lib/export.h"
#include "server_int.h"

typedef struct args {
    char bad[160];
} args;

static enum MHD_Result known_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    args *a = cls;
    (void)kind;
    (void)value;
    if (a->bad[0] || strcmp(key, "period") == 0 || strcmp(key, "by") == 0 ||
        strcmp(key, "format") == 0 || strcmp(key, "tz") == 0)
        return MHD_YES;
    snprintf(a->bad, sizeof a->bad, "%.60s: unknown parameter (period, by, format, tz)", key);
    return MHD_NO;
}

enum MHD_Result tm__get_export(req *r)
{
    const char *period = tm__arg(r, "period");
    args a = {""};
    if (r->has_key && strcmp(r->key.scope, "admin") != 0)
        return tm__reply_error(r, 403, "forbidden", "only an admin key may download exports "
                                                    "(they cover every user)");
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, known_arg, &a);
    if (a.bad[0])
        return tm__reply_error(r, 400, "invalid_query", "%s", a.bad);
    if (!period)
        return tm__reply_error(r, 400, "invalid_query", "period: is required, as YYYY-MM (e.g. 2026-11)");
    int fmt = tm__export_format(tm__arg(r, "format"));
    if (fmt < 0)
        return tm__reply_error(r, 400, "invalid_query", "%s", tm_errmsg());
    tm_export *e = NULL;
    tm_buf b = TM_BUF_INIT;
    int rc = tm__export_run(r->s->t, period, tm__arg(r, "by"), tm__arg(r, "tz"), &e);
    if (rc == TM_OK)
        rc = fmt == TM_EXPORT_JSON ? tm__export_json(e, &b) : tm__export_csv(e, &b);
    enum MHD_Result ret;
    if (rc) {
        ret = tm__reply_rc(r, rc, "invalid_query");
    } else {
        char name[96], disp[160];
        tm__export_filename(e, fmt, name, sizeof name);
        snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
        const char *extra[] = {"Content-Disposition", disp, NULL};
        ret = tm__reply_as(r, 200, b.data, b.len, 0,
                           fmt == TM_EXPORT_JSON ? "application/json"
                                                 : "text/csv; charset=utf-8; header=present",
                           extra);
    }
    tm__buf_free(&b);
    tm__export_free(e);
    return ret;
}
