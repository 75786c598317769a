/*
 * test_price.c — pricing rules, table-driven, against a test catalog whose
 * figures are worked out by hand; the built-in catalog's seed rows and
 * Anthropic's cache multipliers; bad price files; a property test against
 * an independent formula; LiteLLM import.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/event.h"
#include "../../src/core/tmtime.h"
#include "../../src/price/price.h"

static const char *CATALOG =
    "{\"models\": ["
    "{\"provider\":\"acme\",\"model\":\"big\",\"input_usd_per_mtok\":\"3\",\"output_usd_per_mtok\":15,"
    " \"cache_read_usd_per_mtok\":\"0.30\",\"cache_write_usd_per_mtok\":\"3.75\","
    " \"cache_write_1h_usd_per_mtok\":\"6\",\"tiers\":[{\"above_input_tokens\":200000,"
    " \"input_usd_per_mtok\":\"6\",\"output_usd_per_mtok\":\"22.50\",\"cache_read_usd_per_mtok\":\"0.60\","
    " \"cache_write_usd_per_mtok\":\"7.50\"}]},"
    "{\"provider\":\"acme\",\"model\":\"big-*\",\"input_usd_per_mtok\":\"1\",\"output_usd_per_mtok\":\"1\"},"
    "{\"provider\":\"acme\",\"model\":\"big-fast-*\",\"input_usd_per_mtok\":\"2\",\"output_usd_per_mtok\":\"2\"},"
    "{\"provider\":\"acme\",\"model\":\"*\",\"input_usd_per_mtok\":\"0.5\",\"output_usd_per_mtok\":\"0.5\"},"
    "{\"provider\":\"acme\",\"model\":\"tiny\",\"input_usd_per_mtok\":\"0.0375\",\"output_usd_per_mtok\":0.15},"
    "{\"provider\":\"acme\",\"model\":\"req\",\"request_usd\":\"0.000006\"},"
    "{\"provider\":\"acme\",\"model\":\"nocw\",\"input_usd_per_mtok\":\"1\",\"cache_write_usd_per_mtok\":\"1.25\"},"
    "{\"provider\":\"acme\",\"model\":\"v\",\"input_usd_per_mtok\":\"1\",\"effective_from\":\"2026-01-01T00:00:00Z\"},"
    "{\"provider\":\"acme\",\"model\":\"v\",\"input_usd_per_mtok\":\"2\",\"effective_from\":\"2026-06-01T00:00:00Z\"},"
    "{\"provider\":\"free\",\"model\":\"*\",\"input_usd_per_mtok\":\"0\",\"output_usd_per_mtok\":\"0\"},"
    "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_usd_per_mtok\":\"100\"}"
    "],"
    "\"metrics\": [{\"metric_type\":\"evaluation_run\",\"unit_usd\":\"0.05\"},"
    "{\"metric_type\":\"compute_minutes\",\"unit_usd\":0.013},"
    "{\"metric_type\":\"tick\",\"unit_usd\":\"0.000000000015\"}]}";

static tm_catalog *catalog(void)
{
    tm_catalog *c = NULL;
    cr_assert_eq(tm__catalog_load(&c, NULL), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__catalog_add_json(c, CATALOG, strlen(CATALOG), "test prices"), TM_OK, "%s",
                 tm_errmsg());
    return c;
}

/* Prices an event given as JSON (finished at `now`). */
static int price(tm_catalog *c, const char *json, tm_event *ev, tm_price_why *why)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *v;
    char err[256];
    tm_event_builder b;
    cr_assert_eq(tm__json_parse(&a, json, strlen(json), &v, err, sizeof err), TM_OK, "%s", err);
    tm__event_builder_init(&b, &a);
    cr_assert_eq(tm__event_from_json(&b, v), TM_OK, "%s: %s", json, b.err);
    cr_assert_eq(tm__event_finish(&b.ev, 1790859900000000LL, err, sizeof err), TM_OK, "%s", err);
    int rc = tm__price_event(c, &b.ev, why);
    *ev = b.ev;
    ev->provider = ev->model = NULL; /* strings die with the arena */
    tm__arena_free(&a);
    return rc;
}

