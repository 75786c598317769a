/*
 * export.c — billing exports (see export.h): one query over the month,
 * grouped by the export's group, provider, model and metric type, whose
 * rows (already in group order) become the items, with a subtotal row
 * summed after each group's items.
 */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/csv.h"
#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "lib.h"

static const struct {
    const char *name;           /* as --by and ?by= take it                   */
    int dim;
} bys[] = {{"user", TM_D_USER}, {"project", TM_D_PROJECT}, {"provider", TM_D_PROVIDER}};

/* The metrics of every line, in column order. */
static const int cols[] = {TM_M_EVENTS, TM_M_REQUESTS, TM_M_VALUE, TM_M_INPUT, TM_M_OUTPUT,
                           TM_M_CACHE_READ, TM_M_CACHE_WRITE, TM_M_REASONING, TM_M_TOTAL,
                           TM_M_UNPRICED, TM_M_COST};
#define NCOLS (sizeof cols / sizeof cols[0])

int tm__period_month(const char *period, char from[16], char to[16])
{
    uint64_t y, m;
    if (!period || strlen(period) != 7 || period[4] != '-' || tm__uint_parse(period, 4, 9999, &y) ||
        tm__uint_parse(period + 5, 2, 12, &m) || m < 1 || y < 1970)
        return tm__fail(TM_EINVAL, "period: '%s' must be a month, YYYY-MM",
                        period ? period : "");
    snprintf(from, 16, "%04u-%02u-01", (unsigned)y, (unsigned)m);
    snprintf(to, 16, "%04u-%02u-01", (unsigned)(m == 12 ? y + 1 : y), (unsigned)(m == 12 ? 1 : m + 1));
    return TM_OK;
}

int tm__export_format(const char *format)
{
    if (!format || strcmp(format, "csv") == 0)
        return TM_EXPORT_CSV;
    if (strcmp(format, "json") == 0)
        return TM_EXPORT_JSON;
    return tm__fail(TM_EINVAL, "format: must be csv or json, not '%s'", format);
}

static const char *by_name(int dim)
{
    for (size_t i = 0; i < sizeof bys / sizeof bys[0]; i++)
        if (bys[i].dim == dim)
            return bys[i].name;
    return "";
}

int tm__export_run(tm *t, const char *period, const char *by, const char *tz, tm_export **out)
{
    char from[16], to[16], group_by[80];
    tm_query_spec q;
    tm_export *e = NULL;
    int rc, dim = -1;
    *out = NULL;
    tm__query_init(&q);
    for (size_t i = 0; i < sizeof bys / sizeof bys[0]; i++)
        if (strcmp(by ? by : "user", bys[i].name) == 0)
            dim = bys[i].dim;
    if ((rc = tm__period_month(period, from, to)))
        goto out;
    if (dim < 0) {
        rc = tm__fail(TM_EINVAL, "by: must be user, project or provider, not '%s'", by);
        goto out;
    }
    snprintf(group_by, sizeof group_by, "%s%s%s", dim == TM_D_PROVIDER ? "" : tm__dim_names[dim],
             dim == TM_D_PROVIDER ? "" : ",", "provider,model,metric_type");
    if ((rc = tm__query_set(&q, "from", from)) || (rc = tm__query_set(&q, "to", to)) ||
        (rc = tm__query_set(&q, "group_by", group_by)) ||
        (tz && (rc = tm__query_set(&q, "tz", tz))))
        goto out;
    if (!(e = calloc(1, sizeof *e))) {
        rc = TM_ENOMEM;
        goto out;
    }
    memcpy(e->period, period, 7);
    e->by = dim;
    if ((rc = tm__run_query(t, &q, &e->res)))
        goto out;
    const tm_qresult *res = e->res;
    /* Rows are ordered by the group first: one subtotal per run of it. */
    e->lines = calloc(2 * res->nrows + 1, sizeof *e->lines);
    e->subtotals = calloc(res->nrows ? res->nrows : 1, sizeof *e->subtotals);
    if (!e->lines || !e->subtotals) {
        rc = TM_ENOMEM;
        goto out;
    }
    size_t ngroups = 0;
    for (size_t i = 0; i < res->nrows; i++) {
        const tm_qrow *r = &res->rows[i];
        const char *g = r->dim[dim];
        e->lines[e->nlines++] = (tm_export_line){TM_EXPORT_ITEM, g, r->dim[TM_D_PROVIDER],
                                                 r->dim[TM_D_MODEL], r->dim[TM_D_METRIC], r};
        tm_qrow *sub = &e->subtotals[ngroups];
        tm__sums_add(&sub->s, &r->s);
        if (i + 1 == res->nrows || strcmp(res->rows[i + 1].dim[dim], g) != 0) {
            e->lines[e->nlines++] = (tm_export_line){TM_EXPORT_SUBTOTAL, g, NULL, NULL, NULL, sub};
            ngroups++;
        }
    }
    e->lines[e->nlines++] = (tm_export_line){TM_EXPORT_TOTAL, NULL, NULL, NULL, NULL, &res->totals};
out:
    tm__query_free(&q);
    if (rc) {
        tm__export_free(e);
        return rc;
    }
    *out = e;
    return TM_OK;
}

