/*
 * query_opts.c — the report question's options (see query_opts.h).
 */
#include "query_opts.h"

#include <string.h>

void cli_query_opts(cli_query *cq, cli_opt *opts)
{
    const cli_opt rows[CLI_QUERY_NOPTS] = {
        {"from", "TIME", "start (inclusive): RFC 3339, a date (midnight in --tz), or 7d back (default: 30 days back)", &cq->from, NULL, NULL, NULL},
        {"to", "TIME", "end (exclusive; default now)", &cq->to, NULL, NULL, NULL},
        {"interval", "I", "hour, day, week (from Monday), month, or none (default)", &cq->interval, NULL, NULL, NULL},
        {"group-by", "DIM[,DIM]", "provider, model, user_id, endpoint, operation, metric_type, success, project", &cq->group_by, NULL, NULL, NULL},
        {"where", "DIM=V[,V]", "keep only these values (repeatable; dimensions AND, values OR)", NULL, NULL, cq->where, &cq->nwhere},
        {"tz", "ZONE", "IANA zone for days, weeks and months (default: the local zone)", &cq->tz, NULL, NULL, NULL},
    };
    memcpy(opts, rows, sizeof rows);
}

int cli_query_spec(const cli_query *cq, tm_query_spec *q)
{
    int rc = TM_OK;
    char tbuf[40];
    const char *texts[2] = {cq->from, cq->to};
    for (int i = 0; i < 2 && rc == TM_OK; i++) {
        int64_t us;
        int span = texts[i] ? cli_parse_time(i ? "to" : "from", texts[i], &us) : 0;
        if (span < 0)
            return 1; /* cli_parse_time said why */
        if (span) {
            snprintf(tbuf, sizeof tbuf, "%lld", (long long)(us / 1000));
            rc = tm__query_set(q, i ? "to" : "from", tbuf);
        } else if (texts[i]) {
            rc = tm__query_set(q, i ? "to" : "from", texts[i]);
        }
    }
    if (rc == TM_OK && cq->interval) rc = tm__query_set(q, "interval", cq->interval);
    if (rc == TM_OK && cq->group_by) rc = tm__query_set(q, "group_by", cq->group_by);
    for (size_t i = 0; i < cq->nwhere && rc == TM_OK; i++)
        rc = tm__query_set(q, "where", cq->where[i]);
    if (rc == TM_OK) rc = tm__query_set(q, "tz", cq->tz ? cq->tz : "local");
    return rc;
}
