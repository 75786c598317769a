/*
 * cmd_events.c — `tokmeter events`: the raw stored events, newest first, as
 * a table, as JSON (an array of event objects with every field) or as CSV
 * (the same fields, one column each).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/csv.h"
#include "../core/dec.h"
#include "../core/event.h"
#include "../core/text.h"
#include "../core/tmtime.h"
#include "cli.h"

typedef struct out {
    int json, csv;
    size_t n;
    tm_buf b;
} out;

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

/* One event as a CSV record, the fields of tm__event_json in its order. */
static int csv_event(tm_buf *b, const tm_event *ev)
{
    char ts[32], value[48], lat[48] = "", status[16] = "", cost[48];
    const char *texts[] = {ev->provider, ev->model, ev->endpoint, ev->operation, ev->user_id,
                           ev->session_id, ev->project, ev->metric_type};
    const int64_t tokens[] = {ev->input_tokens, ev->output_tokens, ev->cache_read_tokens,
                              ev->cache_write_tokens, ev->cache_write_1h_tokens,
                              ev->reasoning_tokens, ev->total_tokens};
    tm__time_format(ev->ts_us, ts);
    tm__dec_format(ev->value_nano, 9, value);
    tm__dec_format(ev->cost_pusd, 12, cost);
    if (ev->has & TM_HAS_LATENCY)
        tm__dec_format(ev->latency_ns, 6, lat);
    if (ev->has & TM_HAS_STATUS)
        snprintf(status, sizeof status, "%d", ev->status_code);
    int rc = tm__csv_text(b, ev->id, 1);
    if (rc == TM_OK) rc = tm__csv_num(b, ts, 0);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && rc == TM_OK; i++)
        rc = tm__csv_text(b, texts[i], 0);
    if (rc == TM_OK) rc = tm__csv_num(b, value, 0);
    if (rc == TM_OK) rc = tm__csv_text(b, ev->resource_type, 0);
    if (rc == TM_OK) rc = tm__csv_text(b, ev->resource_id, 0);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0] && rc == TM_OK; i++)
        rc = tm__buf_printf(b, ",%lld", (long long)tokens[i]);
    if (rc == TM_OK) rc = tm__csv_num(b, lat, 0);
    if (rc == TM_OK) rc = tm__csv_num(b, ev->success ? "true" : "false", 0);
    if (rc == TM_OK) rc = tm__csv_num(b, status, 0);
    if (rc == TM_OK) rc = tm__csv_text(b, ev->error, 0);
    if (rc == TM_OK) rc = tm__csv_num(b, ev->cache_hit ? "true" : "false", 0);
    if (rc == TM_OK) rc = tm__csv_num(b, cost, 0);
    if (rc == TM_OK) rc = tm__csv_num(b, tm__cost_source_name(ev->cost_source), 0);
    if (rc == TM_OK) rc = tm__csv_text(b, ev->metadata, 0);
    return rc == TM_OK ? tm__csv_end(b) : rc;
}

static int print_one(void *arg, const tm_event *ev)
{
    out *o = arg;
    if (o->csv) {
        tm__buf_reset(&o->b);
        if (csv_event(&o->b, ev) != TM_OK)
            return TM_ENOMEM;
        fwrite(o->b.data, 1, o->b.len, stdout);
    } else if (o->json) {
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
    int all = 0, csv = 0;
    const cli_opt opts[] = {
        {"limit", "N", "at most N events (default 20)", &limit, NULL, NULL, NULL},
        {"all", NULL, "every matching event (no limit)", NULL, &all, NULL, NULL},
        {"user", "USER", "only this user_id", &user, NULL, NULL, NULL},
        {"provider", "P", "only this provider", &provider, NULL, NULL, NULL},
        {"since", "TIME", "from TIME on: RFC 3339, a date, or back from now (24h, 7d)", &since, NULL},
        {"until", "TIME", "before TIME", &until, NULL, NULL, NULL},
        {"csv", NULL, "CSV (RFC 4180) with every field, one column each", NULL, &csv, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_events, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_events, opts,
                 "Times in the table are UTC. The token columns do not overlap: INPUT + CACHE READ\n"
                 "+ CACHE WRITE + OUTPUT = TOTAL (unless the event gave only a total). --json and\n"
                 "--csv print every field (CSV values starting with = + - @ get a leading ' so\n"
                 "spreadsheets show them as text).\n");
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
    out o = {g->json, csv && !g->json, 0, TM_BUF_INIT};
    if (o.csv) /* the header even when no event matches */
        fputs("id,timestamp,provider,model,endpoint,operation,user_id,session_id,project,"
              "metric_type,value,resource_type,resource_id,input_tokens,output_tokens,"
              "cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,reasoning_tokens,"
              "total_tokens,latency_ms,success,status_code,error,cache_hit,cost_usd,cost_source,"
              "metadata\r\n", stdout);
    int rc = tm_events(t, &f, print_one, &o);
    if (g->json)
        printf(o.n ? "\n]\n" : "[]\n");
    else if (o.n == 0 && rc == TM_OK && !o.csv)
        fprintf(stderr, "no events match\n");
    tm__buf_free(&o.b);
    if (rc)
        cli_error("events", rc);
    tm_close(t);
    return rc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_events = {"events", "", "List stored events, newest first.", run};