static const struct {
    const char *json;
    int64_t pusd;
    int source;
    const char *rule;
} cases[] = {
    /* exact name: 1000×3 + 500×15 µUSD */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"input_tokens\":1000,\"output_tokens\":500}",
     10500000000LL, TM_COST_COMPUTED, "exact"},
    /* names are matched without regard to case */
    {"{\"provider\":\"ACME\",\"model\":\"Big\",\"input_tokens\":1000,\"output_tokens\":500}",
     10500000000LL, TM_COST_COMPUTED, "exact"},
    /* exactly at the tier threshold is not above it: base prices */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"input_tokens\":150000,\"cache_read_tokens\":50000}",
     465000000000LL, TM_COST_COMPUTED, "exact"},
    /* one token above: the tier's prices for every token */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"input_tokens\":150000,\"cache_read_tokens\":50001}",
     930000600000LL, TM_COST_COMPUTED, "exact"},
    /* cache writes: 600 at the 5-minute price, 400 at the 1-hour price */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"cache_write_tokens\":1000,\"cache_write_1h_tokens\":400}",
     4650000000LL, TM_COST_COMPUTED, "exact"},
    /* no 1-hour price: the cache-write price */
    {"{\"provider\":\"acme\",\"model\":\"nocw\",\"cache_write_tokens\":1000,\"cache_write_1h_tokens\":400}",
     1250000000LL, TM_COST_COMPUTED, "exact"},
    /* a tier without a 1-hour price: the tier's cache-write price */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"input_tokens\":300000,\"cache_write_tokens\":1000,"
     "\"cache_write_1h_tokens\":400}",
     1807500000000LL, TM_COST_COMPUTED, "exact"},
    /* the glob with the longest literal prefix */
    {"{\"provider\":\"acme\",\"model\":\"big-2025\",\"input_tokens\":1000}", 1000000000LL,
     TM_COST_COMPUTED, "glob"},
    {"{\"provider\":\"acme\",\"model\":\"big-fast-1\",\"input_tokens\":1000}", 2000000000LL,
     TM_COST_COMPUTED, "glob"},
    {"{\"provider\":\"acme\",\"model\":\"other\",\"input_tokens\":1000}", 500000000LL,
     TM_COST_COMPUTED, "glob"},
    /* $0.0375 per million tokens */
    {"{\"provider\":\"acme\",\"model\":\"tiny\",\"input_tokens\":1000000}", 37500000000LL,
     TM_COST_COMPUTED, "exact"},
    {"{\"provider\":\"acme\",\"model\":\"tiny\",\"input_tokens\":1}", 37500LL, TM_COST_COMPUTED, "exact"},
    /* per-request price */
    {"{\"provider\":\"acme\",\"model\":\"req\",\"input_tokens\":99999}", 6000000LL, TM_COST_COMPUTED, "exact"},
    /* unknown provider: unpriced, never silently free */
    {"{\"provider\":\"nobody\",\"model\":\"x\",\"input_tokens\":1000}", 0, TM_COST_UNPRICED, "unpriced"},
    /* a free model is priced at 0, not unpriced */
    {"{\"provider\":\"free\",\"model\":\"anything\",\"input_tokens\":1000}", 0, TM_COST_COMPUTED, "glob"},
    /* a reported cost is kept exactly, whatever the catalog says */
    {"{\"provider\":\"acme\",\"model\":\"big\",\"input_tokens\":1000,\"cost_usd\":\"0.123\"}",
     123000000000LL, TM_COST_REPORTED, "reported"},
    /* effective_from: before any version of the exact name, the glob applies */
    {"{\"provider\":\"acme\",\"model\":\"v\",\"input_tokens\":1000,\"timestamp\":\"2025-12-31T23:59:59Z\"}",
     500000000LL, TM_COST_COMPUTED, "glob"},
    {"{\"provider\":\"acme\",\"model\":\"v\",\"input_tokens\":1000,\"timestamp\":\"2026-03-01T00:00:00Z\"}",
     1000000000LL, TM_COST_COMPUTED, "exact"},
    {"{\"provider\":\"acme\",\"model\":\"v\",\"input_tokens\":1000,\"timestamp\":\"2026-06-01T00:00:00Z\"}",
     2000000000LL, TM_COST_COMPUTED, "exact"},
    {"{\"provider\":\"acme\",\"model\":\"v\",\"input_tokens\":1000,\"timestamp\":\"2026-05-31T23:59:59.999999Z\"}",
     1000000000LL, TM_COST_COMPUTED, "exact"},
    /* a user's entry overrides the built-in one */
    {"{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1}", 100000000LL, TM_COST_COMPUTED, "exact"},
    /* no provider: an exact model name under any provider; a bare * never */
    {"{\"model\":\"tiny\",\"input_tokens\":1}", 37500LL, TM_COST_COMPUTED, "exact"},
    {"{\"model\":\"zzz\",\"input_tokens\":1}", 0, TM_COST_UNPRICED, "unpriced"},
    /* other metric types: value × unit */
    {"{\"metricType\":\"evaluation_run\",\"value\":3}", 150000000000LL, TM_COST_COMPUTED, "metric"},
    {"{\"metric_type\":\"compute_minutes\",\"value\":\"12.5\"}", 162500000000LL, TM_COST_COMPUTED, "metric"},
    {"{\"metric_type\":\"tick\",\"value\":\"0.1\"}", 2, TM_COST_COMPUTED, "metric"},  /* 1.5 → 2 */
    {"{\"metric_type\":\"tick\",\"value\":\"0.3\"}", 4, TM_COST_COMPUTED, "metric"},  /* 4.5 → 4 */
    {"{\"metric_type\":\"research_job\"}", 0, TM_COST_UNPRICED, "unpriced"},
};

