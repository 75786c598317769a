/*
 * export.h — billing exports: one month of usage, one line per
 * (group × provider × model × metric type) with its requests, token
 * buckets, unpriced count and exact cost, a subtotal per group and a grand
 * total. Computed once here (tm__export_run) and rendered as CSV or JSON
 * by `tokmeter export` and GET /v1/export alike.
 *
 * The grand total is the query engine's total over the same range, so it
 * equals `tokmeter report --from MONTH-01 --to NEXT-01 --tz ZONE` to the
 * last digit; each subtotal is the exact sum of its lines.
 */
#ifndef TM_LIB_EXPORT_H
#define TM_LIB_EXPORT_H

#include "../query/query.h"
#include "tokmeter.h"

enum { TM_EXPORT_ITEM, TM_EXPORT_SUBTOTAL, TM_EXPORT_TOTAL };
enum { TM_EXPORT_CSV, TM_EXPORT_JSON };

typedef struct tm_export_line {
    int kind;                   /* TM_EXPORT_ITEM, _SUBTOTAL or _TOTAL        */
    const char *group;          /* the `by` value ("" when absent); NULL on
                                   the grand total                            */
    const char *provider, *model, *metric_type; /* items only; else NULL     */
    const tm_qrow *row;         /* the sums (a subtotal's own row)            */
} tm_export_line;

typedef struct tm_export {
    char period[8];             /* "2026-11"                                  */
    int by;                     /* TM_D_USER, TM_D_PROJECT or TM_D_PROVIDER   */
    tm_qresult *res;            /* the rows behind the items; its totals are
                                   the grand total                            */
    tm_export_line *lines;      /* in order: each group's items then its
                                   subtotal; the grand total last             */
    size_t nlines;
    tm_qrow *subtotals;         /* one per group                              */
} tm_export;

/* Checks `period` (YYYY-MM) and writes the month's first day and the next
 * month's first day ("2026-11-01", "2026-12-01") into from and to.
 * Errors: TM_EINVAL naming period. */
int tm__period_month(const char *period, char from[16], char to[16]);

/* The export of `period` grouped by `by` (user, project or provider; NULL:
 * user) with months cut in zone tz (NULL: UTC). *out is freed with
 * tm__export_free. Errors: TM_EINVAL naming period, by or tz; store errors. */
int tm__export_run(tm *t, const char *period, const char *by, const char *tz, tm_export **out);
void tm__export_free(tm_export *e);

/* "csv" or "json" (NULL: csv) as TM_EXPORT_CSV / _JSON, or -1 after
 * tm__fail naming format. */
int tm__export_format(const char *format);

/* The export as CSV (RFC 4180, CRLF, formula-guarded; see csv.h) or JSON,
 * appended to b. */
int tm__export_csv(const tm_export *e, tm_buf *b);
int tm__export_json(const tm_export *e, tm_buf *b);

/* A file name for the export: "tokmeter-2026-11-by-user.csv". */
void tm__export_filename(const tm_export *e, int format, char *buf, size_t cap);

#endif
