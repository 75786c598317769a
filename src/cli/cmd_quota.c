/*
 * cmd_quota.c — `tokmeter quota USER`: the user's limits, use and what
 * remains this period, and when it resets (the seed's getRemainingQuota).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/json.h"
#include "../lib/lib.h"
#include "../store/store.h"
#include "cli.h"

/* Why a user has no limits: no tier, or a tier (set with `users set-tier`)
 * that no loaded config defines. */
static void no_limits(const cli_global *g, const char *user, const char *name)
{
    const char *config = cli_config_path(g);
    if (name[0]) {
        if (config)
            printf("(no limits: %s is on tier '%s', which the config %s does not define)\n", user,
                   name, config);
        else
            printf("(no limits: %s is on tier '%s', which is not in any loaded config: none was\n"
                   " given and none is at %s; use --config FILE or $TOKMETER_CONFIG)\n",
                   user, name, cli_config_target(g));
    } else {
        printf("(no limits: the user has no tier, and %s)\n",
               config ? "the config has no default_tier" : "no config was loaded");
    }
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
    tm_buf b = TM_BUF_INIT;
    int rc = tm__quota_json(t, argv[0], &b);
    if (rc) {
        cli_error("quota", rc);
    } else if (g->json) {
        printf("%s\n", b.data);
    } else {
        tm_arena a = TM_ARENA_INIT;
        tm_jv *v = NULL;
        char err[200];
        tm__json_parse(&a, b.data, b.len, &v, err, sizeof err);
        const tm_jv *tier = tm__json_get(v, "tier"), *lim = tm__json_get(v, "limits");
        char stored[80] = "";
        char *ov = NULL;
        tm_store *s = tm__store(t);
        if (tier->type != TM_J_STRING && s->ops->user_get(s, argv[0], stored, sizeof stored, &ov))
            stored[0] = '\0';
        free(ov);
        printf("%s: tier %s%s, period %s to %s (resets then)\n", argv[0],
               tier->type == TM_J_STRING ? tier->s : stored[0] ? stored : "none",
               stored[0] ? " (not defined)" : "", tm__json_get(v, "period_start")->s,
               tm__json_get(v, "reset_at")->s);
        printf("%-28s %16s %16s %16s\n", "LIMIT", "LIMIT", "USED", "REMAINING");
        for (size_t i = 0; i < lim->n; i++)
            printf("%-28s %16s %16s %16s%s\n", lim->keys[i], tm__json_get(lim->vals[i], "limit")->s,
                   tm__json_get(lim->vals[i], "used")->s, tm__json_get(lim->vals[i], "remaining")->s,
                   tm__json_get(lim->vals[i], "soft") ? "  (soft)" : "");
        if (!lim->n)
            no_limits(g, argv[0], stored);
        tm__arena_free(&a);
    }
    tm__buf_free(&b);
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_quota = {"quota", "USER", "A user's limits, use and reset date.", run};
