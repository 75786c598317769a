/*
 * test_event.c — the event model: every bad-input class with its message,
 * aliases and the seeds' payload shapes, provider usage normalisation
 * (cached tokens must never be counted twice), defaults and encoding.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/event.h"

#define NOW 1790859900000000LL

/* Decodes and finishes one JSON event; returns rc, fills ev and err. */
static int decode(tm_arena *a, const char *json, tm_event *ev, char *err)
{
    tm_jv *v = NULL;
    tm_event_builder b;
    int rc = tm__json_parse(a, json, strlen(json), &v, err, 256);
    if (rc)
        return rc;
    tm__event_builder_init(&b, a);
    rc = tm__event_from_json(&b, v);
    if (rc == TM_OK)
        rc = tm__event_finish(&b.ev, NOW, b.err, sizeof b.err);
    strcpy(err, b.err);
    *ev = b.ev;
    return rc;
}

static const struct {
    const char *json;
    const char *err; /* exact message */
} bad[] = {
    {"{\"input_tokens\": -1}", "input_tokens: must be a non-negative integer"},
    {"{}", "provider: missing: an LLM call needs a provider or a model (or its tokens or cost); any other event needs its metric_type"},
    {"{\"user_id\": \"u1\", \"endpoint\": \"/chat\"}", "provider: missing: an LLM call needs a provider or a model (or its tokens or cost); any other event needs its metric_type"},
    {"{\"metric_type\": \"llm_call\", \"provider\": \"\"}", "provider: missing: an LLM call needs a provider or a model (or its tokens or cost); any other event needs its metric_type"},
    {"{\"input_tokens\": 1.5}", "input_tokens: must be a non-negative integer"},
    {"{\"input_tokens\": 1e3}", "input_tokens: must be a non-negative integer"},
    {"{\"input_tokens\": \"12\"}", "input_tokens: must be a non-negative integer"},
    {"{\"input_tokens\": 9007199254740993}", "input_tokens: must be at most 2^53 (9007199254740992)"},
    {"{\"prompt_tokens\": true}", "prompt_tokens: must be a non-negative integer"},
    {"{\"output_tokens\": [1]}", "output_tokens: must be a non-negative integer"},
    {"{\"value\": -2}", "value: must not be negative"},
    {"{\"value\": \"abc\"}", "value: must be a decimal number"},
    {"{\"value\": \"NaN\"}", "value: must be a decimal number"},
    {"{\"value\": \"Infinity\"}", "value: must be a decimal number"},
    {"{\"value\": {}}", "value: must be a decimal number (a JSON number or a string)"},
    {"{\"latency_ms\": -0.5}", "latency_ms: must not be negative"},
    {"{\"cost_usd\": \"1e30\"}", "cost_usd: is out of range (0 to 9223372.036854775807)"},
    {"{\"cost\": -1}", "cost: must not be negative"},
    {"{\"timestamp\": \"2026-13-01T00:00:00Z\"}", "timestamp: has a date out of range (years 1970-9999)"},
    {"{\"timestamp\": \"yesterday\"}", "timestamp: must be RFC 3339 (2026-10-01T13:05:00Z) or epoch milliseconds"},
    {"{\"timestamp\": true}", "timestamp: must be RFC 3339 text or epoch milliseconds"},
    {"{\"success\": \"yes\"}", "success: must be true or false"},
    {"{\"cache_hit\": 1}", "cache_hit: must be true or false"},
    {"{\"status_code\": 99}", "status_code: must be an HTTP status code from 100 to 599"},
    {"{\"status_code\": 200.0}", "status_code: must be an HTTP status code from 100 to 599"},
    {"{\"provider\": 5}", "provider: must be a string"},
    {"{\"model\": null, \"user_id\": {}}", "user_id: must be a string"},
    {"{\"provider\": \"a\\u0000b\"}", "provider: must not contain a NUL character"},
    {"{\"metric_type\": \"Eval Run\"}", "metric_type: may contain only a-z, 0-9, '_' and '.'"},
    {"{\"metric_type\": \"\"}", "metric_type: must not be empty"},
    {"{\"id\": \"\"}", "id: must not be empty"},
    {"{\"metadata\": [1]}", "metadata: must be a JSON object"},
    {"{\"metadata\": \"x\"}", "metadata: must be a JSON object"},
    {"{\"usage\": 5}", "usage: must be a JSON object"},
    {"{\"usage\": {\"foo\": 1}}", "usage: is not a provider usage object (OpenAI, Anthropic or Gemini token counts)"},
    {"{\"usage\": {\"prompt_tokens\": 10, \"prompt_tokens_details\": {\"cached_tokens\": 11}}}",
     "usage.prompt_tokens_details.cached_tokens: exceeds prompt_tokens"},
    {"{\"usage\": {\"prompt_tokens\": -1}}", "usage.prompt_tokens: must be a non-negative integer"},
    {"{\"usage\": {\"input_tokens\": \"5\"}}", "usage.input_tokens: must be a non-negative integer"},
    {"{\"input_tokens\": 5, \"usage\": {\"input_tokens\": 5}}", "input_tokens: given twice (also in usage)"},
    {"{\"input_tokens\": 5, \"prompt_tokens\": 5}", "prompt_tokens: given twice (also as input_tokens)"},
    {"{\"service\": \"a\", \"provider\": \"b\"}", "provider: given twice (also as service)"},
    {"{\"user_id\": \"a\", \"userId\": \"b\"}", "userId: given twice (also as user_id)"},
    {"{\"tokens_used\": 10, \"input_tokens\": 8, \"output_tokens\": 5}",
     "total_tokens: is less than the sum of the token buckets (13)"},
    {"{\"output_tokens\": 5, \"reasoning_tokens\": 6}",
     "reasoning_tokens: exceeds output_tokens (it is a part of them)"},
    {"{\"cache_write_tokens\": 5, \"cache_write_1h_tokens\": 6}",
     "cache_write_1h_tokens: exceeds cache_write_tokens (it is a part of them)"},
    {"{\"input_tokens\": 9007199254740992, \"output_tokens\": 1}",
     "total_tokens: the token buckets add up to more than 2^53"},
    {"{\"imput_tokens\": 5}", "imput_tokens: unknown field"},
    {"{\"cost_source\": \"free\"}", "cost_source: must be reported, computed or unpriced"},
    {"[1]", "event: must be a JSON object, not an array"},
    {"\"x\"", "event: must be a JSON object, not a string"},
};

