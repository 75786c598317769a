/*
 * test_export.c — billing exports, fill=zero and the CSV writer.
 *
 * Exports are checked against the query engine's own total over the same
 * month (to the last digit) and against sums of their own lines; fill is
 * checked for row counts at the period boundaries (DST months included) and
 * at its row limit N-1, N, N+1; the CSV writer against RFC 4180 quoting and
 * the spreadsheet formula guard.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/csv.h"
#include "../../src/core/dec.h"
#include "../../src/core/tmtime.h"
#include "../../src/lib/export.h"
#include "../../src/lib/lib.h"
#include "store_helper.h"
#include "tokmeter.h"

static char dir[64], path[512];

static tm *open_store(void)
{
    snprintf(dir, sizeof dir, "/tmp/tmx.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "x.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK, "%s", tm_errmsg());
    return t;
}

static void cleanup(tm *t)
{
    char cmd[200];
    tm_close(t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static void track(tm *t, const char *ts, const char *provider, const char *model,
                  const char *user, const char *project, const char *metric, int64_t in,
                  int64_t out, const char *cost)
{
    tm_event ev;
    tm_event_init(&ev);
    const char *why;
    cr_assert_eq(tm__time_parse(ts, strlen(ts), &ev.ts_us, &why), 0, "%s", ts);
    ev.provider = provider, ev.model = model, ev.user_id = user, ev.project = project;
    ev.metric_type = metric;
    ev.input_tokens = in, ev.output_tokens = out;
    ev.has = TM_HAS_TS | TM_HAS_TOKENS;
    if (cost) {
        cr_assert_eq(tm__dec_parse(cost, strlen(cost), 12, 0, &ev.cost_pusd), 0);
        ev.has |= TM_HAS_COST;
    }
    cr_assert_eq(tm_track(t, &ev), TM_OK, "%s", tm_errmsg());
}

/* November 2026 in UTC, and its neighbours (which no export may count). */
static tm *november(void)
{
    tm *t = open_store();
    track(t, "2026-10-31T23:59:59Z", "openai", "gpt-4o", "alice", "web", NULL, 1000, 10, NULL);
    track(t, "2026-11-01T00:00:00Z", "openai", "gpt-4o", "alice", "web", NULL, 1000, 100, NULL);
    track(t, "2026-11-03T10:00:00Z", "openai", "gpt-4o-mini", "alice", "web", NULL, 5000, 300, NULL);
    track(t, "2026-11-03T11:00:00Z", "anthropic", "claude-sonnet-4-5", "alice", "cli", NULL, 700, 70, NULL);
    track(t, "2026-11-09T08:00:00Z", "openai", "gpt-4o", "=SUM(A1)", "web", NULL, 2000, 200, NULL);
    track(t, "2026-11-09T09:00:00Z", "openai", "gpt-4o", "=SUM(A1)", "web", NULL, 2000, 200, NULL);
    track(t, "2026-11-20T12:00:00Z", "mystery", "x-1", "bob", NULL, NULL, 10, 1, NULL);
    track(t, "2026-11-21T12:00:00Z", "replicate", "flux", "bob", NULL, "image.generate", 0, 0, "0.003");
    track(t, "2026-11-30T23:59:59.999999Z", "openai", "gpt-4o", NULL, NULL, NULL, 3, 3, NULL);
    track(t, "2026-12-01T00:00:00Z", "openai", "gpt-4o", "alice", "web", NULL, 9000, 900, NULL);
    cr_assert_eq(tm_flush(t), TM_OK);
    return t;
}

/* The report total of cost over November (UTC), as text. */
static void report_cost(tm *t, const char *const *extra, char *buf)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    tm__query_init(&q);
    cr_assert_eq(tm__query_set(&q, "from", "2026-11-01"), TM_OK);
    cr_assert_eq(tm__query_set(&q, "to", "2026-12-01"), TM_OK);
    for (size_t i = 0; extra && extra[i]; i += 2)
        cr_assert_eq(tm__query_set(&q, extra[i], extra[i + 1]), TM_OK);
    cr_assert_eq(tm__run_query(t, &q, &res), TM_OK, "%s", tm_errmsg());
    tm__dec_format(res->totals.s.cost, 12, buf);
    tm__qresult_free(res);
    tm__query_free(&q);
}