Test(price, rules_table)
{
    tm_catalog *c = catalog();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tm_event ev;
        tm_price_why why;
        cr_assert_eq(price(c, cases[i].json, &ev, &why), TM_OK, "%s", cases[i].json);
        cr_expect_eq(ev.cost_pusd, cases[i].pusd, "%s: cost %lld, want %lld", cases[i].json,
                     (long long)ev.cost_pusd, (long long)cases[i].pusd);
        cr_expect_eq(ev.cost_source, cases[i].source, "%s: source %d", cases[i].json, ev.cost_source);
        cr_expect_str_eq(why.rule, cases[i].rule, "%s", cases[i].json);
    }
    tm__catalog_free(c);
}

Test(price, seed_rows_are_exact)
{
    tm_catalog *c = NULL;
    cr_assert_eq(tm__catalog_load(&c, NULL), TM_OK, "%s", tm_errmsg());
    static const struct { const char *p, *m; int64_t in, out, req; } seed[] = {
        {"cerebras", "llama3.1-8b", 0, 0, 6000000},
        {"anthropic", "claude-3-sonnet", 3000000, 15000000, 0},
        {"anthropic", "claude-3-haiku", 250000, 1250000, 0},
        {"deepseek", "deepseek-chat", 270000, 1100000, 0},
        {"deepseek", "deepseek-reasoner", 550000, 2190000, 0},
        {"openrouter", "meta-llama/llama-3-70b", 500000, 1500000, 0},
        {"ollama", "llama3", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++) {
        int exact;
        const tm_price_entry *e = tm__price_match(c, seed[i].p, seed[i].m, tm__now_us(), &exact);
        cr_assert_not_null(e, "%s/%s", seed[i].p, seed[i].m);
        cr_expect_eq(e->base.in, seed[i].in, "%s", seed[i].m);
        cr_expect_eq(e->base.out, seed[i].out, "%s", seed[i].m);
        cr_expect_eq(e->base.request, seed[i].req, "%s", seed[i].m);
    }
    /* Anthropic: 5-minute writes 1.25×, 1-hour writes 2×, reads 0.1× input. */
    const tm_price_entry *const *es;
    size_t n = tm__catalog_entries(c, &es), anthropic = 0;
    for (size_t i = 0; i < n; i++) {
        const tm_price_entry *e = es[i];
        cr_expect_not_null(e->checked, "%s/%s has no checked date", e->provider, e->model);
        if (strcmp(e->provider, "anthropic") != 0)
            continue;
        anthropic++;
        cr_expect_eq(e->base.cache_write * 4, e->base.in * 5, "%s", e->model);
        cr_expect_eq(e->base.cache_write_1h, e->base.in * 2, "%s", e->model);
        cr_expect_eq(e->base.cache_read * 10, e->base.in, "%s", e->model);
    }
    cr_expect_gt(anthropic, 10);
    /* Dated model ids fall to their family's glob, not a shorter one. */
    int exact;
    const tm_price_entry *e = tm__price_match(c, "anthropic", "claude-opus-4-5-20251101", tm__now_us(), &exact);
    cr_assert_not_null(e);
    cr_expect_str_eq(e->model, "claude-opus-4-5-*");
    e = tm__price_match(c, "openai", "gpt-4o-mini-2024-07-18", tm__now_us(), &exact);
    cr_assert_not_null(e);
    cr_expect_str_eq(e->model, "gpt-4o-mini-2*");
    tm__catalog_free(c);
}

static const struct {
    const char *json, *err;
} bad_files[] = {
    {"{\"models\":[{\"provider\":\"a\",\"model\":\"b\",\"input_usd_per_mtok\":\"0.0000001\"}]}",
     "t: models[0].input_usd_per_mtok: has more than 6 decimal places (a price per million tokens is kept to 1e-12 USD per token)"},
    {"{\"models\":[{\"model\":\"b\"}]}", "t: models[0].provider: is required"},
    {"{\"models\":[{\"provider\":\"a\",\"model\":\"b\",\"inptu_usd_per_mtok\":1}]}",
     "t: models[0].inptu_usd_per_mtok: unknown field"},
    {"{\"models\":[{\"provider\":\"a\",\"model\":\"b\",\"output_usd_per_mtok\":-1}]}",
     "t: models[0].output_usd_per_mtok: must not be negative"},
    {"{\"models\":[{\"provider\":\"a\",\"model\":\"b\",\"tiers\":[{\"above_input_tokens\":5},{\"above_input_tokens\":5}]}]}",
     "t: models[0].tiers[1].above_input_tokens: tiers must be in ascending order"},
    {"{\"models\":[{\"provider\":\"a\",\"model\":\"b\",\"effective_from\":\"soon\"}]}",
     "t: models[0].effective_from: must be an RFC 3339 time (2025-09-29T00:00:00Z)"},
    {"{\"metrics\":[{\"metric_type\":\"x\"}]}", "t: metrics[0].unit_usd: is required"},
    {"{\"model\":[]}", "t: model: unknown field (expected models, metrics)"},
    {"{\"models\":{}}", "t: models: must be an array"},
    {"[1]", "t: must be a JSON object with \"models\" and \"metrics\""},
    {"{\"models\":[}", "t: invalid JSON at byte 12: unallowed token at this point in JSON text"},
};

Test(price, bad_price_files)
{
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        tm_catalog *c = tm__catalog_new();
        cr_expect_eq(tm__catalog_add_json(c, bad_files[i].json, strlen(bad_files[i].json), "t"),
                     TM_EINVAL, "%s", bad_files[i].json);
        cr_expect_str_eq(tm_errmsg(), bad_files[i].err);
        tm__catalog_free(c);
    }
    tm_catalog *c = NULL;
    cr_expect_eq(tm__catalog_load(&c, "/nonexistent/prices.json"), TM_ENOTFOUND);
    cr_expect(strstr(tm_errmsg(), "/nonexistent/prices.json") != NULL);
}

