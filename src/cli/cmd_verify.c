/*
 * cmd_verify.c — `tokmeter verify`: integrity of the store (SQLite's own
 * check, ids stored once, counters equal to rows, token arithmetic).
 */
#include "cli.h"

static void line(void *arg, const char *s)
{
    (void)arg;
    printf("%s\n", s);
}

static int run(cli_global *g, int argc, char **argv)
{
    const cli_opt opts[] = {{NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_verify, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_verify, opts, "exit status: 0 when every check holds, 1 otherwise\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int64_t n = 0;
    int rc = tm_count(t, &n);
    if (rc == TM_OK)
        rc = tm_verify(t, line, NULL);
    if (rc == TM_OK)
        printf("store %s: %lld events, all checks passed\n", cli_db_shown(g), (long long)n);
    else
        cli_error("verify", rc);
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_verify = {"verify", "", "Check the store's integrity.", run};