Test(export, lines_subtotals_and_total_equal_report)
{
    tm *t = november();
    tm_export *e = NULL;
    cr_assert_eq(tm__export_run(t, "2026-11", "user", NULL, &e), TM_OK, "%s", tm_errmsg());
    /* Groups: "" (no user), "=SUM(A1)", alice, bob: items + a subtotal each. */
    static const struct { int kind; const char *group, *provider, *model, *metric; int64_t events; } want[] = {
        {TM_EXPORT_ITEM, "", "openai", "gpt-4o", "llm_call", 1},
        {TM_EXPORT_SUBTOTAL, "", NULL, NULL, NULL, 1},
        {TM_EXPORT_ITEM, "=SUM(A1)", "openai", "gpt-4o", "llm_call", 2},
        {TM_EXPORT_SUBTOTAL, "=SUM(A1)", NULL, NULL, NULL, 2},
        {TM_EXPORT_ITEM, "alice", "anthropic", "claude-sonnet-4-5", "llm_call", 1},
        {TM_EXPORT_ITEM, "alice", "openai", "gpt-4o", "llm_call", 1},
        {TM_EXPORT_ITEM, "alice", "openai", "gpt-4o-mini", "llm_call", 1},
        {TM_EXPORT_SUBTOTAL, "alice", NULL, NULL, NULL, 3},
        {TM_EXPORT_ITEM, "bob", "mystery", "x-1", "llm_call", 1},
        {TM_EXPORT_ITEM, "bob", "replicate", "flux", "image.generate", 1},
        {TM_EXPORT_SUBTOTAL, "bob", NULL, NULL, NULL, 2},
        {TM_EXPORT_TOTAL, NULL, NULL, NULL, NULL, 8},
    };
    cr_assert_eq(e->nlines, sizeof want / sizeof want[0], "got %zu lines", e->nlines);
    tm_i128 items = 0, subs = 0, group = 0;
    for (size_t i = 0; i < e->nlines; i++) {
        const tm_export_line *l = &e->lines[i];
        cr_expect_eq(l->kind, want[i].kind, "line %zu kind", i);
        cr_expect_eq(l->row->s.events, want[i].events, "line %zu events %lld", i, (long long)l->row->s.events);
        if (want[i].group)
            cr_expect_str_eq(l->group, want[i].group, "line %zu", i);
        else
            cr_expect_null(l->group, "line %zu", i);
        if (l->kind == TM_EXPORT_ITEM) {
            cr_expect_str_eq(l->provider, want[i].provider, "line %zu", i);
            cr_expect_str_eq(l->model, want[i].model, "line %zu", i);
            cr_expect_str_eq(l->metric_type, want[i].metric, "line %zu", i);
            items += l->row->s.cost;
            group += l->row->s.cost;
        } else if (l->kind == TM_EXPORT_SUBTOTAL) {
            cr_expect(l->row->s.cost == group, "line %zu: subtotal is not the sum of its items", i);
            subs += l->row->s.cost;
            group = 0;
        }
    }
    const tm_export_line *total = &e->lines[e->nlines - 1];
    cr_expect(total->row->s.cost == items && items == subs, "grand total != sum of lines");
    cr_expect_eq(e->lines[9].row->s.unpriced, 0); /* a reported cost */
    cr_expect_eq(e->lines[8].row->s.unpriced, 1); /* no price for x-1 */
    char got[64], rep[64];
    tm__dec_format(total->row->s.cost, 12, got);
    report_cost(t, NULL, rep);
    cr_expect_str_eq(got, rep);
    tm__export_free(e);
    cleanup(t);
}

