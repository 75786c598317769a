/*
 * fill.c — fill=zero: empty periods as zero rows, so a series has a point
 * for every period of the range and can be graphed without gaps.
 *
 * The rows of a result are sorted by group, then period; each group's run
 * is merged with the range's periods (the first is the period holding
 * `from`, each next one the period holding a time just past the current
 * one's longest possible length), adding an empty row where one is missing.
 * With nothing grouped there is one group, present even with no rows.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "query.h"

#define HOUR_US (3600LL * 1000000)

static int cmp_group(const tm_qresult *res, const tm_qrow *a, const tm_qrow *b)
{
    for (int g = 0; g < res->ngroup; g++) {
        int c = strcmp(a->dim[res->group[g]], b->dim[res->group[g]]);
        if (c)
            return c;
    }
    return 0;
}

static int cmp_group_period(const void *pa, const void *pb, void *arg)
{
    const tm_qrow *a = pa, *b = pb;
    int c = cmp_group(arg, a, b);
    return c ? c : (a->period > b->period) - (a->period < b->period);
}

/* The start of the period after p. Days are 23 to 25 hours, months 28 to
 * 31 days, so a step just over the longest lands in the next period. */
static int64_t next_period(const tm_qresult *res, int64_t p)
{
    static const int64_t step[] = {0, HOUR_US, 26 * HOUR_US, (7 * 24 + 2) * HOUR_US,
                                   32 * 24 * HOUR_US};
    int64_t n = tm__period_start(res, p + step[res->interval]);
    for (int64_t extra = HOUR_US; n <= p; extra += HOUR_US) /* a repeated local hour */
        n = tm__period_start(res, p + step[res->interval] + extra);
    return n;
}

int tm__qresult_fill(tm_qresult *res)
{
    size_t nper = 0, ngroups = 0, cap = 0, n = 0;
    tm_qrow *out = NULL;
    for (int64_t p = tm__period_start(res, res->from); p < res->to; p = next_period(res, p))
        if (++nper > TM_FILL_MAX)
            break;
    qsort_r(res->rows, res->nrows, sizeof *res->rows, cmp_group_period, res);
    for (size_t i = 0; i < res->nrows; i++)
        ngroups += i == 0 || cmp_group(res, &res->rows[i - 1], &res->rows[i]) != 0;
    if (res->ngroup == 0)
        ngroups = 1;
    if (nper > TM_FILL_MAX)
        return tm__fail(TM_EINVAL, "fill: the range has more than %d periods; use a longer "
                                   "interval or a shorter range", TM_FILL_MAX);
    if (ngroups && nper > TM_FILL_MAX / ngroups)
        return tm__fail(TM_EINVAL,
                        "fill: %zu groups over %zu periods would be more than %d rows; "
                        "use a longer interval, a shorter range or fewer groups",
                        ngroups, nper, TM_FILL_MAX);
    cap = ngroups * nper + res->nrows; /* rows off a period start are kept too */
    if (!(out = calloc(cap ? cap : 1, sizeof *out)))
        return TM_ENOMEM;
    static const tm_qrow empty;
    for (size_t i = 0; i < res->nrows || (n == 0 && res->ngroup == 0);) {
        const tm_qrow *first = i < res->nrows ? &res->rows[i] : &empty;
        size_t j = i;
        for (int64_t p = tm__period_start(res, res->from); p < res->to; p = next_period(res, p)) {
            while (j < res->nrows && cmp_group(res, &res->rows[j], first) == 0 &&
                   res->rows[j].period < p)
                out[n++] = res->rows[j++]; /* not a period start: kept as is */
            if (j < res->nrows && cmp_group(res, &res->rows[j], first) == 0 &&
                res->rows[j].period == p) {
                out[n++] = res->rows[j++];
            } else {
                out[n] = (tm_qrow){0};
                out[n].period = p;
                memcpy(out[n].dim, first->dim, sizeof out[n].dim);
                n++;
            }
        }
        while (j < res->nrows && cmp_group(res, &res->rows[j], first) == 0)
            out[n++] = res->rows[j++];
        if (j == i && res->ngroup == 0 && i == res->nrows)
            break; /* no rows at all, one empty group written */
        i = j;
    }
    free(res->rows);
    res->rows = out;
    res->nrows = n;
    return TM_OK;
}
