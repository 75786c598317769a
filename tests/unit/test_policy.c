/*
 * test_policy.c — quota periods (month ends, anchor days 29-31, leap years,
 * a DST zone, the instant of reset), GCRA rate limits, quota use equal to
 * the report's, and the check.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/core/tmtime.h"
#include "../../src/lib/lib.h"
#include "../../src/policy/policy.h"

static int64_t at(const char *s)
{
    int64_t us;
    const char *why;
    cr_assert_eq(tm__time_parse(s, strlen(s), &us, &why), 0, "%s", s);
    return us;
}

static tm_tier tier(int period, int anchor, const char *tz)
{
    tm_tier t;
    memset(&t, 0, sizeof t);
    t.period = period;
    t.anchor_day = anchor;
    snprintf(t.tz, sizeof t.tz, "%s", tz);
    return t;
}

static const struct {
    int period, anchor;
    const char *tz, *now, *start, *reset;
} cases[] = {
    {TM_PERIOD_MONTH, 1, "UTC", "2026-01-31T23:59:59.999999Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
    {TM_PERIOD_MONTH, 1, "UTC", "2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}, /* the instant of reset */
    {TM_PERIOD_MONTH, 1, "UTC", "2026-12-15T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {TM_PERIOD_MONTH, 15, "UTC", "2026-03-14T23:59:59Z", "2026-02-15T00:00:00Z", "2026-03-15T00:00:00Z"},
    {TM_PERIOD_MONTH, 15, "UTC", "2026-03-15T00:00:00Z", "2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z"},
    {TM_PERIOD_MONTH, 31, "UTC", "2026-02-10T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z"},
    {TM_PERIOD_MONTH, 31, "UTC", "2026-02-28T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"},
    {TM_PERIOD_MONTH, 30, "UTC", "2026-03-01T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-30T00:00:00Z"},
    {TM_PERIOD_MONTH, 29, "UTC", "2028-02-29T12:00:00Z", "2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z"}, /* leap */
    {TM_PERIOD_MONTH, 29, "UTC", "2027-02-28T12:00:00Z", "2027-02-28T00:00:00Z", "2027-03-29T00:00:00Z"}, /* not */
    {TM_PERIOD_MONTH, 31, "UTC", "2026-04-30T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z"},
    {TM_PERIOD_MONTH, 1, "Europe/Berlin", "2026-03-31T21:59:59Z", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"}, /* DST inside */
    {TM_PERIOD_MONTH, 1, "Europe/Berlin", "2026-03-31T22:00:00Z", "2026-03-31T22:00:00Z", "2026-04-30T22:00:00Z"},
    {TM_PERIOD_DAY, 1, "America/New_York", "2026-03-08T12:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}, /* 23-hour day */
    {TM_PERIOD_WEEK, 1, "UTC", "2026-11-22T10:00:00Z", "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"},
    {TM_PERIOD_WEEK, 1, "UTC", "2026-11-23T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"},
};

Test(policy, period_bounds)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tm_tier t = tier(cases[i].period, cases[i].anchor, cases[i].tz);
        int64_t s, r;
        cr_assert_eq(tm__period_bounds(&t, at(cases[i].now), &s, &r), TM_OK);
        char gs[32], gr[32];
        tm__time_format(s, gs);
        tm__time_format(r, gr);
        cr_expect_str_eq(gs, cases[i].start, "case %zu (%s): start", i, cases[i].now);
        cr_expect_str_eq(gr, cases[i].reset, "case %zu (%s): reset", i, cases[i].now);
    }
}

static tm_policy *policy(const char *json)
{
    char path[] = "/tmp/tmpol.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    tm_policy *p = NULL;
    int rc = tm__policy_load(&p, path);
    unlink(path);
    cr_assert_eq(rc, TM_OK, "%s", tm_errmsg());
    return p;
}

