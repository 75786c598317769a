/*
 * cmd_report.c — `tokmeter report`: usage and cost over time, grouped and
 * filtered, as a table, JSON (the shape of GET /v1/usage) or CSV.
 */
#include <string.h>

#include "../core/buf.h"
#include "../lib/lib.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *interval = NULL, *group_by = NULL, *tz = NULL,
               *order_by = NULL, *limit = NULL, *where[CLI_LIST_MAX];
    size_t nwhere = 0;
    int csv = 0, plan = 0;
    const cli_opt opts[] = {
        {"from", "TIME", "start (inclusive): RFC 3339, a date (midnight in --tz), or 7d back (default: 30 days back)", &from, NULL, NULL, NULL},
        {"to", "TIME", "end (exclusive; default now)", &to, NULL, NULL, NULL},
        {"interval", "I", "hour, day, week (from Monday), month, or none (default)", &interval, NULL, NULL, NULL},
        {"group-by", "DIM[,DIM]", "provider, model, user_id, endpoint, operation, metric_type, success, project", &group_by, NULL, NULL, NULL},
        {"where", "DIM=V[,V]", "keep only these values (repeatable; dimensions AND, values OR)", NULL, NULL, where, &nwhere},
        {"tz", "ZONE", "IANA zone for days, weeks and months (default: the local zone)", &tz, NULL, NULL, NULL},
        {"order-by", "METRIC[:asc]", "sort rows by a metric, largest first (cost_usd, events, ...)", &order_by, NULL, NULL, NULL},
        {"limit", "N", "only the first N rows (top N with --order-by)", &limit, NULL, NULL, NULL},
        {"csv", NULL, "CSV with every metric", NULL, &csv, NULL, NULL},
        {"plan", NULL, "say on stderr whether rollups or raw events answered", NULL, &plan, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_report, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_report, opts,
                 "Metrics: events, requests, value, input_tokens, output_tokens, cache_read_tokens,\n"
                 "cache_write_tokens, reasoning_tokens, total_tokens, cost_usd, unpriced, errors,\n"
                 "error_rate, latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_avg_ms.\n"
                 "The table shows the usual ones: cost to 4 decimals, or two significant digits\n"
                 "when smaller, 'unpriced' when no event of the row had a price, '*' when some\n"
                 "had none; --json and --csv (one or the other) show all, exactly. Examples:\n"
                 "  tokmeter report --interval day --group-by provider --from 2026-10-01 --to 2026-11-01\n"
                 "  tokmeter report --group-by endpoint --order-by events --limit 10\n"
                 "  tokmeter report --from 24h --group-by provider        (the last 24 hours)\n");
        return EXIT_OK;
    }
    if (npos != 0) {
        if (npos > 0)
            fprintf(stderr, "tokmeter report: unexpected argument '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    if (csv && g->json) {
        fprintf(stderr, "tokmeter report: --csv and --json: choose one\n");
        return EXIT_USAGE;
    }
    tm_query_spec q;
    tm__query_init(&q);
    int rc = TM_OK;
    char tbuf[40];
    /* "24h"-style spans are turned into times here; the rest the query parses. */
    const char *texts[2] = {from, to};
    for (int i = 0; i < 2 && rc == TM_OK; i++) {
        int64_t us;
        int span = texts[i] ? cli_parse_time(i ? "to" : "from", texts[i], &us) : 0;
        if (span < 0) {
            tm__query_free(&q);
            return EXIT_USAGE;
        }
        if (span) {
            snprintf(tbuf, sizeof tbuf, "%lld", (long long)(us / 1000));
            rc = tm__query_set(&q, i ? "to" : "from", tbuf);
        } else if (texts[i]) {
            rc = tm__query_set(&q, i ? "to" : "from", texts[i]);
        }
    }
    if (rc == TM_OK && interval) rc = tm__query_set(&q, "interval", interval);
    if (rc == TM_OK && group_by) rc = tm__query_set(&q, "group_by", group_by);
    for (size_t i = 0; i < nwhere && rc == TM_OK; i++)
        rc = tm__query_set(&q, "where", where[i]);
    if (rc == TM_OK) rc = tm__query_set(&q, "tz", tz ? tz : "local");
    if (rc == TM_OK && order_by) rc = tm__query_set(&q, "order_by", order_by);
    if (rc == TM_OK && limit) rc = tm__query_set(&q, "limit", limit);
    if (rc) {
        fprintf(stderr, "tokmeter report: %s\n", tm_errmsg());
        tm__query_free(&q);
        return EXIT_USAGE;
    }
    tm *t = cli_open(g);
    tm_qresult *res = NULL;
    tm_buf out = TM_BUF_INIT;
    int code = EXIT_FAIL;
    if (!t)
        goto out;
    rc = tm__run_query(t, &q, &res);
    if (rc) {
        fprintf(stderr, "tokmeter report: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
        code = rc == TM_EINVAL ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }
    if (plan)
        fprintf(stderr, "plan: %s\n", res->plan);
    rc = g->json ? tm__qresult_json(res, &out) : csv ? tm__qresult_csv(res, &out) : tm__qresult_table(res, &out);
    if (rc == TM_OK && out.data)
        fputs(out.data, stdout);
    code = rc ? EXIT_FAIL : EXIT_OK;
out:
    tm__buf_free(&out);
    tm__qresult_free(res);
    tm__query_free(&q);
    tm_close(t);
    return code;
}

const cli_cmd cmd_report = {"report", "", "Usage and cost over time: series, breakdowns, top N.", run};
