/*
 * cmd_report.c — `tokmeter report`: usage and cost over time, grouped and
 * filtered, as a table, JSON (the shape of GET /v1/usage) or CSV.
 */
#include <string.h>

#include "../core/buf.h"
#include "../lib/lib.h"
#include "cli.h"
#include "query_opts.h"

static int run(cli_global *g, int argc, char **argv)
{
    cli_query cq = {0};
    const char *order_by = NULL, *limit = NULL;
    int csv = 0, plan = 0, fill = 0;
    cli_opt opts[CLI_QUERY_NOPTS + 6] = {{0}};
    cli_query_opts(&cq, opts);
    const cli_opt own[] = {
        {"order-by", "METRIC[:asc]", "sort rows by a metric, largest first (cost_usd, events, ...)", &order_by, NULL, NULL, NULL},
        {"limit", "N", "only the first N rows (top N with --order-by)", &limit, NULL, NULL, NULL},
        {"fill", NULL, "with --interval: every period gets a row per group, zero when empty", NULL, &fill, NULL, NULL},
        {"csv", NULL, "CSV with every metric", NULL, &csv, NULL, NULL},
        {"plan", NULL, "say on stderr whether rollups or raw events answered", NULL, &plan, NULL, NULL},
    };
    memcpy(opts + CLI_QUERY_NOPTS, own, sizeof own);
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
                 "  tokmeter report --from 24h --group-by provider        (the last 24 hours)\n"
                 "  tokmeter report --from 7d --interval day --fill --csv  (a row for every day)\n");
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
    int rc = cli_query_spec(&cq, &q);
    if (rc > 0) {
        tm__query_free(&q);
        return EXIT_USAGE;
    }
    if (rc == TM_OK && order_by) rc = tm__query_set(&q, "order_by", order_by);
    if (rc == TM_OK && limit) rc = tm__query_set(&q, "limit", limit);
    if (rc == TM_OK && fill) rc = tm__query_set(&q, "fill", "zero");
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
