/*
 * cmd_quota.c — `tokmeter quota USER`: the user's limits, use and what
 * remains this period, and when it resets (the seed's getRemainingQuota).
 */
#include <string.h>

#include "../core/buf.h"
#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "cli.h"

/* Why a user has no limits: no tier, or a tier (set with `users set-tier`)
 * that no loaded config defines. */
static void no_limits(const cli_global *g, const char *user, const char *stored)
{
    const char *config = cli_config_path(g);
    if (stored[0] && config)
        printf("(no limits: %s is on tier '%s', which the config %s does not define)\n", user,
               stored, config);
    else if (stored[0])
        printf("(no limits: %s is on tier '%s', which is not in any loaded config: none was\n"
               " given and none is at %s; use --config FILE or $TOKMETER_CONFIG)\n",
               user, stored, cli_config_target(g));
    else
        printf("(no limits: the user has no tier, and %s)\n",
               config ? "the config has no default_tier" : "no config was loaded");
}

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
        /* The tier the user was put on, when the config does not define it. */
        const char *stored = q.tier.name[0] ? "" : q.set_tier;
        printf("%s: tier %s%s, period %s to %s (resets then)\n", argv[0],
               q.tier.name[0] ? q.tier.name : stored[0] ? stored : "none",
               stored[0] ? " (not defined)" : "", start, reset);
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
            no_limits(g, argv[0], stored);
    }
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_quota = {"quota", "USER", "A user's limits, use and reset date.", run};
