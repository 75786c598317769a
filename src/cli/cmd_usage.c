/*
 * cmd_usage.c — `tokmeter usage USER`: one user's month, in the shape of the
 * seed lesson's dashboard (current period, daily breakdown, top endpoints).
 */
#include <string.h>

#include "../core/buf.h"
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
    tm_user_month u;
    int rc = tm__user_month(t, argv[0], period, tz ? tz : "local", &u);
    if (rc) {
        fprintf(stderr, "tokmeter usage: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
    } else if (g->json) {
        tm__user_month_json(&u, argv[0], &b);
        fputs(b.data ? b.data : "", stdout);
    } else {
        print_human(&u, argv[0]);
    }
    tm__user_month_free(&u);
    tm__buf_free(&b);
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_usage = {"usage", "USER", "One user's month: totals, days, top endpoints.", run};