Test(export, csv_and_json_render_the_same_lines)
{
    tm *t = november();
    tm_export *e = NULL;
    tm_buf csv = TM_BUF_INIT, json = TM_BUF_INIT;
    cr_assert_eq(tm__export_run(t, "2026-11", "provider", "UTC", &e), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__export_csv(e, &csv), TM_OK);
    cr_assert_eq(tm__export_json(e, &json), TM_OK);
    const char *head = "period,row,provider,model,metric_type,events,requests,value,input_tokens,"
                       "output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,"
                       "total_tokens,unpriced,cost_usd\r\n";
    cr_expect(strncmp(csv.data, head, strlen(head)) == 0, "%s", csv.data);
    cr_expect(strstr(csv.data, "\r\n2026-11,item,replicate,flux,image.generate,1,0,1,0,0,0,0,0,0,0,0.003\r\n"),
              "%s", csv.data);
    cr_expect(strstr(csv.data, "\r\n2026-11,subtotal,replicate,,,1,0,1,"), "%s", csv.data);
    char rep[64], line[128];
    report_cost(t, NULL, rep);
    snprintf(line, sizeof line, ",%s\r\n", rep);
    const char *last = strstr(csv.data, "\r\n2026-11,total,,,,8,");
    cr_assert_not_null(last, "%s", csv.data);
    cr_expect(strcmp(last + strlen(last) - strlen(line), line) == 0, "%s\nwant %s", last, line);
    cr_expect(strstr(json.data, "\"by\": \"provider\""), "%s", json.data);
    cr_expect(strstr(json.data, "{\"provider\": \"replicate\", \"items\": [\n    {\"model\": \"flux\", "
                                "\"metric_type\": \"image.generate\", \"events\": 1"), "%s", json.data);
    char name[96];
    tm__export_filename(e, TM_EXPORT_JSON, name, sizeof name);
    cr_expect_str_eq(name, "tokmeter-2026-11-by-provider.json");
    tm__buf_free(&csv);
    tm__buf_free(&json);
    tm__export_free(e);
    /* By user, the name starting with = is guarded in CSV, kept in JSON. */
    cr_assert_eq(tm__export_run(t, "2026-11", NULL, NULL, &e), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__export_csv(e, &csv), TM_OK);
    cr_assert_eq(tm__export_json(e, &json), TM_OK);
    cr_expect(strstr(csv.data, "\r\n2026-11,item,'=SUM(A1),openai,gpt-4o,llm_call,2,"), "%s", csv.data);
    cr_expect(strstr(json.data, "{\"user_id\": \"=SUM(A1)\", \"items\""), "%s", json.data);
    tm__buf_free(&csv);
    tm__buf_free(&json);
    tm__export_free(e);
    cleanup(t);
}

Test(export, zone_moves_the_month)
{
    tm *t = november();
    tm_export *e = NULL;
    /* In New York (UTC-5 in November) the 2026-12-01T00:00Z event is still
     * November and the 2026-11-01T00:00Z one is October. */
    cr_assert_eq(tm__export_run(t, "2026-11", "user", "America/New_York", &e), TM_OK, "%s", tm_errmsg());
    const tm_export_line *total = &e->lines[e->nlines - 1];
    cr_expect_eq(total->row->s.events, 8);
    /* 11-03 (5000, 700), 11-09 (2 × 2000), 11-20 (10), 11-30 (3), 12-01T00Z (9000). */
    cr_expect_eq(total->row->s.input, 5000 + 700 + 4000 + 10 + 3 + 9000, "input %lld",
                 (long long)total->row->s.input);
    char got[64], rep[64];
    static const char *const ny[] = {"tz", "America/New_York", NULL};
    tm__dec_format(total->row->s.cost, 12, got);
    report_cost(t, ny, rep);
    cr_expect_str_eq(got, rep);
    tm__export_free(e);
    cleanup(t);
}