Test(event, bad_input_table)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tm_arena a = TM_ARENA_INIT;
        tm_event ev;
        char err[256] = "";
        int rc = decode(&a, bad[i].json, &ev, err);
        cr_expect_eq(rc, TM_EINVAL, "%s: rc %d", bad[i].json, rc);
        cr_expect_str_eq(err, bad[i].err, "%s", bad[i].json);
        tm__arena_free(&a);
    }
}

Test(event, long_strings_and_bad_utf8_from_c)
{
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tm_event ev;
    char err[256];
    tm_event_init(&ev);
    ev.model = big;
    cr_assert_eq(tm__event_finish(&ev, NOW, err, sizeof err), TM_EINVAL);
    cr_assert_str_eq(err, "model: must be at most 128 bytes");
    tm_event_init(&ev);
    ev.user_id = "caf\xc3";
    cr_assert_eq(tm__event_finish(&ev, NOW, err, sizeof err), TM_EINVAL);
    cr_assert_str_eq(err, "user_id: must be valid UTF-8");
    tm_event_init(&ev);
    ev.endpoint = "\xed\xa0\x80"; /* a UTF-16 surrogate */
    cr_assert_eq(tm__event_finish(&ev, NOW, err, sizeof err), TM_EINVAL);
    tm_event_init(&ev);
    ev.metadata = "{\"a\": }";
    cr_assert_eq(tm__event_finish(&ev, NOW, err, sizeof err), TM_EINVAL);
    cr_assert(strncmp(err, "metadata: invalid JSON", 22) == 0, "%s", err);
    tm_event_init(&ev);
    ev.has = TM_HAS_TOKENS;
    ev.input_tokens = -3;
    cr_assert_eq(tm__event_finish(&ev, NOW, err, sizeof err), TM_EINVAL);
    cr_assert_str_eq(err, "input_tokens: must be a non-negative integer");
}

