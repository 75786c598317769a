/*
 * cmd_usage.c — `tokmeter usage USER`: one user's month, in the shape of the
 * seed lesson's dashboard (current period, daily breakdown, top endpoints).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/json.h"
#include "../core/text.h"
#include "../lib/lib.h"
#include "cli.h"

/* A count from the JSON, with thousands separators. */
static const char *count(const tm_jv *v, char buf[32])
{
    return cli_count(strtoll(v->s, NULL, 10), buf);
}

static void print_human(const char *json)
{
    char n1[32], n2[32];
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v = NULL;
    char err[200];
    if (tm__json_parse(&a, json, strlen(json), &v, err, sizeof err) != TM_OK) {
        fputs(json, stdout);
        return;
    }
    const tm_jv *cur = tm__json_get(v, "current_period");
    printf("%s in %s: %s events, %s tokens, $%s\n\n", tm__json_get(v, "user_id")->s,
           tm__json_get(v, "period")->s, count(tm__json_get(cur, "requests"), n1),
           count(tm__json_get(cur, "tokens"), n2), tm__json_get(cur, "cost")->s);
    const tm_jv *days = tm__json_get(v, "daily_breakdown");
    printf("%-12s %10s %12s %14s\n", "DATE", "EVENTS", "TOKENS", "COST USD");
    for (size_t i = 0; i < days->n; i++) {
        const tm_jv *d = days->vals[i];
        printf("%-12s %10s %12s %14s\n", tm__json_get(d, "date")->s, count(tm__json_get(d, "requests"), n1),
               count(tm__json_get(d, "tokens"), n2), tm__json_get(d, "cost")->s);
    }
    const tm_jv *top = tm__json_get(v, "top_endpoints");
    printf("\n%-40s %10s\n", "TOP ENDPOINTS", "CALLS");
    tm_buf cell = TM_BUF_INIT;
    for (size_t i = 0; i < top->n; i++) {
        const char *e = tm__json_get(top->vals[i], "endpoint")->s;
        tm__buf_reset(&cell);
        tm__buf_cell(&cell, *e ? e : "-", 40, 0);
        printf("%s %10s\n", cell.data ? cell.data : "", count(tm__json_get(top->vals[i], "calls"), n1));
    }
    tm__buf_free(&cell);
    tm__arena_free(&a);
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *period = NULL, *tz = NULL;
    const cli_opt opts[] = {
        {"period", "YYYY-MM", "the month (default: this month)", &period, NULL, NULL, NULL},
        {"tz", "ZONE", "where months and days are cut (default: the local zone)", &tz, NULL, NULL, NULL},
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
    else
        print_human(b.data);
    tm__buf_free(&b);
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_usage = {"usage", "USER", "One user's month: totals, days, top endpoints.", run};