Test(export, bad_input_names_the_field)
{
    tm *t = open_store();
    static const struct { const char *period, *by, *tz, *err; } bad[] = {
        {"2026-13", NULL, NULL, "period: '2026-13' must be a month, YYYY-MM"},
        {"2026-00", NULL, NULL, "period: '2026-00' must be a month, YYYY-MM"},
        {"2026-1", NULL, NULL, "period: '2026-1' must be a month, YYYY-MM"},
        {"1969-12", NULL, NULL, "period: '1969-12' must be a month, YYYY-MM"},
        {"2026-11-01", NULL, NULL, "period: '2026-11-01' must be a month, YYYY-MM"},
        {NULL, NULL, NULL, "period: '' must be a month, YYYY-MM"},
        {"2026-11", "team", NULL, "by: must be user, project or provider, not 'team'"},
        {"2026-11", "user_id", NULL, "by: must be user, project or provider, not 'user_id'"},
        {"2026-11", "user", "Mars/Base", "tz: unknown time zone 'Mars/Base' (IANA names like America/New_York; looked in /usr/share/zoneinfo)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tm_export *e = NULL;
        cr_expect_eq(tm__export_run(t, bad[i].period, bad[i].by, bad[i].tz, &e), TM_EINVAL, "case %zu", i);
        cr_expect_str_eq(tm_errmsg(), bad[i].err);
        cr_expect_null(e);
    }
    cr_expect_eq(tm__export_format("xml"), TM_EINVAL);
    cr_expect_str_eq(tm_errmsg(), "format: must be csv or json, not 'xml'");
    cr_expect_eq(tm__export_format(NULL), TM_EXPORT_CSV);
    cr_expect_eq(tm__export_format("json"), TM_EXPORT_JSON);
    /* The edges of the accepted range. */
    char from[16], to[16];
    cr_expect_eq(tm__period_month("1970-01", from, to), TM_OK);
    cr_expect_str_eq(from, "1970-01-01");
    cr_expect_eq(tm__period_month("2026-12", from, to), TM_OK);
    cr_expect_str_eq(to, "2027-01-01");
    cr_expect_eq(tm__period_month("9999-12", from, to), TM_OK);
    cr_expect_str_eq(to, "10000-01-01");
    cleanup(t);
}

/* ---- fill=zero ---- */

static tm_qresult *filled(tm *t, const char *const *params)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    tm__query_init(&q);
    cr_assert_eq(tm__query_set(&q, "fill", "zero"), TM_OK);
    for (size_t i = 0; params[i]; i += 2)
        cr_assert_eq(tm__query_set(&q, params[i], params[i + 1]), TM_OK, "%s", tm_errmsg());
    int rc = tm__run_query(t, &q, &res);
    tm__query_free(&q);
    return rc ? NULL : res;
}

Test(fill, every_period_for_every_group)
{
    tm *t = november();
    const char *p[] = {"from", "2026-10-30", "to", "2026-11-10", "interval", "day", "group_by", "provider", "tz", "UTC", NULL};
    tm_qresult *res = filled(t, p);
    cr_assert_not_null(res, "%s", tm_errmsg());
    /* Providers seen in the range: openai, anthropic: 11 days each. */
    cr_expect_eq(res->nrows, 22, "rows %zu", res->nrows);
    int64_t events = 0;
    char label[40];
    for (size_t i = 0; i < res->nrows; i++) {
        events += res->rows[i].s.events;
        tm__period_label(res, res->rows[i].period, label, sizeof label);
        static const char *const days[] = {"2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02",
                                           "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06",
                                           "2026-11-07", "2026-11-08", "2026-11-09"};
        cr_expect_str_eq(label, days[i / 2], "row %zu", i);
    }
    cr_expect_eq(events, res->totals.s.events);
    cr_expect_eq(events, 6);
    tm__qresult_free(res);
    cleanup(t);
}

Test(fill, periods_across_dst_and_months)
{
    tm *t = open_store();
    static const struct { const char *from, *to, *interval, *tz; size_t rows; } c[] = {
        {"2026-03-01", "2026-04-01", "day", "Europe/Berlin", 31},  /* a 23-hour day */
        {"2026-10-01", "2026-11-01", "day", "Europe/Berlin", 31},  /* a 25-hour day */
        /* The repeated hour 02:00 is one period of the engine's (both UTC
         * hours are labelled 02:00), so the 25-hour day has 24 rows. */
        {"2026-10-25", "2026-10-26", "hour", "Europe/Berlin", 24},
        {"2026-03-29", "2026-03-30", "hour", "Europe/Berlin", 23},
        {"2026-01-01", "2027-01-01", "month", "America/New_York", 12},
        {"2026-01-31", "2026-03-01", "month", "UTC", 2},
        {"2026-11-02", "2026-11-30", "week", "UTC", 4},            /* Mondays */
        {"2026-11-01", "2026-11-30", "week", "UTC", 5},            /* a Sunday first */
        {"2026-11-01T10:30:00Z", "2026-11-01T12:00:00Z", "hour", "Asia/Kolkata", 2},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const char *p[] = {"from", c[i].from, "to", c[i].to, "interval", c[i].interval, "tz", c[i].tz, NULL};
        tm_qresult *res = filled(t, p);
        cr_assert_not_null(res, "case %zu: %s", i, tm_errmsg());
        cr_expect_eq(res->nrows, c[i].rows, "case %zu: %zu rows, want %zu", i, res->nrows, c[i].rows);
        for (size_t k = 1; k < res->nrows; k++)
            cr_expect(res->rows[k].period > res->rows[k - 1].period, "case %zu row %zu", i, k);
        tm__qresult_free(res);
    }
    cleanup(t);
}