Test(event, json_strings_over_their_limits)
{
    char json[9000];
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    snprintf(json, sizeof json, "{\"id\": \"%0129d\"}", 0);
    cr_assert_eq(decode(&a, json, &ev, err), TM_EINVAL);
    cr_assert_str_eq(err, "id: must be at most 128 bytes");
    char *p = json + sprintf(json, "{\"error\": \"");
    memset(p, 'e', 4097);
    strcpy(p + 4097, "\"}");
    cr_assert_eq(decode(&a, json, &ev, err), TM_EINVAL);
    cr_assert_str_eq(err, "error: must be at most 4096 bytes");
    tm__arena_free(&a);
}

Test(event, openai_usage_does_not_double_count_cache)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a,
                        "{\"provider\":\"openai\",\"usage\":{\"prompt_tokens\":1000,"
                        "\"completion_tokens\":300,\"total_tokens\":1300,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":800,\"audio_tokens\":0},"
                        "\"completion_tokens_details\":{\"reasoning_tokens\":120}}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.input_tokens, 200);
    cr_expect_eq(ev.cache_read_tokens, 800);
    cr_expect_eq(ev.output_tokens, 300);
    cr_expect_eq(ev.reasoning_tokens, 120);
    cr_expect_eq(ev.total_tokens, 1300); /* not 2100 */
    tm__arena_free(&a);
}

Test(event, openai_responses_usage)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a,
                        "{\"usage\":{\"input_tokens\":500,\"input_tokens_details\":{\"cached_tokens\":100},"
                        "\"output_tokens\":50,\"output_tokens_details\":{\"reasoning_tokens\":20},"
                        "\"total_tokens\":550}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.input_tokens, 400);
    cr_expect_eq(ev.cache_read_tokens, 100);
    cr_expect_eq(ev.total_tokens, 550);
    tm__arena_free(&a);
}

Test(event, anthropic_usage)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a,
                        "{\"usage\":{\"input_tokens\":10,\"output_tokens\":5,"
                        "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":50,"
                        "\"cache_creation\":{\"ephemeral_5m_input_tokens\":60,"
                        "\"ephemeral_1h_input_tokens\":40},\"service_tier\":\"standard\"}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.input_tokens, 10);
    cr_expect_eq(ev.output_tokens, 5);
    cr_expect_eq(ev.cache_read_tokens, 50);
    cr_expect_eq(ev.cache_write_tokens, 100);
    cr_expect_eq(ev.cache_write_1h_tokens, 40);
    cr_expect_eq(ev.total_tokens, 165);
    /* Without the summary field, the breakdown gives cache writes. */
    cr_assert_eq(decode(&a,
                        "{\"usage\":{\"input_tokens\":1,\"output_tokens\":1,\"cache_creation\":"
                        "{\"ephemeral_5m_input_tokens\":7,\"ephemeral_1h_input_tokens\":3}}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.cache_write_tokens, 10);
    cr_expect_eq(ev.cache_write_1h_tokens, 3);
    tm__arena_free(&a);
}

Test(event, gemini_usage)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a,
                        "{\"usage\":{\"promptTokenCount\":900,\"cachedContentTokenCount\":600,"
                        "\"candidatesTokenCount\":100,\"thoughtsTokenCount\":40,"
                        "\"totalTokenCount\":1040}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.input_tokens, 300);
    cr_expect_eq(ev.cache_read_tokens, 600);
    cr_expect_eq(ev.output_tokens, 140);
    cr_expect_eq(ev.reasoning_tokens, 40);
    cr_expect_eq(ev.total_tokens, 1040);
    tm__arena_free(&a);
}