/* Property: for random events on acme/big, the cost is exactly the formula
 * computed here independently, tier boundary included. */
Test(price, property_matches_independent_formula)
{
    tm_catalog *c = catalog();
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int64_t in = (int64_t)(r % 250000), out = (int64_t)((r >> 20) % 50000),
                cr = (int64_t)((r >> 36) % 60000), cw = (int64_t)((r >> 50) % 5000);
        int64_t cw1h = cw ? (int64_t)(r % (uint64_t)(cw + 1)) : 0;
        tm_event ev;
        tm_event_init(&ev);
        ev.provider = "acme";
        ev.model = "big";
        ev.input_tokens = in, ev.output_tokens = out, ev.cache_read_tokens = cr;
        ev.cache_write_tokens = cw, ev.cache_write_1h_tokens = cw1h;
        ev.has = TM_HAS_TOKENS;
        char err[256];
        cr_assert_eq(tm__event_finish(&ev, 1790859900000000LL, err, sizeof err), TM_OK);
        cr_assert_eq(tm__price_event(c, &ev, NULL), TM_OK);
        int tier = in + cr + cw > 200000;
        __int128 want = (__int128)in * (tier ? 6000000 : 3000000) +
                        (__int128)out * (tier ? 22500000 : 15000000) +
                        (__int128)cr * (tier ? 600000 : 300000) +
                        (__int128)(cw - cw1h) * (tier ? 7500000 : 3750000) +
                        (__int128)cw1h * (tier ? 7500000 : 6000000);
        cr_assert_eq(ev.cost_pusd, (int64_t)want, "in=%lld out=%lld cr=%lld cw=%lld/%lld",
                     (long long)in, (long long)out, (long long)cr, (long long)cw, (long long)cw1h);
    }
    tm__catalog_free(c);
}

