/*
 * cmd_reprice.c — `tokmeter reprice`: recompute stored costs after the
 * price catalog changed (reported costs are kept).
 */
#include "../core/tmtime.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *since = NULL, *until = NULL;
    const cli_opt opts[] = {
        {"since", "TIME", "only events from TIME on (RFC 3339, a date, or 7d)", &since, NULL},
        {"until", "TIME", "only events before TIME", &until, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_reprice, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_reprice, opts,
                 "Costs are computed once, when an event is stored. After prices change (a new\n"
                 "tokmeter, or a --prices file), reprice brings stored costs up to date.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    int64_t s = 0, u = 0;
    if ((since && cli_parse_time("since", since, &s) < 0) || (until && cli_parse_time("until", until, &u) < 0))
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    tm_reprice_result r;
    int rc = tm_reprice(t, s, u, &r);
    if (rc)
        cli_error("reprice", rc);
    else if (g->json)
        printf("{\"examined\": %lld, \"changed\": %lld, \"delta_usd\": %s}\n",
               (long long)r.examined, (long long)r.changed, r.delta_usd);
    else
        printf("repriced %lld events: %lld changed, total cost %s%s USD\n", (long long)r.examined,
               (long long)r.changed, r.delta_usd[0] == '-' ? "" : "+", r.delta_usd);
    int crc = tm_close(t);
    return rc || crc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_reprice = {"reprice", "", "Recompute stored costs from the current prices.", run};
