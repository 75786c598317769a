/*
 * cmd_reconcile.c — `tokmeter reconcile --source NAME [--month YYYY-MM]`:
 * tokmeter's computed cost of a provider source's collected usage, per UTC
 * day and model, next to the cost the provider reports, with the drift in
 * dollars and percent. The seed guide wants the two within 1%.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/event.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../ingest/ingest.h"
#include "cli.h"

#define US_PER_DAY (86400LL * 1000000)

typedef struct cell {
    int64_t day;
    char model[129];
    tm_i128 ours, theirs;
} cell;

typedef struct table {
    cell *c;
    size_t n, cap;
    const char *source;
} table;

static cell *find(table *t, int64_t day, const char *model)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->c[i].day == day && strcmp(t->c[i].model, model) == 0)
            return &t->c[i];
    cell *p = tm__grow(t->c, t->n, &t->cap, sizeof *p, 64);
    if (!p)
        return NULL;
    t->c = p;
    memset(&t->c[t->n], 0, sizeof *t->c);
    t->c[t->n].day = day;
    snprintf(t->c[t->n].model, sizeof t->c[t->n].model, "%s", *model ? model : "(other)");
    return &t->c[t->n++];
}

static int ours(void *arg, const tm_event *ev)
{
    table *t = arg;
    if (!tm__event_is_bucket(ev) || !ev->resource_id || strcmp(ev->resource_id, t->source) != 0)
        return 0;
    cell *c = find(t, ev->ts_us - ev->ts_us % US_PER_DAY, ev->model ? ev->model : "");
    if (!c)
        return TM_ENOMEM;
    c->ours += ev->cost_pusd;
    return 0;
}

static int theirs(void *arg, int64_t day, const char *model, tm_i128 cost)
{
    cell *c = find(arg, day, model);
    if (!c)
        return TM_ENOMEM;
    c->theirs += cost;
    return TM_OK;
}

static int by_day_model(const void *a, const void *b)
{
    const cell *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return strcmp(x->model, y->model);
}

/* Drift in percent of the provider's figure, as text: "+1.25%" for
 * people, "1.25" for JSON; "n/a" / null when the provider's figure is 0. */
