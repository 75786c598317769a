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

#include "../../src/core/dec.h"
#include "../../src/core/event.h"
#include "../../src/core/json.h"
#include "../../src/core/tmtime.h"
#include "../../src/lib/lib.h"
#include "../../src/policy/policy.h"
#include "../../src/store/store.h"
#include "store_helper.h"

/* The quota as the API shows it (get, then render). */
static int quota_json(tm *t, const char *user, tm_buf *b)
{
    tm_quota q;
    int rc = tm__quota_get(tm__pctx(t), user, tm__now_us(), &q);
    if (rc == TM_OK)
        tm__quota_json(b, user, &q, NULL);
    return rc;
}

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
    /* Fall back in New York (a 25-hour day): 01:30 EDT and 01:30 EST are one day. */
    {TM_PERIOD_DAY, 1, "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
    {TM_PERIOD_DAY, 1, "America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
    {TM_PERIOD_DAY, 1, "America/New_York", "2026-11-02T04:59:59Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
    {TM_PERIOD_DAY, 1, "America/New_York", "2026-11-02T05:00:00Z", "2026-11-02T05:00:00Z", "2026-11-03T05:00:00Z"},
    {TM_PERIOD_WEEK, 1, "America/New_York", "2026-11-01T12:00:00Z", "2026-10-26T04:00:00Z", "2026-11-02T05:00:00Z"},
    /* The southern hemisphere: Sydney falls back on 5 April, springs forward on 4 October. */
    {TM_PERIOD_MONTH, 1, "Australia/Sydney", "2026-04-15T00:00:00Z", "2026-03-31T13:00:00Z", "2026-04-30T14:00:00Z"},
    {TM_PERIOD_MONTH, 1, "Australia/Sydney", "2026-04-30T13:59:59Z", "2026-03-31T13:00:00Z", "2026-04-30T14:00:00Z"},
    {TM_PERIOD_MONTH, 1, "Australia/Sydney", "2026-10-15T00:00:00Z", "2026-09-30T14:00:00Z", "2026-10-31T13:00:00Z"},
    {TM_PERIOD_DAY, 1, "Australia/Sydney", "2026-04-05T00:00:00Z", "2026-04-04T13:00:00Z", "2026-04-05T14:00:00Z"}, /* 25 h */
    {TM_PERIOD_DAY, 1, "Australia/Sydney", "2026-10-04T00:00:00Z", "2026-10-03T14:00:00Z", "2026-10-04T13:00:00Z"}, /* 23 h */
    {TM_PERIOD_DAY, 1, "Australia/Lord_Howe", "2026-04-05T13:29:59Z", "2026-04-04T13:00:00Z", "2026-04-05T13:30:00Z"}, /* a 30-minute shift */
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

/* A denial names the rate as it was configured: 60 a minute is not "1
 * requests per second", 1 a second is not "60 per minute" (59, 60, 61 a
 * minute and 1 a second: the old guess switched units at 60). */
Test(policy, rate_reason_in_the_configured_unit)
{
    static const struct { const char *rule; const char *want; } rates[] = {
        {"\"requests_per_minute\": 59", "per user 59 requests per minute"},
        {"\"requests_per_minute\": 60", "per user 60 requests per minute"},
        {"\"requests_per_minute\": 61", "per user 61 requests per minute"},
        {"\"requests_per_second\": 1", "per user 1 requests per second"}};
    int64_t t0 = 1790000000000000LL;
    for (size_t c = 0; c < sizeof rates / sizeof *rates; c++) {
        char json[200], why[200] = "";
        double wait;
        snprintf(json, sizeof json, "{\"rate_limits\": [{\"scope\": \"user\", %s}]}", rates[c].rule);
        tm_policy *p = policy(json);
        int denied = 0;
        for (int i = 0; i < 62 && !denied; i++)
            denied = !tm__rate_check(p, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why);
        cr_expect(denied, "%s: never denied", rates[c].rule);
        cr_expect(strstr(why, rates[c].want) != NULL, "%s: got '%s', want '%s'", rates[c].rule, why,
                  rates[c].want);
        tm__policy_free(p);
    }
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

/* More at once than a rule's burst never conforms: denied with no retry
 * hint, at any later time (limits at burst - 1, burst, burst + 1). */
Test(policy, gcra_more_than_the_burst_never_conforms)
{
    tm_policy *p = policy("{\"rate_limits\": [{\"scope\": \"global\", \"tokens_per_minute\": 6000}]}");
    int64_t t0 = 1790000000000000LL;
    double wait;
    char why[300];
    cr_expect(tm__rate_check(p, "u", NULL, 1, 5999, t0, 1, &wait, why, sizeof why));
    cr_expect(tm__rate_check(p, "u", NULL, 1, 6000, t0, 1, &wait, why, sizeof why));
    for (int64_t later = 0; later <= 3600; later += 600) {
        cr_assert_not(tm__rate_check(p, "u", NULL, 1, 6001, t0 + later * 1000000, 1, &wait, why,
                                     sizeof why), "6001 tokens, %lld s later", (long long)later);
        cr_expect(wait == -1, "retry after %f, want -1 (never)", wait);
        cr_expect_str_eq(why, "rate limit: 6001 tokens at once is more than the global limit of "
                              "6000 tokens per minute allows (its burst is 6000): it can never "
                              "conform; split it");
    }
    tm__policy_free(p);
}

/* Several rules at once: a denial by one debits none of the others; an
 * allowed check debits each request rule once. */
Test(policy, gcra_several_rules_a_denial_debits_none)
{
    tm_policy *p = policy("{\"rate_limits\": [{\"scope\": \"user\", \"requests_per_minute\": 3},"
                          "{\"scope\": \"global\", \"requests_per_minute\": 5},"
                          "{\"scope\": \"user\", \"tokens_per_minute\": 1000}]}");
    int64_t t0 = 1790000000000000LL;
    double wait;
    char why[300];
    /* Denied by the token rule (once for too much at once, once for a
     * spent bucket), ten times: the request rules are untouched. */
    for (int i = 0; i < 10; i++)
        cr_assert_not(tm__rate_check(p, "u", NULL, 1, 1001, t0, 1, &wait, why, sizeof why));
    tm__rate_consume(p, "u", NULL, 1000, t0);
    for (int i = 0; i < 10; i++)
        cr_assert_not(tm__rate_check(p, "u", NULL, 1, 10, t0, 1, &wait, why, sizeof why));
    cr_expect(strstr(why, "per user 1000 tokens per minute") != NULL, "%s", why);
    /* Another user: 3 requests (its per-user burst), all of them */
    for (int i = 0; i < 3; i++)
        cr_assert(tm__rate_check(p, "v", NULL, 1, 0, t0, 1, &wait, why, sizeof why), "v %d", i);
    cr_assert_not(tm__rate_check(p, "v", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect(strstr(why, "per user 3 requests per minute") != NULL, "%s", why);
    /* and v's denial did not debit the global rule: 2 more left there. */
    cr_expect(tm__rate_check(p, "w", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect(tm__rate_check(p, "x", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect_not(tm__rate_check(p, "y", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect(strstr(why, "global 5 requests per minute") != NULL, "%s", why);
    tm__policy_free(p);
}

/* A reload keeps the buckets of every rule it keeps (wherever it now is
 * in the list) and starts a changed rule's afresh. */
Test(policy, gcra_state_carried_across_a_reload)
{
    tm_policy *p = policy("{\"rate_limits\": [{\"scope\": \"user\", \"requests_per_minute\": 2},"
                          "{\"scope\": \"global\", \"tokens_per_minute\": 1000}]}");
    int64_t t0 = 1790000000000000LL;
    double wait;
    char why[300];
    cr_assert(tm__rate_check(p, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_assert(tm__rate_check(p, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    tm__rate_consume(p, "u", NULL, 1000, t0);
    /* The same rules in another order, and one more. */
    tm_policy *q = policy("{\"rate_limits\": [{\"scope\": \"global\", \"requests_per_minute\": 100},"
                          "{\"scope\": \"global\", \"tokens_per_minute\": 1000},"
                          "{\"scope\": \"user\", \"requests_per_minute\": 2}]}");
    cr_assert_eq(tm__rate_carry(q, p), TM_OK);
    cr_expect_not(tm__rate_check(q, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why));
    cr_expect(strstr(why, "per user 2 requests per minute") != NULL, "%s", why);
    cr_expect_not(tm__rate_check(q, "v", NULL, 1, 1, t0, 1, &wait, why, sizeof why));
    cr_expect(strstr(why, "global 1000 tokens per minute") != NULL, "%s", why);
    cr_expect(wait > 0.0599 && wait < 0.0601, "1 token at 1000/min: retry after %f s", wait);
    /* A changed rule (3 a minute now) starts with a full bucket. */
    tm_policy *r = policy("{\"rate_limits\": [{\"scope\": \"user\", \"requests_per_minute\": 3}]}");
    cr_assert_eq(tm__rate_carry(r, q), TM_OK);
    for (int i = 0; i < 3; i++)
        cr_expect(tm__rate_check(r, "u", NULL, 1, 0, t0, 1, &wait, why, sizeof why), "u %d", i);
    tm__policy_free(p);
    tm__policy_free(q);
    tm__policy_free(r);
}

/* A rate's bounds: 0 and 1000000001 are refused (bad_configs), 1 and
 * 1000000000 load. */
Test(policy, rate_bounds)
{
    tm__policy_free(policy("{\"rate_limits\": [{\"requests_per_minute\": 1}]}"));
    tm__policy_free(policy("{\"rate_limits\": [{\"tokens_per_minute\": 1000000000}]}"));
}

/* A user's overrides (PUT /v1/users/{id} "limits") name the field once. */
Test(policy, bad_override_names_the_field)
{
    static const struct { const char *json, *err; } bad[] = {
        {"{\"limits\": {\"cost_usd\": \"-1\"}}", "limits.cost_usd: must be a non-negative decimal"},
        {"{\"limits\": {\"gpus\": 1}}", "limits.gpus: unknown limit (requests, total_tokens, cost_usd, "
                                          "events:METRIC_TYPE, value:METRIC_TYPE)"},
        {"{\"limits\": 5}", "limits: must be an object"},
        {"{\"limits\": {\"requests\": {\"soft\": true}}}", "limits.requests: needs \"limit\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tm_tier t;
        memset(&t, 0, sizeof t);
        cr_expect_eq(tm__tier_override(&t, bad[i].json, NULL), TM_EINVAL, "%s", bad[i].json);
        cr_expect_str_eq(tm_errmsg(), bad[i].err);
    }
}

Test(policy, bad_configs)
{
    static const struct { const char *json, *err; } bad[] = {
        {"{\"tiers\": {\"a\": {\"period\": \"year\"}}}", "tiers.a.period: must be day, week or month"},
        {"{\"tiers\": {\"a\": {\"anchor_day\": 32}}}", "tiers.a.anchor_day: must be 1 to 31"},
        {"{\"tiers\": {\"a\": {\"limits\": {\"requests\": 1.5}}}}", ": tiers.a.limits.requests: must be a non-negative whole number"},
        {"{\"tiers\": {\"a\": {\"limits\": {\"gpus\": 1}}}}", ": tiers.a.limits.gpus: unknown limit"},
        {"{\"tiers\": {\"a\": {\"tz\": \"Mars/Base\"}}}", "tiers.a.tz: not a time zone"},
        {"{\"default_tier\": \"gold\"}", "default_tier: must name a tier"},
        {"{\"rate_limits\": [{\"scope\": \"team\", \"requests_per_second\": 1}]}", "rate_limits[0].scope"},
        {"{\"rate_limits\": [{\"scope\": \"user\"}]}", "rate_limits[0]: needs a rate"},
        {"{\"rate_limits\": [{\"requests_per_minute\": 0}]}",
         "rate_limits[0].requests_per_minute: must be a whole number from 1 to 1000000000"},
        {"{\"rate_limits\": [{\"tokens_per_minute\": 1000000001}]}",
         "rate_limits[0].tokens_per_minute: must be a whole number from 1 to 1000000000"},
        {"{\"rate_limits\": [{\"requests_per_second\": 1.5}]}",
         "rate_limits[0].requests_per_second: must be a whole number from 1 to 1000000000"},
        {"{\"rate_limits\": [{\"requests_per_second\": \"2\"}]}",
         "rate_limits[0].requests_per_second: must be a whole number from 1 to 1000000000"},
        {"{\"rate_limits\": [{\"requests_per_second\": 1, \"requests_per_minute\": 60}]}",
         "rate_limits[0].requests_per_minute: a rule has one rate; give a rule of its own for each"},
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

/* A scratch directory with a config file holding json: its store (db,
 * 512 bytes) and config path (cfg, 128 bytes). */
static void scratch(char *dir, char *db, char *cfg, const char *json)
{
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "q.db", db, 512);
    snprintf(cfg, 128, "%s/c.json", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
}

static void scratch_free(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(policy, quota_use_equals_the_report_and_check)
{
    char dir[] = "/tmp/tmq2.XXXXXX", db[512], cfg[128];
    scratch(dir, db, cfg,
            "{\"tiers\": {\"std\": {\"period\": \"month\", \"limits\": {\"requests\": 60, \"cost_usd\": \"0.05\","
            " \"events:evaluation_run\": {\"limit\": 2, \"soft\": true}}}}, \"default_tier\": \"std\"}");
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
    cr_assert_eq(quota_json(t, "alice", &b), TM_OK, "%s", tm_errmsg());
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
    scratch_free(dir);
}

/* ---- the usage cache: checks read users' sums kept by the commit hook ---- */

static const tm_jv *jpath2(const tm_jv *o, const char *a, const char *b)
{
    const tm_jv *v = tm__json_get(o, a);
    return b ? tm__json_get(v, b) : v;
}

/* A number's text from JSON as pico-units (scale 12), or -1. */
static int64_t pico(const tm_jv *v)
{
    int64_t x = -1;
    if (!v || v->type != TM_J_NUMBER || tm__dec_parse(v->s, v->n, 12, 0, &x) != 0)
        return -1;
    return x;
}

/* The use of every limit as the quota (cache) says it and as a report over
 * the same period says it; they must agree. */
static void expect_quota_equals_report(tm *t, const char *user, int step)
{
    static const char *const names[] = {"requests", "total_tokens", "cost_usd",
                                        "events:evaluation_run", "value:compute_minutes"};
    tm_buf b = TM_BUF_INIT;
    tm_arena a = {0};
    tm_jv *q = NULL, *r = NULL;
    char err[128], from[40], to[40], where[64];
    cr_assert_eq(quota_json(t, user, &b), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__json_parse(&a, b.data, b.len, &q, err, sizeof err), TM_OK, "%s", err);
    snprintf(from, sizeof from, "%s", tm__json_get(q, "period_start")->s);
    snprintf(to, sizeof to, "%s", tm__json_get(q, "reset_at")->s);
    snprintf(where, sizeof where, "user_id=%s", user);
    const char *params[] = {"from", from, "to", to, "where", where, "group_by", "metric_type", NULL};
    tm_report *rep = NULL;
    cr_assert_eq(tm_report_run(t, params, &rep), TM_OK, "%s", tm_errmsg());
    const char *rj = tm_report_json(rep);
    cr_assert_eq(tm__json_parse(&a, rj, strlen(rj), &r, err, sizeof err), TM_OK, "%s", err);
    const tm_jv *tot = tm__json_get(r, "totals"), *rows = tm__json_get(r, "rows");
    int64_t want[5] = {pico(tm__json_get(tot, "requests")), pico(tm__json_get(tot, "total_tokens")),
                       pico(tm__json_get(tot, "cost_usd")), 0, 0};
    for (size_t i = 0; rows && i < rows->n; i++) {
        const char *mt = tm__json_get(rows->vals[i], "metric_type")->s;
        if (strcmp(mt, "evaluation_run") == 0)
            want[3] = pico(tm__json_get(rows->vals[i], "events"));
        if (strcmp(mt, "compute_minutes") == 0)
            want[4] = pico(tm__json_get(rows->vals[i], "value"));
    }
    for (int k = 0; k < 5; k++) {
        int64_t got = pico(jpath2(tm__json_get(q, "limits"), names[k], "used"));
        cr_expect_eq(got, want[k], "step %d, %s, %s: quota %lld, report %lld\n%s", step, user,
                     names[k], (long long)got, (long long)want[k], b.data);
    }
    tm_report_free(rep);
    tm__arena_free(&a);
    tm__buf_free(&b);
}

/* A tier with a limit of each kind, for the usage cache's tests. */
static const char uc_config[] =
    "{\"tiers\": {\"std\": {\"period\": \"month\", \"limits\": {\"requests\": 1000000,"
    " \"total_tokens\": 100000000, \"cost_usd\": \"1000\", \"events:evaluation_run\": 100000,"
    " \"value:compute_minutes\": \"1000000\"}}}, \"default_tier\": \"std\"}";

Test(policy, usage_cache_equals_the_report_through_every_kind_of_write)
{
    char dir[] = "/tmp/tmuc.XXXXXX", db[512], cfg[128];
    scratch(dir, db, cfg, uc_config);
    tm *t = NULL, *other = NULL;
    tm_options o = {.config = cfg};
    cr_assert_eq(tm_open(&t, db, &o), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm_open(&other, db, &o), TM_OK, "%s", tm_errmsg()); /* "another process" */
    static const char *const users[] = {"alice", "bob", "carol"};
    static const char *const types[] = {"llm_call", "llm_call", "evaluation_run", "compute_minutes"};
    uint64_t r = 12345;
    int64_t now = tm__now_us();
    char id[64];
    for (int step = 0; step < 400; step++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        tm_event ev;
        tm_event_init(&ev);
        ev.user_id = users[r % 3];
        ev.provider = "openai";
        ev.model = "gpt-4o-mini";
        ev.metric_type = types[(r >> 4) % 4];
        ev.input_tokens = (int64_t)((r >> 8) % 3000);
        ev.output_tokens = (int64_t)((r >> 16) % 500);
        ev.value_nano = (int64_t)((r >> 24) % 7 + 1) * 250000000;
        ev.ts_us = (r >> 32) % 5 == 0 ? now - 40LL * 86400 * 1000000 : now; /* some last month */
        ev.has = TM_HAS_TOKENS | TM_HAS_TS | TM_HAS_VALUE;
        int kind = (int)((r >> 40) % 10), dup = 0;
        if (kind == 0) { /* through another handle: a commit this one's hook never sees */
            cr_assert_eq(tm_track_sync(other, &ev, &dup), TM_OK, "%s", tm_errmsg());
        } else if (kind == 1) { /* a client id seen before: a duplicate */
            snprintf(id, sizeof id, "req-%d", (int)((r >> 44) % 8));
            ev.id = id;
            cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK, "%s", tm_errmsg());
        } else if (kind == 2) { /* an importer's copy: may replace a smaller one */
            char err[256];
            unsigned char d = 9;
            snprintf(id, sizeof id, "imp-%d", (int)((r >> 44) % 4));
            ev.id = id;
            ev.metric_type = "llm_call";
            ev.ts_us = now;
            cr_assert_eq(tm__admit_import(t, &ev, now, err, sizeof err), TM_OK, "%s", err);
            tm_event *c = tm__event_clone(&ev);
            tm_ticket tk = {1, 0, &d, NULL};
            cr_assert_eq(tm__writer_submit(tm__writer(t), &c, 1, &tk), TM_OK);
            cr_assert_eq(tm__writer_wait(tm__writer(t), &tk), TM_OK);
        } else {
            cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK, "%s", tm_errmsg());
        }
        expect_quota_equals_report(t, users[(r >> 48) % 3], step);
    }
    for (int u = 0; u < 3; u++)
        expect_quota_equals_report(t, users[u], 400);
    tm_close(other);
    tm_close(t);
    scratch_free(dir);
}

/* Another daemon's commits arrive as notifications (notify.c): "commit c
 * changed these users". A commit is named by the version it made on SQLite
 * (a commit count every process shares), by its transaction id on
 * PostgreSQL (each daemon's store tells which commits a step of its own
 * versions made visible). The cache then keeps every other user's sums,
 * and moves past a step only when it holds the message of every commit in
 * it; a missing one (lost, or never sent) leaves the cache to recount. The
 * sums always equal the report. */
static void track_one(tm *h, const char *user, int64_t tokens)
{
    tm_event ev;
    tm_event_init(&ev);
    ev.user_id = user;
    ev.provider = "openai";
    ev.model = "gpt-4o-mini";
    ev.input_tokens = tokens;
    ev.has = TM_HAS_TOKENS;
    int dup = 0;
    cr_assert_eq(tm_track_sync(h, &ev, &dup), TM_OK, "%s", tm_errmsg());
}

static void other_commit(tm *other, const char *user, int64_t tokens, int64_t *id)
{
    tm_store *s = tm__store(other);
    int64_t v0, v, ids[TM_STEP_MAX], horizon;
    size_t n = 0;
    cr_assert_eq(s->ops->version(s, &v0), TM_OK);
    track_one(other, user, tokens);
    cr_assert_eq(s->ops->version(s, &v), TM_OK);
    *id = v;
    if (s->ops->commits) { /* the step past other's own commit names just it */
        cr_assert_eq(v, v0 + 1, "version %lld after %lld", (long long)v, (long long)v0);
        cr_assert_eq(s->ops->commits(s, v, ids, &n, &horizon), TM_OK, "%s", tm_errmsg());
        cr_assert_eq(n, 1, "the step to version %lld names %zu commits, wanted 1", (long long)v, n);
        *id = ids[0];
    }
}

/* Two handles on one scratch store with uc_config: t checks, other
 * commits as another daemon would. */
static void open_two(char *dir, char *db, char *cfg, tm **t, tm **other)
{
    scratch(dir, db, cfg, uc_config);
    tm_options o = {.config = cfg};
    cr_assert_eq(tm_open(t, db, &o), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm_open(other, db, &o), TM_OK, "%s", tm_errmsg());
}

/* Checks user's quota on t and says whether the cache answered it. */
static int cached(tm *t, const char *user, int step)
{
    uint64_t h0, m0, h1, m1;
    tm__usage_stats(tm__pctx(t)->usage, &h0, &m0);
    expect_quota_equals_report(t, user, step);
    tm__usage_stats(tm__pctx(t)->usage, &h1, &m1);
    cr_assert(h1 + m1 > h0 + m0, "step %d: the check did not ask the cache", step);
    return h1 > h0;
}

Test(policy, usage_cache_notified_of_other_commits_drops_only_their_users)
{
    char dir[] = "/tmp/tmun.XXXXXX", db[512], cfg[128];
    tm *t = NULL, *other = NULL;
    open_two(dir, db, cfg, &t, &other);
    struct tm_usage_cache *uc = tm__pctx(t)->usage;
    int64_t v;
    other_commit(other, "alice", 10, &v);
    for (int i = 0; i < 3; i++) /* computed once, then from the cache */
        cr_expect_eq(cached(t, (const char *[]){"alice", "bob", "carol"}[i], 1), 0);
    cr_expect_eq(cached(t, "bob", 2), 1, "bob's second check is not from the cache");

    /* Without a notification, another's commit empties the cache (today's fallback). */
    other_commit(other, "alice", 20, &v);
    cr_expect_eq(cached(t, "bob", 3), 0, "an unseen commit kept bob's sums");
    cached(t, "alice", 3), cached(t, "carol", 3);

    /* Notified: only alice's sums go; bob's and carol's stay. */
    other_commit(other, "alice", 30, &v);
    tm__usage_notify(uc, v, "alice\n");
    cr_expect_eq(cached(t, "bob", 4), 1, "bob's sums were dropped by a commit of alice's");
    cr_expect_eq(cached(t, "alice", 4), 0, "alice's stale sums were used");
    cr_expect_eq(cached(t, "alice", 5), 1);

    /* Out of order: v+2 arrives before v+1; applied when v+1 comes. */
    int64_t v1, v2;
    other_commit(other, "bob", 40, &v1);
    other_commit(other, "alice", 50, &v2);
    tm__usage_notify(uc, v2, "alice\n");
    cr_expect_eq(cached(t, "carol", 6), 0, "v+1 not yet notified: the cache must recount");
    cached(t, "alice", 6), cached(t, "bob", 6);
    other_commit(other, "bob", 60, &v1);
    other_commit(other, "alice", 70, &v2);
    tm__usage_notify(uc, v2, "alice\n");
    tm__usage_notify(uc, v1, "bob\n");
    cr_expect_eq(cached(t, "carol", 7), 1, "both notified (out of order): carol's sums stay");
    cr_expect_eq(cached(t, "bob", 7), 0, "bob's stale sums were used");
    cr_expect_eq(cached(t, "alice", 7), 0, "alice's stale sums were used");

    /* A gap (a commit never notified) and then a later one: no shortcut. */
    other_commit(other, "carol", 80, &v1);
    other_commit(other, "alice", 90, &v2);
    tm__usage_notify(uc, v2, "alice\n");
    cr_expect_eq(cached(t, "bob", 8), 0, "a commit without its notification was skipped");
    cached(t, "carol", 8), cached(t, "alice", 8);

    /* "*" (NULL): anyone may have changed. A duplicate or old one: ignored. */
    other_commit(other, "carol", 90, &v);
    tm__usage_notify(uc, v, NULL);
    tm__usage_notify(uc, v, "nobody\n");
    cr_expect_eq(cached(t, "bob", 9), 0, "a notification for anyone kept bob's sums");
    for (int i = 0; i < 3; i++)
        expect_quota_equals_report(t, (const char *[]){"alice", "bob", "carol"}[i], 10);

    /* The daemon's own commits need no message from Redis: bob's sums stay
     * (on SQLite alice's too: the commit adds to them; on PostgreSQL they
     * are recounted once). */
    cr_expect_eq(cached(t, "bob", 11), 1);
    for (int k = 0; k < 3; k++) {
        other_commit(t, "alice", 100 + k, &v);
        cr_expect_eq(cached(t, "bob", 12 + k), 1, "round %d: t's own commit of alice's dropped bob's sums", k);
        cr_expect_eq(cached(t, "alice", 12 + k), !tst_pg(), "round %d: alice's sums after t's commit", k);
        cr_expect_eq(cached(t, "alice", 12 + k), 1, "round %d: alice's recounted sums were not kept", k);
    }
    tm_close(other);
    tm_close(t);
    scratch_free(dir);
}

/* The cache keeps at most 64 messages ahead of it (UC_PENDING): 63 or 64
 * notified commits (each a version step of t's) between two checks keep
 * bob's sums, 65 empty the cache. */
Test(policy, usage_cache_keeps_64_pending_notifications)
{
    char dir[] = "/tmp/tmun.XXXXXX", db[512], cfg[128];
    tm *t = NULL, *other = NULL;
    open_two(dir, db, cfg, &t, &other);
    struct tm_usage_cache *uc = tm__pctx(t)->usage;
    tm_store *ts = tm__store(t);
    for (int n = 63; n <= 65; n++) {
        cached(t, "bob", n);
        cr_assert_eq(cached(t, "bob", n), 1, "%d: bob's sums were not kept", n);
        for (int k = 0; k < n; k++) {
            int64_t id, v;
            other_commit(other, "alice", 1, &id);
            tm__usage_notify(uc, id, "alice\n");
            cr_assert_eq(ts->ops->version(ts, &v), TM_OK); /* t's store sees it: a step */
        }
        cr_expect_eq(cached(t, "bob", n), n <= 64, "%d notified commits: bob's sums %s, wanted %s", n,
                     n <= 64 ? "dropped" : "kept", n <= 64 ? "kept" : "dropped");
        cr_expect_eq(cached(t, "alice", n), 0, "%d: alice's stale sums were used", n);
    }
    tm_close(other);
    tm_close(t);
    scratch_free(dir);
}

/* On PostgreSQL one step of a handle's versions names at most 64 commits
 * (TM_STEP_MAX): after 63 or 64 commits by others (five handles, none
 * folding: each commits 39 times at most, a fold try comes every 128) the
 * step names each; after 65 it is unknown, and the quota cache empties. */
Test(policy, a_postgres_step_names_at_most_64_commits)
{
    if (!tst_pg())
        cr_skip_test("PostgreSQL's version steps");
    char dir[] = "/tmp/tmun.XXXXXX", db[512], cfg[128];
    scratch(dir, db, cfg, uc_config);
    tm *t = NULL, *w[5] = {NULL};
    tm_options o = {.config = cfg};
    cr_assert_eq(tm_open(&t, db, &o), TM_OK, "%s", tm_errmsg());
    for (int i = 0; i < 5; i++)
        cr_assert_eq(tm_open(&w[i], db, &o), TM_OK, "%s", tm_errmsg());
    tm_store *ts = tm__store(t);
    for (int n = 63; n <= 65; n++) {
        int64_t v0, v, ids[TM_STEP_MAX], horizon, got[65];
        size_t k = 0;
        cr_assert_eq(ts->ops->version(ts, &v0), TM_OK);
        for (int i = 0; i < n; i++) {
            track_one(w[i % 5], "alice", 1);
            tm_store *ws = tm__store(w[i % 5]); /* the writer's own step: its commit's id */
            size_t one = 0;
            cr_assert_eq(ws->ops->version(ws, &v), TM_OK);
            cr_assert_eq(ws->ops->commits(ws, v, ids, &one, &horizon), TM_OK, "%s", tm_errmsg());
            got[i] = 0; /* the newest: its own (the commits run one after another) */
            for (size_t j = 0; j < one; j++)
                got[i] = ids[j] > got[i] ? ids[j] : got[i];
        }
        cr_assert_eq(ts->ops->version(ts, &v), TM_OK);
        cr_assert_eq(v, v0 + 1, "%d commits: version %lld, wanted %lld", n, (long long)v, (long long)v0 + 1);
        int rc = ts->ops->commits(ts, v, ids, &k, &horizon);
        if (n > TM_STEP_MAX) {
            cr_expect_eq(rc, TM_ENOTFOUND, "%d commits in one step: told (%d), wanted unknown", n, rc);
            continue;
        }
        cr_assert_eq(rc, TM_OK, "%d commits in one step: %s", n, tm_errmsg());
        cr_expect_eq(k, (size_t)n, "%d commits in one step: %zu named", n, k);
        for (int i = 0; i < n && k == (size_t)n; i++) {
            int found = 0;
            for (size_t j = 0; j < k; j++)
                found |= ids[j] == got[i];
            cr_expect(found, "%d commits: commit %d (xid %lld) not named", n, i, (long long)got[i]);
        }
    }
    for (int i = 0; i < 5; i++)
        tm_close(w[i]);
    tm_close(t);
    scratch_free(dir);
}

/* The "redis" URL at its edges: ports N-1/N/N+1 around 1 and 65535, user
 * and password percent-decoded, what is refused and why; a refused URL is
 * shown with its password masked. */
Test(policy, redis_url_parse)
{
    static const struct { const char *url, *host, *user, *pass; int port; } good[] = {
        {"redis://h", "h", "", "", 6379},
        {"redis://h/", "h", "", "", 6379},
        {"redis://h:1", "h", "", "", 1},
        {"redis://h:65535", "h", "", "", 65535},
        {"redis://:pw@h:6380", "h", "", "pw", 6380},
        {"redis://alice:pw@10.0.0.1:7000/", "10.0.0.1", "alice", "pw", 7000},
        {"redis://:a%40b%3Ac%2Fd%25@h", "h", "", "a@b:c/d%", 6379},
        {"redis://u%3Ax:p%2a@h", "h", "u:x", "p*", 6379},
        {"redis://:p@ss@h:9", "h", "", "p@ss", 9}, /* an '@' not encoded: the last one ends it */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        tm_redis_addr a;
        int rc = tm__redis_parse(good[i].url, "c.json", &a);
        cr_expect_eq(rc, TM_OK, "%s: %s", good[i].url, tm_errmsg());
        cr_expect_str_eq(a.host, good[i].host, "%s: host got %s want %s", good[i].url, a.host, good[i].host);
        cr_expect_str_eq(a.user, good[i].user, "%s: user got %s want %s", good[i].url, a.user, good[i].user);
        cr_expect_str_eq(a.pass, good[i].pass, "%s: pass got %s want %s", good[i].url, a.pass, good[i].pass);
        cr_expect_eq(a.port, good[i].port, "%s: port got %d want %d", good[i].url, a.port, good[i].port);
    }
    static const struct { const char *url, *err; } bad[] = {
        {"redis://h:0", "c.json: redis: the port must be 1 to 65535, in 'redis://h:0'"},
        {"redis://h:65536", "the port must be 1 to 65535"},
        {"redis://h:", "the port must be 1 to 65535"},
        {"redis://h:-1", "the port must be 1 to 65535"},
        {"redis://h:1234567", "the port must be 1 to 65535"},
        {"redis://h:6379/0", "nothing may follow HOST:PORT"},
        {"redis://", "the host is missing"},
        {"redis://:secret@:6379", "the host is missing, in 'redis://:***@:6379'"},
        {"redis://:@h", "the password is empty"},
        {"redis://bob:@h", "the password is empty, in 'redis://bob:***@h'"},
        {"redis://secret@h", "a password is given as redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST, in 'redis://***@h'"},
        {"redis://:a%4@h", "the password has a bad %XX escape"},
        {"redis://:a%zz@h", "the password has a bad %XX escape"},
        {"redis://:a%00b@h", "the password has a bad %XX escape or a NUL"},
        {"redis://u%g:p@h", "the user has a bad %XX escape"},
        {"rediss://:secret@h:6380", "TLS (rediss://) is not supported: reach Redis through a TLS tunnel (stunnel) "
                                    "or on a private network, with redis://, in 'rediss://:***@h:6380'"},
        {"http://h", "c.json: redis: must start with redis://, in 'http://h' (the form: redis://[[USER]:PASSWORD@]HOST[:PORT])"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tm_redis_addr a;
        int rc = tm__redis_parse(bad[i].url, "c.json", &a);
        cr_expect_eq(rc, TM_EINVAL, "%s: got %d want TM_EINVAL", bad[i].url, rc);
        cr_expect(strstr(tm_errmsg(), bad[i].err) != NULL, "%s:\n  got:  %s\n  want: %s", bad[i].url,
                  tm_errmsg(), bad[i].err);
        cr_expect(!strstr(tm_errmsg(), "secret"), "%s: the password shown: %s", bad[i].url, tm_errmsg());
    }
    char buf[64];
    cr_expect_str_eq(tm__redis_shown("redis://h:1", buf, sizeof buf), "redis://h:1");
    cr_expect_str_eq(tm__redis_shown("redis://u:p%40w@h", buf, sizeof buf), "redis://u:***@h");
    cr_expect_str_eq(tm__redis_shown("redis://:p@w@h", buf, sizeof buf), "redis://:***@h");
}

/* A commit's user list: kept while it is at most TM_NOTIFY_MAX bytes
 * before a name (N-1, N), everyone ("*") past it (N+1); a name of 255
 * bytes is listed, one of 256 makes it everyone. */
static const char *commit_list(tm_buf *b, char (*names)[300], size_t n)
{
    tm_event evs[1000], *pev[1000];
    unsigned char dup[1000] = {0};
    cr_assert_leq(n, 1000);
    for (size_t i = 0; i < n; i++) {
        tm_event_init(&evs[i]);
        evs[i].user_id = names[i];
        pev[i] = &evs[i];
    }
    b->len = 0;
    cr_assert_eq(tm__commit_users(b, pev, dup, n), TM_OK);
    return b->data;
}

Test(policy, commit_user_list_limits)
{
    static char names[1000][300];
    tm_buf b = TM_BUF_INIT;
    const size_t lines = (TM_NOTIFY_MAX - 11) / 9; /* "u0000000\n": 9 bytes each */
    for (size_t i = 0; i < lines; i++)
        snprintf(names[i], sizeof names[i], "u%07zu", i);
    for (int over = -1; over <= 1; over++) {
        size_t before = lines * 9, fill = (size_t)(TM_NOTIFY_MAX + over) - before - 1;
        memset(names[lines], 'f', fill);
        names[lines][fill] = '\0';
        snprintf(names[lines + 1], sizeof names[0], "last");
        const char *got = commit_list(&b, names, lines + 2);
        size_t want_len = (size_t)(TM_NOTIFY_MAX + over) + 5;
        if (over <= 0)
            cr_expect(strlen(got) == want_len && strcmp(got + want_len - 5, "last\n") == 0,
                      "list of %d bytes before the last name: %zu bytes, ends '%s'",
                      TM_NOTIFY_MAX + over, strlen(got), got + (strlen(got) > 5 ? strlen(got) - 5 : 0));
        else
            cr_expect_str_eq(got, "*\n", "list of %d bytes before the last name", TM_NOTIFY_MAX + over);
    }
    for (int len = 255; len <= 256; len++) {
        memset(names[0], 'n', (size_t)len);
        names[0][len] = '\0';
        const char *got = commit_list(&b, names, 1);
        if (len == 255)
            cr_expect(strlen(got) == 256 && got[255] == '\n', "a 255-byte name: got %zu bytes", strlen(got));
        else
            cr_expect_str_eq(got, "*\n", "a 256-byte name");
    }
    tm__buf_free(&b);
}
