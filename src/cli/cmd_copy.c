/*
 * cmd_copy.c — `tokmeter copy --from STORE --to STORE`: moves a whole store
 * between backends (SQLite to PostgreSQL and back), exactly.
 */
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    const cli_opt opts[] = {
        {"from", "STORE", "the store to copy: sqlite:PATH, a path, or postgres://...", &from},
        {"to", "STORE", "the new store to copy into (created; must be empty)", &to},
        {NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_copy, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_copy, opts,
                 "Copies every event (ids, times, tokens and costs unchanged), API key, user\n"
                 "and alert transition, so `tokmeter report` totals the same on both. Stop\n"
                 "the daemons writing to --from first. A --from that does not exist or holds\n"
                 "nothing is refused (exit status 64), as is a --to that holds anything.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    if (!from || !to) {
        fprintf(stderr, "tokmeter copy: --from and --to are both required\n");
        return EXIT_USAGE;
    }
    tm_copy_result r;
    int rc = tm_store_copy(from, to, &r);
    if (rc) {
        cli_error("copy", rc);
        return rc == TM_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    if (g->json)
        printf("{\"events\":%lld,\"keys\":%lld,\"users\":%lld,\"alerts\":%lld}\n", (long long)r.events,
               (long long)r.keys, (long long)r.users, (long long)r.alerts);
    else
        printf("copied %lld events, %lld keys, %lld users, %lld alert transitions\n",
               (long long)r.events, (long long)r.keys, (long long)r.users, (long long)r.alerts);
    return EXIT_OK;
}

const cli_cmd cmd_copy = {"copy", "", "Copy a whole store into a new one (SQLite <-> PostgreSQL).", run};