Test(event, seed_payload_shapes)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    /* The integration guide's log_api_call (a failed call). */
    cr_assert_eq(decode(&a,
                        "{\"provider\":\"cerebras\",\"model\":\"llama3.1-8b\",\"endpoint\":"
                        "\"/chat/completions\",\"prompt_tokens\":0,\"completion_tokens\":0,"
                        "\"latency_ms\":1520,\"operation_type\":\"qualification\",\"cache_hit\":false,"
                        "\"user_id\":\"user_123\",\"success\":false,\"error_message\":\"timeout\"}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_str_eq(ev.operation, "qualification");
    cr_expect_str_eq(ev.error, "timeout");
    cr_expect_eq(ev.success, 0);
    cr_expect_eq(ev.latency_ns, 1520000000LL);
    /* The billing audit's recordUsageEvent. */
    cr_assert_eq(decode(&a,
                        "{\"userId\":\"u9\",\"metricType\":\"evaluation_run\",\"value\":3,"
                        "\"resourceType\":\"batch_evaluation\",\"resourceId\":\"b-1\","
                        "\"metadata\":{\"judgeModel\":\"gpt-4.1\",\"criteriaCount\":2}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_str_eq(ev.user_id, "u9");
    cr_expect_str_eq(ev.metric_type, "evaluation_run");
    cr_expect_eq(ev.value_nano, 3000000000LL);
    cr_expect_str_eq(ev.resource_id, "b-1");
    cr_expect_str_eq(ev.metadata, "{\"judgeModel\":\"gpt-4.1\",\"criteriaCount\":2}");
    /* The token tracker's normalised record. */
    cr_assert_eq(decode(&a,
                        "{\"timestamp\":\"2026-01-23T16:28:04Z\",\"service\":\"anthropic\","
                        "\"model\":\"claude-sonnet-4-20250514\",\"tokens_used\":1250,"
                        "\"cost_estimate\":0.005,\"metadata\":{\"request_type\":\"completion\"}}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_str_eq(ev.provider, "anthropic");
    cr_expect_eq(ev.total_tokens, 1250);
    cr_expect_eq(ev.input_tokens + ev.output_tokens, 0);
    cr_expect_eq(ev.cost_pusd, 5000000000LL);
    cr_expect_eq(ev.cost_source, TM_COST_REPORTED);
    /* The lesson's trackRequest. */
    cr_assert_eq(decode(&a, "{\"user_id\":\"u1\",\"endpoint\":\"/api/gaming/open-pack\","
                            "\"tokens\":25,\"cost_usd\":\"0.0005\"}",
                        &ev, err),
                 TM_OK, "%s", err);
    cr_expect_eq(ev.total_tokens, 25);
    cr_expect_eq(ev.cost_pusd, 500000000LL);
    tm__arena_free(&a);
}

Test(event, defaults)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a, "{\"provider\":\"openai\",\"input_tokens\":3,\"output_tokens\":4}", &ev, err), TM_OK);
    cr_expect_str_eq(ev.metric_type, "llm_call");
    cr_expect_eq(ev.value_nano, 1000000000LL);
    cr_expect_eq(ev.total_tokens, 7);
    cr_expect_eq(ev.success, 1);
    cr_expect_eq(ev.ts_us, NOW);
    cr_expect_eq(ev.cost_source, TM_COST_UNPRICED);
    cr_expect(!(ev.has & TM_HAS_LATENCY));
    cr_assert_eq(decode(&a, "{\"provider\":\"p\",\"status_code\":503}", &ev, err), TM_OK);
    cr_expect_eq(ev.success, 0);
    cr_assert_eq(decode(&a, "{\"provider\":\"p\",\"status_code\":503,\"success\":true}", &ev, err), TM_OK);
    cr_expect_eq(ev.success, 1);
    cr_assert_eq(decode(&a, "{\"provider\":\"p\",\"error\":\"boom\"}", &ev, err), TM_OK);
    cr_expect_eq(ev.success, 0);
    cr_assert_eq(decode(&a, "{\"provider\":null,\"model\":\"m\",\"timestamp\":1790859900000}", &ev, err), TM_OK);
    cr_expect_null(ev.provider);
    cr_expect_eq(ev.ts_us, 1790859900000000LL);
    tm__arena_free(&a);
}

Test(event, decimals_are_exact)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a, "{\"cost_usd\":0.1,\"value\":\"2.000000001\",\"latency_ms\":812.4}", &ev, err), TM_OK);
    cr_expect_eq(ev.cost_pusd, 100000000000LL); /* a double would give 0.1000000000000000055 */
    cr_expect_eq(ev.value_nano, 2000000001LL);
    cr_expect_eq(ev.latency_ns, 812400000LL);
    tm__arena_free(&a);
}

Test(event, events_json_output_round_trips)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a, "{\"model\":\"m\",\"cost_usd\":0.5,\"cost_source\":\"computed\"}", &ev, err), TM_OK);
    cr_expect_eq(ev.cost_source, TM_COST_UNPRICED, "tokmeter's own cost is recomputed");
    cr_expect_eq(ev.cost_pusd, 0);
    cr_assert_eq(decode(&a, "{\"cost_source\":\"reported\",\"cost_usd\":0.5}", &ev, err), TM_OK);
    cr_expect_eq(ev.cost_source, TM_COST_REPORTED);
    cr_expect_eq(ev.cost_pusd, 500000000000LL);
    tm__arena_free(&a);
}

