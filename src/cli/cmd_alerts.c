/*
 * cmd_alerts.c — `tokmeter alerts check|list`: evaluate the config's alert
 * rules now (for cron; transitions are stored and posted to the webhooks),
 * or show the history.
 */
#include <string.h>

#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "../policy/alert.h"
#include "cli.h"

static void on_transition(void *arg, const char *body, int delivered)
{
    *(int *)arg += delivered != 0;
    printf("%s\n", body);
    if (delivered)
        fprintf(stderr, "tokmeter alerts: %s\n", tm_errmsg());
    fflush(stdout);
}

static int print_event(void *arg, const tm_alert_entry *e)
{
    (void)arg;
    printf("%s\n", e->body);
    return 0;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *at = NULL, *limit = NULL;
    int firing = 0, no_deliver = 0;
    const cli_opt opts[] = {
        {"firing", NULL, "list: only the alerts firing now", NULL, &firing, NULL, NULL},
        {"limit", "N", "list: at most N (default 50)", &limit, NULL, NULL, NULL},
        {"at", "TIME", "check: evaluate as of TIME instead of now", &at, NULL, NULL, NULL},
        {"no-deliver", NULL, "check: record and print transitions, post no webhook", NULL, &no_deliver, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    const char *sub = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    int npos = cli_parse(&cmd_alerts, opts, g, sub ? argc - 1 : argc, sub ? argv + 1 : argv);
    if (g->help || !sub) {
        cli_help(&cmd_alerts, opts,
                 "subcommands:\n"
                 "  check   evaluate every rule of the config file's \"alerts\" now; print (as JSON\n"
                 "          lines) and post each transition (ok → firing, firing → resolved)\n"
                 "  list    the history of transitions, newest first (JSON lines)\n"
                 "Rules: docs/alerts.md. exit status of check: 0, or 1 when a webhook failed.\n");
        return g->help ? EXIT_OK : EXIT_USAGE;
    }
    static const char *const subs[] = {"check", "list", NULL};
    if (npos != 0 || (strcmp(sub, "check") != 0 && strcmp(sub, "list") != 0))
        return npos < 0 ? EXIT_USAGE : cli_bad_sub(sub, subs);
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = TM_OK, code = EXIT_OK;
    if (strcmp(sub, "check") == 0) {
        tm_alerts *a = NULL;
        int64_t now = tm__now_us();
        if (at && cli_parse_time("at", at, &now) < 0) {
            tm_close(t);
            return EXIT_USAGE;
        }
        rc = tm__alerts_load(&a, cli_config_path(g));
        int n = 0, failed = 0;
        if (rc == TM_OK && a->nrules == 0)
            fprintf(stderr, "tokmeter alerts: no rules (add \"alerts\": {\"rules\": [...]} to the config; "
                            "docs/alerts.md)\n");
        if (rc == TM_OK)
            rc = tm__alerts_evaluate(tm__pctx(t), a, now, !no_deliver, on_transition, &failed, &n);
        if (rc == TM_OK)
            fprintf(stderr, "%d rules evaluated, %d transitions\n", a->nrules, n);
        if (rc == TM_OK && failed)
            code = EXIT_FAIL;
        tm__alerts_free(a);
    } else if (strcmp(sub, "list") == 0) {
        size_t n = 50;
        if (limit && cli_parse_count("limit", limit, &n)) {
            tm_close(t);
            return EXIT_USAGE;
        }
        rc = tm__alert_history(tm__pctx(t), firing, n, print_event, NULL);
    } else {
        fprintf(stderr, "tokmeter alerts: unknown subcommand '%s'\n", sub);
        code = EXIT_USAGE;
    }
    if (rc) {
        cli_error("alerts", rc);
        code = EXIT_FAIL;
    }
    tm_close(t);
    return code;
}

const cli_cmd cmd_alerts = {"alerts", "check|list", "Evaluate alert rules; their history.", run};
