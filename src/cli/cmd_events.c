/*
 * cmd_events.c — `tokmeter events`: the raw stored events, newest first, as
 * a table or as JSON (an array of event objects with every field).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/event.h"
#include "../core/text.h"
#include "../core/tmtime.h"
#include "cli.h"

typedef struct out {
    int json;
    size_t n;
    tm_buf b;
} out;

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

static int print_one(void *arg, const tm_event *ev)
{
    out *o = arg;
    if (o->json) {
        tm__buf_reset(&o->b);
        if (tm__event_json(&o->b, ev) != TM_OK)
            return TM_ENOMEM;
        printf("%s\n  %s", o->n ? "," : "[", o->b.data);
    } else {
        char ts[32], cost[64], lat[48], num[5][32];
        tm__time_format(ev->ts_us - ev->ts_us % 1000000, ts);
        if (ev->cost_source == TM_COST_UNPRICED)
            snprintf(cost, sizeof cost, "unpriced");
        else
            tm__fmt_cost(ev->cost_pusd, cost);
        if (ev->has & TM_HAS_LATENCY)
            tm__dec_format_fixed(ev->latency_ns, 6, 1, lat);
        else
            snprintf(lat, sizeof lat, "-");
        tm__buf_reset(&o->b);
        if (o->n == 0)
            tm__buf_printf(&o->b, "%-20s  %-12s  %-24s  %-12s  %11s  %11s  %11s  %11s  %11s  %10s  %9s  %s\n",
                           "TIME (UTC)", "PROVIDER", "MODEL", "USER", "INPUT", "CACHE READ",
                           "CACHE WRITE", "OUTPUT", "TOTAL", "COST USD", "LAT MS", "OK");
        tm__buf_printf(&o->b, "%-20s  ", ts);
        tm__buf_cell(&o->b, or_dash(ev->provider), 12, 0);
        tm__buf_puts(&o->b, "  ");
        tm__buf_cell(&o->b, or_dash(ev->model), 24, 0);
        tm__buf_puts(&o->b, "  ");
        tm__buf_cell(&o->b, or_dash(ev->user_id), 12, 0);
        tm__buf_printf(&o->b, "  %11s  %11s  %11s  %11s  %11s  %10s  %9s  %s\n",
                       tm__fmt_count(ev->input_tokens, num[0]), tm__fmt_count(ev->cache_read_tokens, num[1]),
                       tm__fmt_count(ev->cache_write_tokens, num[2]), tm__fmt_count(ev->output_tokens, num[3]),
                       tm__fmt_count(ev->total_tokens, num[4]), cost, lat, ev->success ? "yes" : "no");
        if (!o->b.data)
            return TM_ENOMEM;
        fputs(o->b.data, stdout);
    }
    o->n++;
    return 0;
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *limit = NULL, *user = NULL, *provider = NULL, *since = NULL, *until = NULL;
    int all = 0;
    const cli_opt opts[] = {
        {"limit", "N", "at most N events (default 20)", &limit, NULL, NULL, NULL},
        {"all", NULL, "every matching event (no limit)", NULL, &all, NULL, NULL},
        {"user", "USER", "only this user_id", &user, NULL, NULL, NULL},
        {"provider", "P", "only this provider", &provider, NULL, NULL, NULL},
        {"since", "TIME", "from TIME on: RFC 3339, a date, or back from now (24h, 7d)", &since, NULL},
        {"until", "TIME", "before TIME", &until, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_events, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_events, opts,
                 "Times in the table are UTC. The token columns do not overlap: INPUT + CACHE READ\n"
                 "+ CACHE WRITE + OUTPUT = TOTAL (unless the event gave only a total). --json\n"
                 "prints every field.\n");
        return EXIT_OK;
    }
    if (npos != 0) {
        if (npos > 0)
            fprintf(stderr, "tokmeter events: unexpected argument '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    tm_event_filter f = {user, provider, 0, 0, 20};
    if (limit && cli_parse_count("limit", limit, &f.limit))
        return EXIT_USAGE;
    if (all)
        f.limit = 0;
    if ((since && cli_parse_time("since", since, &f.since_us) < 0) ||
        (until && cli_parse_time("until", until, &f.until_us) < 0))
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    out o = {g->json, 0, TM_BUF_INIT};
    int rc = tm_events(t, &f, print_one, &o);
    if (g->json)
        printf(o.n ? "\n]\n" : "[]\n");
    else if (o.n == 0 && rc == TM_OK)
        fprintf(stderr, "no events match\n");
    tm__buf_free(&o.b);
    if (rc)
        cli_error("events", rc);
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_events = {"events", "", "List stored events, newest first.", run};
