/*
 * cmd_export.c — `tokmeter export`: a month's billing export (one line per
 * group × provider × model × metric type, subtotals, a grand total) as CSV
 * or JSON. The export itself is computed by the library (src/lib/export.c);
 * this file only reads the options and prints what it renders.
 */
#include "../core/buf.h"
#include "../lib/export.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *period = NULL, *by = NULL, *format = NULL, *tz = NULL;
    const cli_opt opts[] = {
        {"period", "YYYY-MM", "the month to export (required)", &period, NULL, NULL, NULL},
        {"by", "GROUP", "user (default), project or provider", &by, NULL, NULL, NULL},
        {"format", "F", "csv (default) or json", &format, NULL, NULL, NULL},
        {"tz", "ZONE", "where the month starts and ends (default: the local zone)", &tz, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_export, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_export, opts,
                 "Rows: period, row (item, subtotal or total), the group, provider, model,\n"
                 "metric_type, then events, requests, value, the token buckets, total_tokens,\n"
                 "unpriced and cost_usd (exact). The total equals `tokmeter report` over the\n"
                 "same month and zone. CSV follows RFC 4180; a text value starting with\n"
                 "= + - @ is prefixed with ' so spreadsheets show it as text. Example:\n"
                 "  tokmeter export --period 2026-11 --by user --tz UTC > 2026-11.csv\n");
        return EXIT_OK;
    }
    if (npos != 0) {
        if (npos > 0)
            fprintf(stderr, "tokmeter export: unexpected argument '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    if (!period) {
        fprintf(stderr, "tokmeter export: --period YYYY-MM is required (e.g. --period 2026-11)\n");
        return EXIT_USAGE;
    }
    int fmt = g->json && !format ? TM_EXPORT_JSON : tm__export_format(format);
    if (fmt < 0) {
        fprintf(stderr, "tokmeter export: --%s\n", tm_errmsg());
        return EXIT_USAGE;
    }
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    tm_export *e = NULL;
    tm_buf b = TM_BUF_INIT;
    int rc = tm__export_run(t, period, by, tz ? tz : "local", &e);
    if (rc == TM_OK)
        rc = fmt == TM_EXPORT_JSON ? tm__export_json(e, &b) : tm__export_csv(e, &b);
    if (rc == TM_OK)
        fwrite(b.data, 1, b.len, stdout);
    else
        fprintf(stderr, "tokmeter export: %s%s\n", rc == TM_EINVAL ? "--" : "",
                *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
    tm__buf_free(&b);
    tm__export_free(e);
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_export = {"export", "", "A month's billing export by user, project or provider (CSV, JSON).", run};
