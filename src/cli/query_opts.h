/*
 * query_opts.h — the report question as command-line options, shared by
 * `tokmeter report` and `tokmeter graph` so both ask it the same way:
 * --from --to --interval --group-by --where --tz.
 */
#ifndef TM_CLI_QUERY_OPTS_H
#define TM_CLI_QUERY_OPTS_H

#include "../query/query.h"
#include "cli.h"

typedef struct cli_query {
    const char *from, *to, *interval, *group_by, *tz;
    const char *where[CLI_LIST_MAX];
    size_t nwhere;
} cli_query;

#define CLI_QUERY_NOPTS 6

/* Writes the CLI_QUERY_NOPTS option rows that fill cq at opts[0..]. */
void cli_query_opts(cli_query *cq, cli_opt *opts);

/* Sets cq's answers on q (initialised by the caller): "7d"-style spans are
 * turned into times back from now; the zone defaults to the local one.
 * Returns TM_EINVAL on a bad value, with "key: reason" in tm_errmsg(), or
 * 1 (not a tm_err) after printing why --from or --to is not a time. */
int cli_query_spec(const cli_query *cq, tm_query_spec *q);

#endif
