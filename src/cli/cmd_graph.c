/*
 * cmd_graph.c — `tokmeter graph`: the question of `tokmeter report` (the
 * same options, the same query engine) drawn as a chart of one metric: an
 * SVG or PNG file with -o, else sparklines in the terminal (chart.c).
 *
 * Two queries answer it: the series (with --interval, every period filled
 * so lines have no gaps) and each group's total over the range, ordered by
 * the metric; the largest groups are drawn and the rest counted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/dec.h"
#include "../core/tmtime.h"
#include "../core/tz.h"
#include "../lib/lib.h"
#include "chart.h"
#include "cli.h"
#include "query_opts.h"

/* Metrics that add up over periods and groups (so they may be stacked). */
static int additive(int m)
{
    return m != TM_M_ERROR_RATE && m != TM_M_P50 && m != TM_M_P95 && m != TM_M_P99 &&
           m != TM_M_AVG;
}

static double value_of(const tm_qrow *r, int m)
{
    char t[64];
    tm__metric_text(&r->s, &r->sk, m, t, sizeof t);
    return strcmp(t, "null") == 0 ? NAN : strtod(t, NULL);
}

/* The metric for people: thousands separators, cost to 4 decimals. */
static void human(const tm_qrow *r, int m, char *buf, size_t cap)
{
    char t[64], c[32];
    tm__metric_text(&r->s, &r->sk, m, t, sizeof t);
    if (strcmp(t, "null") == 0)
        snprintf(buf, cap, "-");
    else if (m == TM_M_COST)
        tm__dec_format_fixed(r->s.cost, 12, 4, buf), (void)cap;
    else if (m == TM_M_ERROR_RATE)
        snprintf(buf, cap, "%.2f%%", strtod(t, NULL) * 100);
    else if (m >= TM_M_P50)
        snprintf(buf, cap, "%.1f ms", strtod(t, NULL));
    else if (m == TM_M_VALUE)
        snprintf(buf, cap, "%s", t);
    else
        snprintf(buf, cap, "%s", cli_count(strtoll(t, NULL, 10), c));
}

/* t in the query's zone: "2026-11-01", or "2026-11-01 13:20" off midnight. */
static void local_time(const tm_qresult *res, int64_t t, char *buf, size_t cap)
{
    int64_t secs = t / 1000000 - (t % 1000000 < 0), y;
    int64_t L = secs + tm__tz_offset(res->tz, secs), days = L / 86400 - (L % 86400 < 0);
    int64_t sod = L - days * 86400;
    unsigned mo, d;
    tm__civil_from_days(days, &y, &mo, &d);
    if (sod)
        snprintf(buf, cap, "%04lld-%02u-%02u %02d:%02d", (long long)y, mo, d, (int)(sod / 3600),
                 (int)(sod % 3600 / 60));
    else
        snprintf(buf, cap, "%04lld-%02u-%02u", (long long)y, mo, d);
}

static int same_group(const tm_qresult *res, const tm_qrow *a, const tm_qrow *b)
{
    for (int g = 0; g < res->ngroup; g++)
        if (strcmp(a->dim[res->group[g]], b->dim[res->group[g]]) != 0)
            return 0;
    return 1;
}

static int term_cols(void)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    long n = env ? strtol(env, NULL, 10) : 0;
    return n > 20 && n < 10000 ? (int)n : 80;
}