Test(event, text_setter_for_cli)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event_builder b;
    tm__event_builder_init(&b, &a);
    cr_assert_eq(tm__event_set_text(&b, "provider", "openai"), TM_OK);
    cr_assert_eq(tm__event_set_text(&b, "prompt_tokens", "12"), TM_OK);
    cr_assert_eq(tm__event_set_text(&b, "success", "false"), TM_OK);
    cr_assert_eq(tm__event_set_text(&b, "metadata", "{\"k\": [1, 2]}"), TM_OK);
    cr_assert_eq(tm__event_set_text(&b, "input_tokens", "3"), TM_EINVAL);
    cr_assert_str_eq(b.err, "input_tokens: given twice (also as prompt_tokens)");
    cr_assert_eq(tm__event_set_text(&b, "latency_ms", "fast"), TM_EINVAL);
    cr_assert_str_eq(b.err, "latency_ms: must be a decimal number");
    cr_assert_eq(tm__event_set_text(&b, "metadata", "[1"), TM_EINVAL);
    cr_assert_eq(tm__event_set_text(&b, "cache_hit", "maybe"), TM_EINVAL);
    cr_assert_str_eq(b.err, "cache_hit: must be true or false");
    cr_assert_eq(b.ev.input_tokens, 12);
    cr_assert_eq(b.ev.success, 0);
    cr_assert_str_eq(b.ev.metadata, "{\"k\":[1,2]}");
    tm__arena_free(&a);
}

Test(event, encode_and_clone)
{
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    cr_assert_eq(decode(&a,
                        "{\"id\":\"e\\\"1\",\"timestamp\":\"2026-10-01T13:05:00Z\",\"provider\":\"openai\","
                        "\"input_tokens\":1,\"latency_ms\":2.5,\"cost_usd\":\"0.000000000001\","
                        "\"metadata\":{\"x\":1.50}}",
                        &ev, err),
                 TM_OK);
    tm_event *c = tm__event_clone(&ev);
    cr_assert_not_null(c);
    cr_assert_neq(c->provider, ev.provider);
    char buf[2048];
    size_t n = tm_event_to_json(c, buf, sizeof buf);
    cr_assert(n < sizeof buf);
    cr_expect(strstr(buf, "\"id\":\"e\\\"1\"") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"timestamp\":\"2026-10-01T13:05:00Z\"") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"latency_ms\":2.5,") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"cost_usd\":0.000000000001,\"cost_source\":\"reported\"") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"metadata\":{\"x\":1.50}}") != NULL, "%s", buf);
    free(c);
    /* Without an id the clone gets a generated, time-ordered one. */
    tm_event e2;
    tm_event_init(&e2);
    e2.provider = "p";
    cr_assert_eq(tm__event_finish(&e2, NOW, err, sizeof err), TM_OK);
    tm_event *g1 = tm__event_clone(&e2);
    e2.ts_us = NOW + 1000;
    tm_event *g2 = tm__event_clone(&e2);
    cr_assert_eq(strlen(g1->id), 26);
    cr_assert(strcmp(g1->id, g2->id) < 0);
    cr_assert(g1->has & TM__HAS_GEN_ID);
    free(g1);
    free(g2);
    tm__arena_free(&a);
}

/* What an event needs: a provider, a model, tokens or a cost for an LLM
 * call (each alone is enough), or any other metric_type. */
Test(event, says_what_it_measures)
{
    static const char *const ok[] = {
        "{\"provider\": \"openai\"}", "{\"model\": \"gpt-4o\"}", "{\"input_tokens\": 0}",
        "{\"tokens\": 25}", "{\"cost_usd\": \"0.0005\"}", "{\"metric_type\": \"evaluation_run\"}",
    };
    tm_arena a = TM_ARENA_INIT;
    tm_event ev;
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect_eq(decode(&a, ok[i], &ev, err), TM_OK, "%s: %s", ok[i], err);
    tm__arena_free(&a);
}
