/*
 * cmd_migrate.c — `tokmeter migrate`: brings the store's schema up to this
 * tokmeter's (every open does the same; for PostgreSQL under an advisory
 * lock, so daemons starting together do not race).
 */
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const cli_opt opts[] = {{NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_migrate, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_migrate, opts,
                 "Creates the store's tables, or migrates them forward, and exits. A store\n"
                 "written by a newer tokmeter is refused (exit status 1).\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = tm_close(t);
    if (rc) {
        cli_error("migrate", rc);
        return EXIT_FAIL;
    }
    printf("store %s: schema up to date\n", cli_db_shown(g));
    return EXIT_OK;
}

const cli_cmd cmd_migrate = {"migrate", "", "Create or migrate the store's schema.", run};
