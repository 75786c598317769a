/*
 * cmd_retention.c — `tokmeter retention --keep 13mo`: removes the events
 * (and their rollup cells) older than the current UTC month and the N
 * months before it; on PostgreSQL whole month partitions are dropped.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *keep = NULL;
    const cli_opt opts[] = {
        {"keep", "Nmo", "keep the current month and the N months before it (1 to 1200)", &keep},
        {NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_retention, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_retention, opts,
                 "Removes every event before the first day (UTC) of the month N months\n"
                 "before this one, with its rollup cells; reports then total what is left.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    char *end = NULL;
    long n = keep ? strtol(keep, &end, 10) : 0;
    if (!keep || end == keep || strcmp(end, "mo") != 0 || n < 1 || n > 1200) {
        fprintf(stderr, "tokmeter retention: --keep must be a number of months from 1 to 1200 with"
                        " \"mo\" after it (e.g. 13mo), not %s\n", keep ? keep : "missing");
        return EXIT_USAGE;
    }
    time_t now = time(NULL);
    struct tm u;
    gmtime_r(&now, &u);
    int m = (u.tm_year + 1900) * 12 + u.tm_mon - (int)n;
    struct tm cut = {.tm_year = m / 12 - 1900, .tm_mon = m % 12, .tm_mday = 1};
    int64_t before = (int64_t)timegm(&cut) * 1000000;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int64_t deleted = 0;
    int rc = tm_retain(t, before, &deleted);
    if (rc)
        cli_error("retention", rc);
    else if (g->json)
        printf("{\"deleted\":%lld,\"before\":\"%04d-%02d-01\"}\n", (long long)deleted, m / 12, m % 12 + 1);
    else
        printf("removed %lld events before %04d-%02d-01\n", (long long)deleted, m / 12, m % 12 + 1);
    int crc = tm_close(t);
    return rc || crc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_retention = {"retention", "", "Remove events older than N months.", run};