Test(price, cost_overflow_is_an_error)
{
    tm_catalog *c = catalog();
    tm_event ev;
    tm_event_init(&ev);
    ev.provider = "acme";
    ev.model = "big";
    ev.output_tokens = 1LL << 53;
    ev.has = TM_HAS_TOKENS;
    char err[256];
    cr_assert_eq(tm__event_finish(&ev, 1790859900000000LL, err, sizeof err), TM_OK);
    cr_assert_eq(tm__price_event(c, &ev, NULL), TM_EINVAL);
    cr_assert(strstr(tm_errmsg(), "exceeds") != NULL);
    tm__catalog_free(c);
}

Test(price, litellm_import)
{
    tm_buf in = TM_BUF_INIT, out = TM_BUF_INIT;
    size_t n, skipped;
    cr_assert_eq(tm__buf_read_file(&in, "tests/data/litellm_sample.json"), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm__price_import_litellm(in.data, in.len, &out, &n, &skipped, NULL), TM_OK, "%s", tm_errmsg());
    cr_expect_eq(n, 4);
    cr_expect_eq(skipped, 2);
    /* The converted file loads, and prices exactly as LiteLLM's per-token costs. */
    tm_catalog *c = tm__catalog_new();
    cr_assert_eq(tm__catalog_add_json(c, out.data, out.len, "imported"), TM_OK, "%s\n%s", tm_errmsg(), out.data);
    int exact;
    const tm_price_entry *e = tm__price_match(c, "anthropic", "claude-sonnet-4-5", 0, &exact);
    cr_assert_not_null(e);
    cr_expect_eq(e->base.in, 3000000);
    cr_expect_eq(e->base.cache_write, 3750000);
    cr_expect_eq(e->base.cache_write_1h, 6000000);
    cr_assert_eq(e->ntiers, 1);
    cr_expect_eq(e->tiers[0].above, 200000);
    cr_expect_eq(e->tiers[0].p.out, 22500000);
    e = tm__price_match(c, "openrouter", "anthropic/claude-3.5-sonnet", 0, &exact);
    cr_assert_not_null(e, "%s", out.data);
    cr_expect_eq(e->base.out, 15000000);
    e = tm__price_match(c, "openai", "gpt-4o-mini", 0, &exact);
    cr_assert_not_null(e);
    cr_expect_eq(e->base.cache_read, 75000);
    e = tm__price_match(c, "mistral", "tiny-model", 0, &exact);
    cr_assert_not_null(e);
    cr_expect_eq(e->base.in, 37500); /* 3.75e-08 per token = $0.0375 per M */
    tm__catalog_free(c);
    tm__buf_free(&in);
    tm__buf_free(&out);
}

/* Converts LiteLLM JSON and loads it as the only price file. */
static tm_catalog *litellm_catalog(const char *json, size_t *n, tm_buf *notes)
{
    tm_buf out = TM_BUF_INIT;
    size_t skipped;
    cr_assert_eq(tm__price_import_litellm(json, strlen(json), &out, n, &skipped, notes), TM_OK, "%s",
                 tm_errmsg());
    tm_catalog *c = tm__catalog_new();
    cr_assert_eq(tm__catalog_add_json(c, out.data, out.len, "imported"), TM_OK, "%s\n%s", tm_errmsg(),
                 out.data);
    tm__buf_free(&out);
    return c;
}

/* One model named twice ("acme-big", then "acme/acme-big" without cache
 * or long-context prices): one entry, the provider-named one's prices,
 * the rest from the other; reported. In either order. */