void tm__export_free(tm_export *e)
{
    if (!e)
        return;
    tm__qresult_free(e->res);
    free(e->lines);
    free(e->subtotals);
    free(e);
}

static const char *const kind_names[] = {"item", "subtotal", "total"};

int tm__export_csv(const tm_export *e, tm_buf *b)
{
    int rc = tm__buf_puts(b, "period,row,");
    if (rc == TM_OK && e->by != TM_D_PROVIDER)
        rc = tm__buf_printf(b, "%s,", tm__dim_names[e->by]);
    if (rc == TM_OK)
        rc = tm__buf_puts(b, "provider,model,metric_type");
    for (size_t k = 0; k < NCOLS && rc == TM_OK; k++)
        rc = tm__buf_printf(b, ",%s", tm__metric_names[cols[k]]);
    if (rc == TM_OK)
        rc = tm__csv_end(b);
    for (size_t i = 0; i < e->nlines && rc == TM_OK; i++) {
        const tm_export_line *l = &e->lines[i];
        rc = tm__csv_num(b, e->period, 1);
        if (rc == TM_OK)
            rc = tm__csv_num(b, kind_names[l->kind], 0);
        if (rc == TM_OK)
            rc = tm__csv_text(b, l->group, 0);
        if (rc == TM_OK && e->by != TM_D_PROVIDER)
            rc = tm__csv_text(b, l->provider, 0);
        if (rc == TM_OK)
            rc = tm__csv_text(b, l->model, 0);
        if (rc == TM_OK)
            rc = tm__csv_text(b, l->metric_type, 0);
        for (size_t k = 0; k < NCOLS && rc == TM_OK; k++) {
            char t[64];
            tm__metric_text(&l->row->s, &l->row->sk, cols[k], t, sizeof t);
            rc = tm__csv_num(b, t, 0);
        }
        if (rc == TM_OK)
            rc = tm__csv_end(b);
    }
    return rc;
}

static int json_sums(tm_buf *b, const tm_qrow *r)
{
    int rc = TM_OK;
    for (size_t k = 0; k < NCOLS && rc == TM_OK; k++) {
        char t[64];
        tm__metric_text(&r->s, &r->sk, cols[k], t, sizeof t);
        rc = tm__buf_printf(b, "%s\"%s\": %s", k ? ", " : "", tm__metric_names[cols[k]], t);
    }
    return rc;
}

static int json_key_str(tm_buf *b, const char *key, const char *v)
{
    int rc = tm__buf_printf(b, "\"%s\": ", key);
    if (rc == TM_OK)
        rc = tm__json_str(b, v, strlen(v));
    return rc == TM_OK ? tm__buf_puts(b, ", ") : rc;
}

int tm__export_json(const tm_export *e, tm_buf *b)
{
    char from[32], to[32];
    tm__time_format(e->res->from, from);
    tm__time_format(e->res->to, to);
    int rc = tm__buf_printf(b, "{\"period\": \"%s\", \"from\": \"%s\", \"to\": \"%s\", \"tz\": \"%s\", "
                               "\"by\": \"%s\",\n \"groups\": [",
                            e->period, from, to, tm__tz_name(e->res->tz), by_name(e->by));
    int open = 0; /* a group's object is open */
    for (size_t i = 0; i < e->nlines && rc == TM_OK; i++) {
        const tm_export_line *l = &e->lines[i];
        if (l->kind == TM_EXPORT_ITEM) {
            if (!open) {
                rc = tm__buf_puts(b, i ? ",\n  {" : "\n  {");
                if (rc == TM_OK)
                    rc = json_key_str(b, tm__dim_names[e->by], l->group);
                if (rc == TM_OK)
                    rc = tm__buf_puts(b, "\"items\": [");
            }
            rc = rc ? rc : tm__buf_puts(b, open ? ",\n    {" : "\n    {");
            open = 1;
            if (rc == TM_OK && e->by != TM_D_PROVIDER)
                rc = json_key_str(b, "provider", l->provider);
            if (rc == TM_OK)
                rc = json_key_str(b, "model", l->model);
            if (rc == TM_OK)
                rc = json_key_str(b, "metric_type", l->metric_type);
            if (rc == TM_OK)
                rc = json_sums(b, l->row);
            if (rc == TM_OK)
                rc = tm__buf_putc(b, '}');
        } else if (l->kind == TM_EXPORT_SUBTOTAL) {
            rc = tm__buf_puts(b, "],\n   \"total\": {");
            if (rc == TM_OK)
                rc = json_sums(b, l->row);
            if (rc == TM_OK)
                rc = tm__buf_puts(b, "}}");
            open = 0;
        } else {
            rc = tm__buf_puts(b, e->nlines > 1 ? "\n ],\n \"total\": {" : "],\n \"total\": {");
            if (rc == TM_OK)
                rc = json_sums(b, l->row);
            if (rc == TM_OK)
                rc = tm__buf_puts(b, "}}\n");
        }
    }
    return rc;
}

void tm__export_filename(const tm_export *e, int format, char *buf, size_t cap)
{
    snprintf(buf, cap, "tokmeter-%s-by-%s.%s", e->period, by_name(e->by),
             format == TM_EXPORT_JSON ? "json" : "csv");
}
