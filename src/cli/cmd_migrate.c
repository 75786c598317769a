/*
 * cmd_migrate.c — `tokmeter migrate`: brings the store's schema up to this
 * tokmeter's (every open does the same; for PostgreSQL under an advisory
 * lock, so daemons starting together do not race), and says whether it
 * created the store or found it.
 */
#include <string.h>

#include "../core/buf.h"
#include "../core/json.h"
#include "../store/store.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const cli_opt opts[] = {{NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_migrate, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_migrate, opts,
                 "Creates the store's tables, or migrates them forward, and exits. A store\n"
                 "written by a newer tokmeter is refused (exit status 1).\n"
                 "Prints 'store STORE: created' or 'store STORE: schema up to date';\n"
                 "with --json {\"store\": STORE, \"created\": true|false}.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    /* Whether there was a store before (opening creates one). */
    int existed = 1;
    if (tm__store_exists(cli_db_path(g), &existed) != TM_OK)
        existed = 1; /* the open below says why */
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = tm_close(t);
    if (rc) {
        cli_error("migrate", rc);
        return EXIT_FAIL;
    }
    if (g->json) {
        tm_buf b = TM_BUF_INIT;
        tm__buf_puts(&b, "{\"store\": ");
        tm__json_str(&b, cli_db_shown(g), strlen(cli_db_shown(g)));
        tm__buf_printf(&b, ", \"created\": %s}\n", existed ? "false" : "true");
        fputs(b.data ? b.data : "", stdout);
        tm__buf_free(&b);
    } else {
        printf("store %s: %s\n", cli_db_shown(g), existed ? "schema up to date" : "created");
    }
    return EXIT_OK;
}

const cli_cmd cmd_migrate = {"migrate", "", "Create or migrate the store's schema.", run};