Test(price, litellm_one_model_named_twice)
{
    static const char *const files[] = {
        "{\"acme-big\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06,"
        " \"cache_read_input_token_cost\": 1e-07, \"input_cost_per_token_above_200k_tokens\": 3e-06,"
        " \"litellm_provider\": \"acme\"},"
        " \"acme/acme-big\": {\"input_cost_per_token\": 1.1e-06, \"output_cost_per_token\": 2.2e-06,"
        " \"litellm_provider\": \"acme\"}}",
        "{\"acme/acme-big\": {\"input_cost_per_token\": 1.1e-06, \"output_cost_per_token\": 2.2e-06,"
        " \"litellm_provider\": \"acme\"},"
        " \"acme-big\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06,"
        " \"cache_read_input_token_cost\": 1e-07, \"input_cost_per_token_above_200k_tokens\": 3e-06,"
        " \"litellm_provider\": \"acme\"}}",
    };
    static const char *const notes_want[] = {
        "acme/acme-big is named 2 times (\"acme-big\", \"acme/acme-big\"): kept \"acme/acme-big\" (its "
        "key names the provider), a price it lacks taken from the others\n",
        "acme/acme-big is named 2 times (\"acme/acme-big\", \"acme-big\"): kept \"acme/acme-big\" (its "
        "key names the provider), a price it lacks taken from the others\n",
    };
    for (size_t f = 0; f < 2; f++) {
        size_t n;
        tm_buf notes = TM_BUF_INIT;
        tm_catalog *c = litellm_catalog(files[f], &n, &notes);
        cr_expect_eq(n, 1, "file %zu: %zu models", f, n);
        cr_expect_str_eq(notes.data ? notes.data : "", notes_want[f], "file %zu", f);
        tm_event ev;
        tm_price_why why;
        /* 1000 in at 1.1, 1000 out at 2.2, 10000 cache reads at 0.1 $/M */
        cr_assert_eq(price(c, "{\"provider\":\"acme\",\"model\":\"acme-big\",\"input_tokens\":1000,"
                              "\"output_tokens\":1000,\"cache_read_tokens\":10000}", &ev, &why), TM_OK);
        cr_expect_eq(ev.cost_pusd, 1000 * 1100000LL + 1000 * 2200000LL + 10000 * 100000LL,
                     "file %zu: cost %lld pUSD", f, (long long)ev.cost_pusd);
        /* above 200k input: the tier's input price, the base's others */
        cr_assert_eq(price(c, "{\"provider\":\"acme\",\"model\":\"acme-big\",\"input_tokens\":300000,"
                              "\"output_tokens\":1000}", &ev, &why), TM_OK);
        cr_expect_eq(ev.cost_pusd, 300000 * 3000000LL + 1000 * 2200000LL, "file %zu: tier cost %lld",
                     f, (long long)ev.cost_pusd);
        tm__catalog_free(c);
        tm__buf_free(&notes);
    }
}

/* A long-context tier naming only its input price keeps the base output
 * and cache prices (limits: 200000 inputs is not above, 200001 is). */
Test(price, litellm_tier_with_only_an_input_price)
{
    size_t n;
    tm_catalog *c = litellm_catalog(
        "{\"solo\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 5e-06,"
        " \"cache_read_input_token_cost\": 1e-07, \"cache_creation_input_token_cost\": 1.25e-06,"
        " \"input_cost_per_token_above_200k_tokens\": 2e-06, \"litellm_provider\": \"acme\"}}",
        &n, NULL);
    cr_expect_eq(n, 1);
    static const struct {
        int64_t in, cost;
    } tiers_at[] = {
        /* inputs = in + 1000 cache reads + 1000 cache writes */
        {197999, 197999 * 1000000LL},
        {198000, 198000 * 1000000LL},
        {198001, 198001 * 2000000LL},
    };
    for (size_t i = 0; i < sizeof tiers_at / sizeof tiers_at[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"provider\":\"acme\",\"model\":\"solo\",\"input_tokens\":%lld,"
                                    "\"output_tokens\":1000,\"cache_read_tokens\":1000,"
                                    "\"cache_write_tokens\":1000}", (long long)tiers_at[i].in);
        tm_event ev;
        tm_price_why why;
        cr_assert_eq(price(c, json, &ev, &why), TM_OK, "%s", tm_errmsg());
        int64_t want = tiers_at[i].cost + 1000 * 5000000LL + 1000 * 100000LL + 1000 * 1250000LL;
        cr_expect_eq(ev.cost_pusd, want, "%lld input tokens: cost %lld pUSD, want %lld",
                     (long long)tiers_at[i].in, (long long)ev.cost_pusd, (long long)want);
    }
    tm__catalog_free(c);
}
