/*
 * cmd_users.c — `tokmeter users set-tier USER TIER [--limits JSON]`: give a
 * user a tier of the config file, and optional limit overrides.
 */
#include <string.h>

#include "../lib/lib.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *limits = NULL;
    const cli_opt opts[] = {
        {"limits", "JSON", "overrides: {\"cost_usd\": \"80\"} (see docs/quotas.md)", &limits, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_users, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_users, opts,
                 "subcommands:\n  set-tier USER TIER [--limits JSON]   the tier must be in the config file\n");
        return EXIT_OK;
    }
    if (npos != 3 || strcmp(argv[0], "set-tier") != 0) {
        fprintf(stderr, "tokmeter users: use 'users set-tier USER TIER' (see tokmeter users --help)\n");
        return EXIT_USAGE;
    }
    char ov[4200];
    if (limits)
        snprintf(ov, sizeof ov, "{\"limits\": %s}", limits);
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = tm__user_set(tm__pctx(t), argv[1], argv[2], limits ? ov : NULL);
    if (rc)
        cli_error("users set-tier", rc);
    else
        printf("%s is on tier %s%s\n", argv[1], argv[2], limits ? " (with overrides)" : "");
    tm_close(t);
    return rc == TM_EINVAL ? EXIT_USAGE : rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_users = {"users", "set-tier USER TIER", "Put a user on a tier.", run};
