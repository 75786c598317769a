/*
 * cmd_usage.c — `tokmeter usage USER`: one user's month, in the shape of the
 * seed lesson's dashboard (current period, daily breakdown, top endpoints),
 * or its daily breakdown as CSV.
 */
#include <string.h>

#include "../core/buf.h"
#include "../core/csv.h"
#include "../core/dec.h"
#include "../core/text.h"
#include "../lib/lib.h"
#include "cli.h"

static void print_human(const tm_user_month *u, const char *user)
{
    char cost[48], n1[32], n2[32];
    tm__dec_format(u->cost, 12, cost);
    printf("%s in %s: %s events, %s tokens, $%s\n\n", user, u->period, cli_count(u->requests, n1),
           cli_count(u->tokens, n2), cost);
    printf("%-12s %10s %12s %14s\n", "DATE", "EVENTS", "TOKENS", "COST USD");
    for (size_t i = u->daily->nrows; i-- > 0;) { /* newest first, as --json */
        const tm_qrow *r = &u->daily->rows[i];
        char label[40];
        tm__period_label(u->daily, r->period, label, sizeof label);
        tm__dec_format(r->s.cost, 12, cost);
        printf("%-12s %10s %12s %14s\n", label, cli_count(r->s.events, n1), cli_count(r->s.total, n2), cost);
    }
    printf("\n%-40s %10s\n", "TOP ENDPOINTS", "CALLS");
    tm_buf cell = TM_BUF_INIT; /* endpoints by display width, cut with an ellipsis */
    for (size_t i = 0; i < u->top->nrows; i++) {
        const char *e = u->top->rows[i].dim[TM_D_ENDPOINT];
        tm__buf_reset(&cell);
        tm__buf_cell(&cell, *e ? e : "-", 40, 0);
        printf("%s %10s\n", cell.data ? cell.data : "", cli_count(u->top->rows[i].s.events, n1));
    }
    tm__buf_free(&cell);
}

/* The daily breakdown as CSV: user_id,date,requests,tokens,cost_usd,
 * newest first as in the table and --json. */
static int print_csv(const tm_user_month *u, const char *user)
{
    tm_buf b = TM_BUF_INIT;
    int rc = tm__buf_puts(&b, "user_id,date,requests,tokens,cost_usd\r\n");
    for (size_t i = u->daily->nrows; i-- > 0 && rc == TM_OK;) {
        const tm_qrow *r = &u->daily->rows[i];
        char label[40], n[3][48];
        tm__period_label(u->daily, r->period, label, sizeof label);
        snprintf(n[0], sizeof n[0], "%lld", (long long)r->s.events);
        snprintf(n[1], sizeof n[1], "%lld", (long long)r->s.total);
        tm__dec_format(r->s.cost, 12, n[2]);
        rc = tm__csv_text(&b, user, 1);
        if (rc == TM_OK) rc = tm__csv_num(&b, label, 0);
        for (int k = 0; k < 3 && rc == TM_OK; k++)
            rc = tm__csv_num(&b, n[k], 0);
        if (rc == TM_OK) rc = tm__csv_end(&b);
    }
    if (rc == TM_OK)
        fwrite(b.data, 1, b.len, stdout);
    tm__buf_free(&b);
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
    tm_user_month u;
    int rc = tm__user_month(t, argv[0], period, tz ? tz : "local", &u);
    if (rc) {
        fprintf(stderr, "tokmeter usage: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
    } else if (g->json) {
        tm__user_month_json(&u, argv[0], &b);
        fputs(b.data ? b.data : "", stdout);
    } else if (csv) {
        rc = print_csv(&u, argv[0]);
    } else {
        print_human(&u, argv[0]);
    }
    tm__user_month_free(&u);
    tm__buf_free(&b);
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_usage = {"usage", "USER", "One user's month: totals, days, top endpoints.", run};