static int parse_size(const char *opt, const char *s, int def, int *out)
{
    size_t v = (size_t)def;
    if (s && cli_parse_count(opt, s, &v))
        return -1;
    if (v < 200 || v > 8000) {
        fprintf(stderr, "tokmeter graph: --%s: must be from 200 to 8000 pixels, not %zu\n", opt, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int run(cli_global *g, int argc, char **argv)
{
    cli_query cq = {0};
    const char *metric_name = "cost_usd", *output = NULL, *style = NULL, *width = NULL,
               *height = NULL;
    int ascii = 0;
    cli_opt opts[CLI_QUERY_NOPTS + 7] = {{0}};
    cli_query_opts(&cq, opts);
    const cli_opt own[] = {
        {"metric", "METRIC", "what to draw: cost_usd (default), requests, total_tokens, latency_p95_ms, error_rate, ...", &metric_name, NULL, NULL, NULL},
        {"output", "FILE", "(or -o FILE) write FILE.svg or FILE.png instead of drawing in the terminal", &output, NULL, NULL, NULL},
        {"style", "S", "line (default) or area (stacked; additive metrics only)", &style, NULL, NULL, NULL},
        {"width", "PX", "picture width (default 960)", &width, NULL, NULL, NULL},
        {"height", "PX", "picture height (default 540)", &height, NULL, NULL, NULL},
        {"ascii", NULL, "terminal chart in plain ASCII instead of Unicode blocks", NULL, &ascii, NULL, NULL},
    };
    memcpy(opts + CLI_QUERY_NOPTS, own, sizeof own);
    for (int i = 0; i < argc; i++) /* -o is --output */
        if (strcmp(argv[i], "-o") == 0)
            argv[i] = (char *)"--output";
    int npos = cli_parse(&cmd_graph, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_graph, opts,
                 "Draws one metric of a report: lines (or stacked areas) over time with\n"
                 "--interval, a bar per group without. The largest 9 groups are drawn (20\n"
                 "bars); the rest are counted. The palette is safe for colour-blind readers.\n"
                 "Without -o the chart is drawn in the terminal: a sparkline per group on one\n"
                 "scale, with the group's total. Examples:\n"
                 "  tokmeter graph --from 7d --interval day --group-by provider\n"
                 "  tokmeter graph --from 2026-11-01 --to 2026-12-01 --interval day \\\n"
                 "      --group-by model --metric total_tokens --style area -o tokens.svg\n"
                 "  tokmeter graph --from 30d --group-by user_id -o users.png   (bars)\n");
        return EXIT_OK;
    }
    if (npos != 0) {
        if (npos > 0)
            fprintf(stderr, "tokmeter graph: unexpected argument '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    int m = -1, png = 0, W = 0, H = 0;
    for (int i = 0; i < TM_NMETRIC; i++)
        if (strcmp(metric_name, tm__metric_names[i]) == 0)
            m = i;
    if (m < 0) {
        fprintf(stderr, "tokmeter graph: --metric: unknown metric '%s' (one of", metric_name);
        for (int i = 0; i < TM_NMETRIC; i++)
            fprintf(stderr, "%s %s", i ? "," : "", tm__metric_names[i]);
        fprintf(stderr, ")\n");
        return EXIT_USAGE;
    }
    if (output) {
        size_t n = strlen(output);
        png = n > 4 && strcmp(output + n - 4, ".png") == 0;
        if (!png && !(n > 4 && strcmp(output + n - 4, ".svg") == 0)) {
            fprintf(stderr, "tokmeter graph: -o: '%s' must end in .svg or .png\n", output);
            return EXIT_USAGE;
        }
    }
    if (style && strcmp(style, "line") && strcmp(style, "area")) {
        fprintf(stderr, "tokmeter graph: --style: must be line or area, not '%s'\n", style);
        return EXIT_USAGE;
    }
    int area = style && strcmp(style, "area") == 0;
    if (area && !additive(m)) {
        fprintf(stderr, "tokmeter graph: --style area: %s does not add up over groups; use line\n",
                metric_name);
        return EXIT_USAGE;
    }
    if (parse_size("width", width, 960, &W) || parse_size("height", height, 540, &H))
        return EXIT_USAGE;

    tm_query_spec q, tq;
    tm__query_init(&q);
    tm__query_init(&tq);
    tm *t = NULL;
    tm_qresult *res = NULL, *tot = NULL;
    chart c = {0};
    char title[512];
    double *values = NULL;
    const char **labels = NULL;
    char (*label_buf)[40] = NULL, (*total_buf)[64] = NULL, (*name_buf)[300] = NULL;
    int code = EXIT_USAGE;
    int rc = cli_query_spec(&cq, &q);
    if (rc > 0)
        goto out; /* the time's message is printed */
    if (rc == TM_OK && q.interval != TM_I_NONE)
        rc = tm__query_set(&q, "fill", "zero");
    if (rc) {
        fprintf(stderr, "tokmeter graph: %s\n", tm_errmsg());
        goto out;
    }
    code = EXIT_FAIL;
    if (!(t = cli_open(g)))
        goto out;
    /* The totals per group over exactly the series' range, largest first. */
    if ((rc = tm__run_query(t, &q, &res)) == TM_OK) {
        rc = cli_query_spec(&cq, &tq);
        if (rc == TM_OK) rc = tm__query_span(&tq, res->from, res->to);
        if (rc == TM_OK) rc = tm__query_set(&tq, "interval", "none");
        if (rc == TM_OK) rc = tm__query_set(&tq, "order_by", metric_name);
        if (rc == TM_OK) rc = tm__run_query(t, &tq, &tot);
    }
    if (rc) {
        fprintf(stderr, "tokmeter graph: %s\n", *tm_errmsg() ? tm_errmsg() : tm_strerror(rc));
        code = rc == TM_EINVAL ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }
    int bars = res->interval == TM_I_NONE;
    size_t max = bars ? CHART_MAX_BARS : CHART_MAX_SERIES, nser = tot->nrows < max ? tot->nrows : max;
    if (res->ngroup == 0)
        nser = 1; /* one series, "all", even with no events */
    /* Periods: the filled series has every one; they are in order. */
    size_t np = 0;
    for (size_t i = 0; !bars && i < res->nrows; i++)
        np += i == 0 || res->rows[i].period != res->rows[i - 1].period;
    c.series = calloc(nser ? nser : 1, sizeof *c.series);
    values = calloc(nser * np + 1, sizeof *values);
    labels = calloc(np + 1, sizeof *labels);
    label_buf = calloc(np + 1, sizeof *label_buf);
    total_buf = calloc(nser + 1, sizeof *total_buf);
    name_buf = calloc(nser + 1, sizeof *name_buf);
    if (!c.series || !values || !labels || !label_buf || !total_buf || !name_buf) {
        fprintf(stderr, "tokmeter graph: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nser * np; i++)
        values[i] = NAN;
    for (size_t s = 0; s < nser; s++) {
        const tm_qrow *gr = res->ngroup ? &tot->rows[s] : &tot->totals;
        size_t o = 0;
        name_buf[s][0] = '\0';
        for (int k = 0; k < res->ngroup; k++) {
            const char *v = gr->dim[res->group[k]];
            o += (size_t)snprintf(name_buf[s] + o, o < sizeof name_buf[s] ? sizeof name_buf[s] - o : 0,
                                  "%s%s", k ? " / " : "", *v ? v : "-");
            if (o >= sizeof name_buf[s])
                break;
        }
        if (res->ngroup == 0)
            snprintf(name_buf[s], sizeof name_buf[s], "all");
        human(gr, m, total_buf[s], sizeof total_buf[s]);
        c.series[s] = (chart_series){name_buf[s], values + s * np, value_of(gr, m), total_buf[s]};
    }
    size_t pi = 0;
    for (size_t i = 0; !bars && i < res->nrows; i++) {
        const tm_qrow *r = &res->rows[i];
        if (i && r->period != res->rows[i - 1].period)
            pi++;
        if (i == 0 || r->period != res->rows[i - 1].period) {
            tm__period_label(res, r->period, label_buf[pi], sizeof label_buf[pi]);
            labels[pi] = label_buf[pi];
        }
        for (size_t s = 0; s < nser; s++)
            if (res->ngroup == 0 || same_group(res, r, &tot->rows[s])) {
                c.series[s].v[pi] = value_of(r, m);
                break;
            }
    }
    char from[40], to[40];
    local_time(res, res->from, from, sizeof from);
    local_time(res, res->to, to, sizeof to);
    static const char *const per[] = {"", "hourly", "daily", "weekly", "monthly"};
    size_t tl = (size_t)snprintf(title, sizeof title, "%s", metric_name);
    for (int k = 0; k < res->ngroup && tl < sizeof title; k++)
        tl += (size_t)snprintf(title + tl, sizeof title - tl, "%s%s", k ? ", " : " by ",
                               tm__dim_names[res->group[k]]);
    if (tl < sizeof title)
        snprintf(title + tl, sizeof title - tl, "%s%s, %s to %s (%s)", bars ? "" : ", ",
                 per[res->interval], from, to, tm__tz_name(res->tz));
    c.title = title;
    c.metric = metric_name;
    c.labels = labels;
    c.npoints = np;
    c.nseries = nser;
    c.more = res->ngroup && tot->nrows > nser ? tot->nrows - nser : 0;
    c.style = bars ? CHART_BAR : area ? CHART_AREA : CHART_LINE;
    c.additive = additive(m);
    c.width = W;
    c.height = H;
    if (output) {
        char err[512];
        if (chart_file(&c, output, png, err, sizeof err)) {
            fprintf(stderr, "tokmeter graph: cannot write %s\n", err);
            goto out;
        }
        fprintf(stderr, "wrote %s (%dx%d, %zu series%s)\n", output, W, H, nser,
                bars ? " as bars" : "");
    } else {
        if (res->ngroup && tot->nrows == 0)
            fprintf(stderr, "no events in this range\n");
        chart_term(&c, stdout, ascii, term_cols());
    }
    code = EXIT_OK;
out:
    free(c.series);
    free(values);
    free(labels);
    free(label_buf);
    free(total_buf);
    free(name_buf);
    tm__qresult_free(res);
    tm__qresult_free(tot);
    tm__query_free(&q);
    tm__query_free(&tq);
    tm_close(t);
    return code;
}

const cli_cmd cmd_graph = {"graph", "", "Draw a report as a chart: SVG, PNG, or the terminal.", run};
