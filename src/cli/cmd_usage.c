/*
 * cmd_usage.c — `tokmeter usage USER`: one user's month, in the shape of the
 * seed lesson's dashboard (current period, daily breakdown, top endpoints),
 * or its daily breakdown as CSV.
 */
#include <string.h>

#include "../core/buf.h"
#include "../core/csv.h"
#include "../core/json.h"
#include "../lib/lib.h"
#include "cli.h"

static void print_human(const char *json)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    if (tm__json_parse(&a, json, strlen(json), &v, err, sizeof err) != TM_OK) {
        fputs(json, stdout);
        return;
    }
    const tm_jv *cur = tm__json_get(v, "current_period");
    printf("%s in %s: %s events, %s tokens, $%s\n\n", tm__json_get(v, "user_id")->s,
           tm__json_get(v, "period")->s, tm__json_get(cur, "requests")->s,
           tm__json_get(cur, "tokens")->s, tm__json_get(cur, "cost")->s);
    const tm_jv *days = tm__json_get(v, "daily_breakdown");
    printf("%-12s %10s %12s %14s\n", "DATE", "EVENTS", "TOKENS", "COST USD");
    for (size_t i = 0; i < days->n; i++) {
        const tm_jv *d = days->vals[i];
        printf("%-12s %10s %12s %14s\n", tm__json_get(d, "date")->s, tm__json_get(d, "requests")->s,
               tm__json_get(d, "tokens")->s, tm__json_get(d, "cost")->s);
    }
    const tm_jv *top = tm__json_get(v, "top_endpoints");
    printf("\n%-40s %10s\n", "TOP ENDPOINTS", "CALLS");
    for (size_t i = 0; i < top->n; i++) {
        const char *e = tm__json_get(top->vals[i], "endpoint")->s;
        printf("%-40s %10s\n", *e ? e : "-", tm__json_get(top->vals[i], "calls")->s);
    }
    tm__arena_free(&a);
}

/* The daily breakdown as CSV: user_id,date,requests,tokens,cost_usd. */
static int print_csv(const char *json)
{
    tm_arena a = TM_ARENA_INIT;
    tm_buf b = TM_BUF_INIT;
    tm_jv *v = NULL;
    char err[200];
    int rc = tm__json_parse(&a, json, strlen(json), &v, err, sizeof err);
    if (rc == TM_OK)
        rc = tm__buf_puts(&b, "user_id,date,requests,tokens,cost_usd\r\n");
    const tm_jv *days = rc == TM_OK ? tm__json_get(v, "daily_breakdown") : NULL;
    for (size_t i = 0; days && i < days->n && rc == TM_OK; i++) {
        const tm_jv *d = days->vals[i];
        rc = tm__csv_text(&b, tm__json_get(v, "user_id")->s, 1);
        if (rc == TM_OK) rc = tm__csv_num(&b, tm__json_get(d, "date")->s, 0);
        if (rc == TM_OK) rc = tm__csv_num(&b, tm__json_get(d, "requests")->s, 0);
        if (rc == TM_OK) rc = tm__csv_num(&b, tm__json_get(d, "tokens")->s, 0);
        if (rc == TM_OK) rc = tm__csv_num(&b, tm__json_get(d, "cost")->s, 0);
        if (rc == TM_OK) rc = tm__csv_end(&b);
    }
    if (rc == TM_OK)
        fwrite(b.data, 1, b.len, stdout);
    tm__buf_free(&b);
    tm__arena_free(&a);
    return rc;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *period = NULL, *tz = NULL;
    int csv = 0;
    const cli_opt opts[] = {
        {"period", "YYYY-MM", "the month (default: this month)", &period, NULL, NULL, NULL},
        {"tz", "ZONE", "where months and days are cut (default: the local zone)", &tz, NULL, NULL, NULL},
        {"csv", NULL, "the daily breakdown as CSV: user_id,date,requests,tokens,cost_usd", NULL, &csv, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_usage, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_usage, opts, "--json prints the shape of GET /api/usage/{userId}.\n");
        return EXIT_OK;
    }
    if (npos != 1) {
        fprintf(stderr, "tokmeter usage: give one USER (see tokmeter usage --help)\n");
        return EXIT_USAGE;
    }
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    tm_buf b = TM_BUF_INIT;
    int rc = tm__user_usage_json(t, argv[0], period, tz ? tz : "local", &b);
    if (rc)
        fprintf(stderr, "tokmeter usage: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
    else if (g->json)
        fputs(b.data, stdout);
    else if (csv)
        rc = print_csv(b.data);
    else
        print_human(b.data);
    tm__buf_free(&b);
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_usage = {"usage", "USER", "One user's month: totals, days, top endpoints.", run};