Test(fill, row_limit)
{
    tm *t = open_store();
    /* TM_FILL_MAX hours from 1970: N-1 and N fill, N+1 is refused. */
    for (int64_t d = -1; d <= 1; d++) {
        char to[32];
        snprintf(to, sizeof to, "%lld", (long long)((TM_FILL_MAX + d) * 3600000LL));
        const char *p[] = {"from", "0", "to", to, "interval", "hour", "tz", "UTC", NULL};
        tm_qresult *res = filled(t, p);
        if (d <= 0) {
            cr_assert_not_null(res, "N%+lld: %s", (long long)d, tm_errmsg());
            cr_expect_eq(res->nrows, (size_t)(TM_FILL_MAX + d));
            tm__qresult_free(res);
        } else {
            cr_expect_null(res);
            cr_expect_str_eq(tm_errmsg(), "fill: the range has more than 100000 periods; use a "
                                          "longer interval or a shorter range");
        }
    }
    cleanup(t);
}

Test(fill, row_limit_with_groups)
{
    tm *t = november();
    /* Two providers before 2026-11-04 (openai, anthropic): TM_FILL_MAX / 2
     * hours up to then fill, one more is refused. */
    const int64_t end_ms = 1793750400000LL; /* 2026-11-04T00:00:00Z */
    for (int64_t d = -1; d <= 1; d++) {
        char from[32];
        snprintf(from, sizeof from, "%lld", (long long)(end_ms - (TM_FILL_MAX / 2 + d) * 3600000LL));
        const char *p[] = {"from", from, "to", "1793750400000", "interval", "hour", "tz", "UTC",
                           "group_by", "provider", NULL};
        tm_qresult *res = filled(t, p);
        if (d <= 0) {
            cr_assert_not_null(res, "N%+lld: %s", (long long)d, tm_errmsg());
            cr_expect_eq(res->nrows, (size_t)(2 * (TM_FILL_MAX / 2 + d)));
            tm__qresult_free(res);
        } else {
            cr_expect_null(res);
            cr_expect_str_eq(tm_errmsg(), "fill: 2 groups over 50001 periods would be more than "
                                          "100000 rows; use a longer interval, a shorter range or "
                                          "fewer groups");
        }
    }
    cleanup(t);
}

/* ---- the CSV writer ---- */

Test(csv, quoting_and_formula_guard)
{
    static const struct { const char *in, *out; } c[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\r", "\"cr\r\""},
        {"=SUM(A1)", "'=SUM(A1)"},
        {"+1", "'+1"},
        {"-1", "'-1"},
        {"@cmd", "'@cmd"},
        {"\tx", "'\tx"},
        {"=a,b", "\"'=a,b\""},
        {"a=b", "a=b"},
        {"'quoted", "'quoted"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        tm_buf b = TM_BUF_INIT;
        cr_assert_eq(tm__csv_text(&b, c[i].in, 1), TM_OK);
        cr_expect_str_eq(b.data ? b.data : "", c[i].out, "case %zu", i);
        tm__buf_free(&b);
    }
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__csv_text(&b, "x", 1), TM_OK);
    cr_assert_eq(tm__csv_num(&b, "-0.5", 0), TM_OK); /* numbers are not guarded */
    cr_assert_eq(tm__csv_text(&b, NULL, 0), TM_OK);
    cr_assert_eq(tm__csv_end(&b), TM_OK);
    cr_expect_str_eq(b.data, "x,-0.5,\r\n");
    tm__buf_free(&b);
}
