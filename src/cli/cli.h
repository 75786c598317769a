/*
 * cli.h — what the command files share: option parsing, the store path,
 * output helpers and the exit-code vocabulary. The commands use only the
 * public API (tokmeter.h) plus the core helpers named here.
 */
#ifndef TM_CLI_H
#define TM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "tokmeter.h"

/* Exit codes, documented in `tokmeter --help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,      /* the store or a file could not be used          */
    EXIT_REJECTED = 2,  /* input was rejected (some or all of it)          */
    EXIT_USAGE = 64,    /* the command line was wrong                      */
};

/* One option of a command. Exactly one of val / flag is set. */
typedef struct cli_opt {
    const char *name;       /* "limit" for --limit                         */
    const char *arg;        /* metavariable ("N"), NULL for a flag         */
    const char *help;
    const char **val;       /* receives the argument                        */
    int *flag;              /* set to 1 when given                          */
    const char **list;      /* or: a repeatable option's arguments          */
    size_t *nlist;          /* their count (at most CLI_LIST_MAX)           */
} cli_opt;

#define CLI_LIST_MAX 16

/* Options every command takes. */
typedef struct cli_global {
    const char *db;         /* --db PATH                                   */
    const char *store;      /* --store URL (postgres://..., sqlite:PATH)    */
    const char *prices;     /* --prices FILE                               */
    const char *config;     /* --config FILE (tiers and rate limits)        */
    int json;               /* --json                                      */
    int help;               /* --help / -h                                 */
} cli_global;

typedef struct cli_cmd {
    const char *name;
    const char *args;       /* "[FILE|-]" for the usage line               */
    const char *summary;
    int (*run)(cli_global *g, int argc, char **argv);
} cli_cmd;

/* Parses argv (after the command name) against opts plus --db, --json and
 * --help. Positional arguments are moved to the front of argv; their count
 * is returned, or -1 after printing a usage error. */
int cli_parse(const cli_cmd *cmd, const cli_opt *opts, cli_global *g, int argc, char **argv);

/* Prints a command's --help from its option table. */
void cli_help(const cli_cmd *cmd, const cli_opt *opts, const char *extra);

/* The store: --store, else --db, else the config file's "store" or "db",
 * else $TOKMETER_STORE, else $TOKMETER_DB,
 * else $XDG_DATA_HOME/tokmeter/tokmeter.db, else
 * ~/.local/share/tokmeter/tokmeter.db. */
const char *cli_db_path(const cli_global *g);
/* The same, to show: a PostgreSQL URL's password as "***". */
const char *cli_db_shown(const cli_global *g);

/* Opens the store (with the price file of --prices or $TOKMETER_PRICES) or
 * prints why not; returns NULL on failure. */
tm *cli_open(const cli_global *g);

/* The config file: --config, else $TOKMETER_CONFIG, else
 * ${XDG_CONFIG_HOME:-~/.config}/tokmeter/config.json when it exists, else
 * NULL. cli_config_target is the same but never NULL (where `sources add`
 * writes). */
const char *cli_config_path(const cli_global *g);
const char *cli_config_target(const cli_global *g);

/* 0 when path is NULL or readable; else prints "tokmeter CMD: cannot read
 * the WHAT PATH: reason" and returns -1. */
int cli_readable(const char *what, const char *path);

/* The price file: --prices, else $TOKMETER_PRICES, else NULL. */
const char *cli_prices_path(const cli_global *g);

/* One flag per event field (--input-tokens, --prompt-tokens, ...), made
 * from the event's field table so the CLI never drifts from the API. */
struct tm_event_builder;
typedef struct cli_fields cli_fields;
cli_fields *cli_fields_new(void);   /* NULL when out of memory */
const cli_opt *cli_fields_opts(cli_fields *f);
/* Sets every given flag on b; prints "tokmeter CMD: field: reason" and
 * returns TM_EINVAL on a bad value. */
int cli_fields_apply(cli_fields *f, struct tm_event_builder *b, const char *cmd);
void cli_fields_free(cli_fields *f);

/* Errors are printed as "tokmeter CMD: message" (main's own as "tokmeter:
 * message"). main names the command before running it. */
void cli_set_command(const char *name);

/* Prints "tokmeter <what>: <tm_errmsg or strerror>" to stderr; what is the
 * command ("keys", "prices cost"). */
void cli_error(const char *what, int err);

/* Parses the time of option --opt: RFC 3339, a date, epoch ms, or a span
 * back from now ("24h", "7d", "30m", "2w"). Returns 0, 1 for a span, or -1
 * after printing why not (one message for every command). */
int cli_parse_time(const char *opt, const char *s, int64_t *us);

/* The name of names (NULL-terminated) nearest to s, at most two edits
 * away (a swap of neighbours is one), or NULL. */
const char *cli_nearest(const char *s, const char *const *names);

/* Says that subcommand sub is unknown (listing subs, NULL-terminated, and
 * the nearest) or was given the wrong arguments; returns EXIT_USAGE. */
int cli_bad_sub(const char *sub, const char *const *subs);

/* v with thousands separators ("15,420"), in buf. */
const char *cli_count(int64_t v, char buf[32]);

/* Parses a non-negative integer option, or prints why not and returns -1. */
int cli_parse_count(const char *opt, const char *s, size_t *out);

extern const cli_cmd cmd_track, cmd_ingest, cmd_events, cmd_verify, cmd_serve, cmd_prices,
    cmd_reprice, cmd_report, cmd_usage, cmd_keys, cmd_users, cmd_quota, cmd_alerts, cmd_import,
    cmd_sources, cmd_collect, cmd_reconcile, cmd_export, cmd_graph, cmd_migrate, cmd_copy,
    cmd_retention;

#endif
