/*
 * cmd_quota.c — `tokmeter quota USER`: the user's limits, use and what
 * remains this period, and when it resets (the seed's getRemainingQuota).
 */
#include <string.h>

#include "../core/buf.h"
#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const cli_opt opts[] = {{NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_quota, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_quota, opts, "Tiers come from the config file (--config or $TOKMETER_CONFIG).\n");
        return EXIT_OK;
    }
    if (npos != 1) {
        fprintf(stderr, "tokmeter quota: give one USER\n");
        return EXIT_USAGE;
    }
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    tm_quota q;
    int rc = tm__quota_get(tm__pctx(t), argv[0], tm__now_us(), &q);
    if (rc) {
        cli_error("quota", rc);
    } else if (g->json) {
        tm_buf b = TM_BUF_INIT;
        tm__quota_json(&b, argv[0], &q, NULL);
        printf("%s\n", b.data ? b.data : "");
        tm__buf_free(&b);
    } else {
        char start[32], reset[32];
        tm__time_format(q.start, start);
        tm__time_format(q.reset, reset);
        printf("%s: tier %s, period %s to %s (resets then)\n", argv[0],
               q.tier.name[0] ? q.tier.name : "none", start, reset);
        printf("%-28s %16s %16s %16s\n", "LIMIT", "LIMIT", "USED", "REMAINING");
        for (int i = 0; i < q.tier.nlimits; i++) {
            const tm_limit *l = &q.tier.limits[i];
            tm_i128 rem = l->limit - q.used[i];
            char lt[48], ut[48], rt[48];
            tm__limit_text(l, l->limit, lt);
            tm__limit_text(l, q.used[i], ut);
            tm__limit_text(l, rem < 0 ? 0 : rem, rt);
            printf("%-28s %16s %16s %16s%s\n", l->name, lt, ut, rt, l->soft ? "  (soft)" : "");
        }
        if (!q.tier.nlimits)
            printf("(no limits: the user has no tier, and there is no default_tier)\n");
    }
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_quota = {"quota", "USER", "A user's limits, use and reset date.", run};