Test(policy, gcra_rate_and_retry_after)
{
    tm_policy *p = policy("{\"rate_limits\": [{\"scope\": \"user\", \"requests_per_second\": 10}]}");
    int64_t t0 = 1790000000000000LL;
    double wait;
    char why[200];
    /* A burst of 10 at once is allowed, the 11th is not. */
    for (int i = 0; i < 10; i++)
        cr_assert(tm__rate_check(p, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why), "request %d", i);
    cr_assert_not(tm__rate_check(p, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect(wait > 0.0999 && wait < 0.1001, "retry after %f s, want 0.1 (1/rate)", wait);
    cr_expect(strstr(why, "per user 10 requests per second") != NULL, "%s", why);
    /* After the wait it conforms again; other users are not affected. */
    cr_expect(tm__rate_check(p, "u", NULL, 1, 0, t0 + 100000, 1, &wait, why, sizeof why));
    cr_expect(tm__rate_check(p, "v", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    /* Sustained: over 10 s at 20/s offered, about 10/s are allowed. */
    int ok = 0;
    for (int i = 0; i < 200; i++)
        ok += tm__rate_check(p, "w", NULL, 1, 0, t0 + (int64_t)i * 50000, 1, &wait, why, sizeof why);
    cr_expect(ok >= 108 && ok <= 110, "allowed %d of 200 in 10 s (10/s + burst 10)", ok);
    tm__policy_free(p);

    p = policy("{\"rate_limits\": [{\"scope\": \"global\", \"tokens_per_minute\": 6000}]}");
    /* A check only tests the estimate; the tokens count when they are used. */
    cr_assert(tm__rate_check(p, "u", NULL, 1, 6000, t0, 1, &wait, why, sizeof why));
    cr_assert(tm__rate_check(p, "u", NULL, 1, 6000, t0, 1, &wait, why, sizeof why));
    tm__rate_consume(p, "u", NULL, 6000, t0); /* an event of 6,000 tokens arrived */
    cr_assert_not(tm__rate_check(p, "u", NULL, 1, 600, t0, 1, &wait, why, sizeof why));
    cr_expect(wait > 5.999 && wait < 6.001, "600 tokens at 100/s: retry after %f s", wait);
    tm__rate_consume(p, "u", NULL, 6000, t0); /* spent anyway: the debt grows */
    cr_assert_not(tm__rate_check(p, "u", NULL, 1, 600, t0, 1, &wait, why, sizeof why));
    cr_expect(wait > 65.999 && wait < 66.001, "retry after %f s", wait);
    tm__policy_free(p);
}

Test(policy, bad_configs)
{
    static const struct { const char *json, *err; } bad[] = {
        {"{\"tiers\": {\"a\": {\"period\": \"year\"}}}", "tiers.a.period: must be day, week or month"},
        {"{\"tiers\": {\"a\": {\"anchor_day\": 32}}}", "tiers.a.anchor_day: must be 1 to 31"},
        {"{\"tiers\": {\"a\": {\"limits\": {\"requests\": 1.5}}}}", "limits.requests: must be a non-negative whole number"},
        {"{\"tiers\": {\"a\": {\"limits\": {\"gpus\": 1}}}}", "limits.gpus: unknown limit"},
        {"{\"tiers\": {\"a\": {\"tz\": \"Mars/Base\"}}}", "tiers.a.tz: not a time zone"},
        {"{\"default_tier\": \"gold\"}", "default_tier: must name a tier"},
        {"{\"rate_limits\": [{\"scope\": \"team\", \"requests_per_second\": 1}]}", "rate_limits[0].scope"},
        {"{\"rate_limits\": [{\"scope\": \"user\"}]}", "rate_limits[0]: needs a rate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[] = "/tmp/tmpol.XXXXXX";
        int fd = mkstemp(path);
        cr_assert_eq(write(fd, bad[i].json, strlen(bad[i].json)), (ssize_t)strlen(bad[i].json));
        close(fd);
        tm_policy *p = NULL;
        cr_expect_eq(tm__policy_load(&p, path), TM_EINVAL, "%s", bad[i].json);
        cr_expect(strstr(tm_errmsg(), bad[i].err) != NULL, "%s: %s", bad[i].json, tm_errmsg());
        unlink(path);
    }
}

Test(policy, quota_use_equals_the_report_and_check)
{
    char dir[] = "/tmp/tmq2.XXXXXX", db[128], cfg[128], cmd[160];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/q.db", dir);
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"tiers\": {\"std\": {\"period\": \"month\", \"limits\": {\"requests\": 60, \"cost_usd\": \"0.05\","
          " \"events:evaluation_run\": {\"limit\": 2, \"soft\": true}}}}, \"default_tier\": \"std\"}", f);
    fclose(f);
    tm *t = NULL;
    tm_options o = {.config = cfg};
    cr_assert_eq(tm_open(&t, db, &o), TM_OK, "%s", tm_errmsg());
    uint64_t r = 77;
    for (int i = 0; i < 50; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        tm_event ev;
        tm_event_init(&ev);
        ev.user_id = i % 3 ? "alice" : "bob";
        ev.provider = "openai";
        ev.model = "gpt-4o-mini";
        ev.input_tokens = (int64_t)(r % 3000);
        ev.output_tokens = (int64_t)(r % 500);
        ev.has = TM_HAS_TOKENS;
        if (i % 10 == 0)
            ev.metric_type = "evaluation_run";
        cr_assert_eq(tm_track(t, &ev), TM_OK);
    }
    cr_assert_eq(tm_flush(t), TM_OK);
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__quota_json(t, "alice", &b), TM_OK, "%s", tm_errmsg());
    /* The same range through the report. */
    char from[32], to[32];
    const char *p1 = strstr(b.data, "\"period_start\": \"") + 17, *p2 = strstr(b.data, "\"reset_at\": \"") + 13;
    snprintf(from, sizeof from, "%.*s", (int)(strchr(p1, '"') - p1), p1);
    snprintf(to, sizeof to, "%.*s", (int)(strchr(p2, '"') - p2), p2);
    const char *params[] = {"from", from, "to", to, "where", "user_id=alice", NULL};
    tm_report *rep = NULL;
    cr_assert_eq(tm_report_run(t, params, &rep), TM_OK);
    const char *tot = strstr(tm_report_json(rep), "\"totals\"");
    char want[96];
    const char *req = strstr(tot, "\"requests\": "), *cost = strstr(tot, "\"cost_usd\": ");
    snprintf(want, sizeof want, "\"requests\": {\"limit\": 60, \"used\": %.*s,", (int)strcspn(req + 12, ","), req + 12);
    cr_expect(strstr(b.data, want) != NULL, "%s\nwant %s", b.data, want);
    snprintf(want, sizeof want, "\"cost_usd\": {\"limit\": 0.05, \"used\": %.*s,", (int)strcspn(cost + 12, ","), cost + 12);
    cr_expect(strstr(b.data, want) != NULL, "%s\nwant %s", b.data, want);
    tm_report_free(rep);
    tm__buf_free(&b);
    /* The check: alice has 30 requests (limit 60) and some cost. */
    tm_check_request rq = {.user_id = "alice", .estimated_tokens = 100, .estimated_cost_pusd = 1};
    tm_check_result res;
    cr_assert_eq(tm_check(t, &rq, &res), TM_OK);
    cr_expect(res.allowed, "%s", res.reason);
    cr_expect(res.soft_exceeded, "alice has 3 evaluation runs over a soft limit of 2");
    rq.estimated_cost_pusd = 50000000000LL; /* $0.05 more: over the hard cost limit */
    cr_assert_eq(tm_check(t, &rq, &res), TM_OK);
    cr_expect_not(res.allowed);
    cr_expect(strncmp(res.reason, "quota: cost_usd would be ", 25) == 0, "%s", res.reason);
    cr_expect_gt(res.retry_after_s, 0);
    tm_close(t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
