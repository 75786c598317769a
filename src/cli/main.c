/*
 * main.c — the tokmeter command: global options, then one of the commands
 * (each in its own cmd_<name>.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_cmd *const commands[] = {
    &cmd_serve, &cmd_track, &cmd_ingest, &cmd_import, &cmd_events, &cmd_report, &cmd_graph, &cmd_export, &cmd_usage, &cmd_prices,
    &cmd_reprice, &cmd_users, &cmd_quota, &cmd_alerts, &cmd_keys, &cmd_sources, &cmd_collect,
    &cmd_reconcile, &cmd_verify, &cmd_migrate, &cmd_copy,
    &cmd_retention,
};
#define NCMD (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "tokmeter " TM_VERSION " — usage and cost tracking for LLM APIs\n\n"
            "usage: tokmeter [--db PATH | --store URL] COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCMD; i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nglobal options:\n"
               "  --db PATH    the store (default: the config file's \"store\" or\n"
               "               \"db\", else $TOKMETER_STORE, $TOKMETER_DB, else\n"
               "               $XDG_DATA_HOME/tokmeter/tokmeter.db, else\n"
               "               ~/.local/share/tokmeter/tokmeter.db)\n"
               "  --store URL  the store as a URL: postgres://USER@HOST:PORT/DB\n"
               "               (PostgreSQL; ?schema=NAME picks a schema) or\n"
               "               sqlite:PATH (default $TOKMETER_STORE)\n"
               "  --prices FILE  a price file used before the built-in prices\n"
               "               (default $TOKMETER_PRICES)\n"
               "  --version    print the version\n"
               "  -h, --help   this help; `tokmeter COMMAND --help` for a command\n\n"
               "exit status: 0 ok, 1 failure (store, file), 2 input rejected, 64 usage error\n");
}

int main(int argc, char **argv)
{
    cli_global g = {0};
    int i = 1;
    /* Global options may come before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tokmeter %s\n", TM_VERSION);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            g.db = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            g.db = argv[i] + 5;
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            g.store = argv[++i];
        } else if (strncmp(argv[i], "--store=", 8) == 0) {
            g.store = argv[i] + 8;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            g.config = argv[++i];
        } else if (strcmp(argv[i], "--prices") == 0 && i + 1 < argc) {
            g.prices = argv[++i];
        } else if (strncmp(argv[i], "--prices=", 9) == 0) {
            g.prices = argv[i] + 9;
        } else {
            fprintf(stderr, "tokmeter: unknown option %s\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t c = 0; c < NCMD; c++)
        if (strcmp(argv[i], commands[c]->name) == 0) {
            cli_set_command(commands[c]->name);
            return commands[c]->run(&g, argc - i - 1, argv + i + 1);
        }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    const char *names[NCMD + 2];
    for (size_t c = 0; c < NCMD; c++)
        names[c] = commands[c]->name;
    names[NCMD] = "help";
    names[NCMD + 1] = NULL;
    const char *near = cli_nearest(argv[i], names);
    if (near)
        fprintf(stderr, "tokmeter: unknown command '%s'; did you mean '%s'? (see tokmeter --help)\n",
                argv[i], near);
    else
        fprintf(stderr, "tokmeter: unknown command '%s' (see tokmeter --help)\n", argv[i]);
    return EXIT_USAGE;
}