static void pct(tm_i128 drift, tm_i128 base, int json, char out[32])
{
    if (base == 0)
        snprintf(out, 32, "%s", json ? "null" : drift ? "n/a" : "0.00%");
    else
        snprintf(out, 32, json ? "%.2f" : "%+.2f%%", (double)drift * 100.0 / (double)base);
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *name = NULL, *month = NULL;
    const cli_opt opts[] = {
        {"source", "NAME", "an openai-usage or anthropic-usage source (required)", &name, NULL, NULL, NULL},
        {"month", "YYYY-MM", "the month to compare (UTC; default the current one)", &month, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_reconcile, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_reconcile, opts,
                 "Run `tokmeter collect` first: the left column is tokmeter's price of the usage\n"
                 "collected from the source, the right the provider's cost report for the same\n"
                 "days. Drift = tokmeter - provider. Example:\n"
                 "  tokmeter reconcile --source openai --month 2026-10\n");
        return EXIT_OK;
    }
    if (npos != 0 || !name) {
        if (npos > 0)
            fprintf(stderr, "tokmeter reconcile: unexpected argument '%s'\n", argv[0]);
        else if (!name)
            fprintf(stderr, "tokmeter reconcile: --source NAME is required (see `tokmeter sources list`)\n");
        return EXIT_USAGE;
    }
    int64_t from, to, now = tm__now_us();
    char mtext[16];
    if (month) {
        const char *why;
        char day1[16];
        snprintf(day1, sizeof day1, "%.7s-01", month);
        if (strlen(month) != 7 || month[4] != '-' || tm__time_parse(day1, 10, &from, &why) != 0) {
            fprintf(stderr, "tokmeter reconcile: --month: must be YYYY-MM, not '%s'\n", month);
            return EXIT_USAGE;
        }
        snprintf(mtext, sizeof mtext, "%s", month);
    } else {
        char buf[40];
        tm__time_format(now, buf);
        snprintf(mtext, sizeof mtext, "%.7s", buf);
        char day1[16];
        const char *why;
        snprintf(day1, sizeof day1, "%.7s-01", buf);
        tm__time_parse(day1, 10, &from, &why);
    }
    { /* the first of the next month */
        int y = atoi(mtext), m = atoi(mtext + 5);
        char next[32];
        const char *why;
        snprintf(next, sizeof next, "%04d-%02d-01", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
        tm__time_parse(next, 10, &to, &why);
    }
    tm_source *src = NULL, *s = NULL;
    size_t n = 0;
    const char *config = cli_config_target(g);
    int rc = tm__sources_load(config, &src, &n);
    for (size_t i = 0; rc == TM_OK && i < n; i++)
        if (strcmp(src[i].name, name) == 0)
            s = &src[i];
    if (rc) {
        cli_error("reconcile", rc);
        free(src);
        return EXIT_FAIL;
    }
    if (!s || (s->type != TM_SRC_OPENAI && s->type != TM_SRC_ANTHROPIC)) {
        fprintf(stderr, "tokmeter reconcile: %s '%s' in %s (reconcile needs an openai-usage or anthropic-usage source)\n",
                s ? "not a provider source:" : "no source named", name, config);
        free(src);
        return EXIT_USAGE;
    }
    table t = {NULL, 0, 0, name};
    tm *h = cli_open(g);
    if (!h) {
        free(src);
        return EXIT_FAIL;
    }
    tm_event_filter f = {.since_us = from, .until_us = to};
    tm_collect_opts o = {.log = NULL};
    rc = tm_events(h, &f, ours, &t);
    if (rc == TM_OK)
        rc = tm__provider_costs(s, &o, from, to, theirs, &t);
    tm_close(h);
    if (rc) {
        cli_error("reconcile", rc);
        free(t.c);
        free(src);
        return EXIT_FAIL;
    }
    qsort(t.c, t.n, sizeof *t.c, by_day_model);
    tm_i128 a = 0, b = 0;
    tm_buf out = TM_BUF_INIT;
    if (g->json)
        tm__buf_printf(&out, "{\"source\":\"%s\",\"month\":\"%s\",\"rows\":[", name, mtext);
    else
        tm__buf_printf(&out, "%-10s  %-32s %14s %14s %12s %9s\n", "DAY", "MODEL", "TOKMETER USD",
                       "PROVIDER USD", "DRIFT USD", "DRIFT %");
    for (size_t i = 0; i < t.n; i++) {
        cell *c = &t.c[i];
        char day[40], x[64], y[64], d[64], p[32];
        tm__time_format(c->day, day);
        a += c->ours;
        b += c->theirs;
        pct(c->ours - c->theirs, c->theirs, g->json, p);
        if (g->json) {
            tm__dec_format(c->ours, 12, x);
            tm__dec_format(c->theirs, 12, y);
            tm__dec_format(c->ours - c->theirs, 12, d);
            tm__buf_printf(&out, "%s{\"day\":\"%.10s\",\"model\":", i ? "," : "", day);
            tm__json_str(&out, c->model, strlen(c->model));
            tm__buf_printf(&out, ",\"tokmeter_usd\":%s,\"provider_usd\":%s,\"drift_usd\":%s,\"drift_pct\":%s}",
                           x, y, d, p);
        } else {
            tm__dec_format_fixed(c->ours, 12, 4, x);
            tm__dec_format_fixed(c->theirs, 12, 4, y);
            tm__dec_format_fixed(c->ours - c->theirs, 12, 4, d);
            tm__buf_printf(&out, "%.10s  %-32s %14s %14s %12s %9s\n", day, c->model, x, y, d, p);
        }
    }
    char x[64], y[64], d[64], p[32];
    pct(a - b, b, g->json, p);
    int within = b ? (a - b < 0 ? b - a : a - b) * 100 <= b : a == 0;
    if (g->json) {
        tm__dec_format(a, 12, x);
        tm__dec_format(b, 12, y);
        tm__dec_format(a - b, 12, d);
        tm__buf_printf(&out, "],\"tokmeter_usd\":%s,\"provider_usd\":%s,\"drift_usd\":%s,\"drift_pct\":%s,"
                             "\"within_1pct\":%s}\n", x, y, d, p, within ? "true" : "false");
    } else {
        tm__dec_format_fixed(a, 12, 4, x);
        tm__dec_format_fixed(b, 12, 4, y);
        tm__dec_format_fixed(a - b, 12, 4, d);
        tm__buf_printf(&out, "%-10s  %-32s %14s %14s %12s %9s\n", "TOTAL", "", x, y, d, p);
        tm__buf_printf(&out, "%s %s: drift %s (%s): %s\n", name, mtext, d, p,
                       within ? "within 1% of the provider's bill"
                              : "more than 1% off the provider's bill: check the price catalog "
                                "(tokmeter prices show MODEL) and that every day was collected");
    }
    if (out.data)
        fputs(out.data, stdout);
    tm__buf_free(&out);
    free(t.c);
    free(src);
    return EXIT_OK;
}

const cli_cmd cmd_reconcile = {"reconcile", "--source NAME [--month YYYY-MM]",
                               "Compare tokmeter's cost of a provider source with the provider's bill.",
                               run};
