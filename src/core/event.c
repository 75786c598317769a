/*
 * event.c — decoding, validating and encoding usage events.
 *
 * The field table below is the single list of accepted spellings. Each
 * spelling maps to a canonical field and a kind; a canonical field may be
 * given once (under any one of its spellings, or through a provider
 * `usage` object). Messages name the spelling the caller used:
 *
 *   spelling            canonical         kind
 *   prompt_tokens   ─►  input_tokens      non-negative integer ≤ 2^53
 *   cost_estimate   ─►  cost_usd          decimal → pico-USD
 *   userId          ─►  user_id           string ≤ 128 bytes
 *
 * Provider usage objects are normalised into tokmeter's non-overlapping
 * token buckets (input, output, cache_read, cache_write):
 *
 *   OpenAI chat       input = prompt_tokens − cached_tokens, cache_read = cached
 *   OpenAI responses  input = input_tokens − cached_tokens,  cache_read = cached
 *   Anthropic         already disjoint; cache_write = cache_creation_input_tokens
 *   Gemini            input = promptTokenCount − cachedContentTokenCount,
 *                     output = candidates + thoughts (thoughts are billed)
 */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dec.h"
#include "tmtime.h"

enum field {
    F_ID, F_TS, F_PROVIDER, F_MODEL, F_ENDPOINT, F_OPERATION, F_USER, F_SESSION, F_PROJECT,
    F_METRIC, F_VALUE, F_RTYPE, F_RID, F_IN, F_OUT, F_CR, F_CW, F_CW1H, F_REASON,
    F_TOTAL, F_LATENCY, F_SUCCESS, F_STATUS, F_ERROR, F_CACHE_HIT, F_COST, F_META,
    F_USAGE, F_COST_SOURCE, F_COUNT
};

_Static_assert(F_COUNT <= 32, "tm_event_builder.given is too small");

enum kind { K_STR, K_INT, K_DEC, K_BOOL, K_TS, K_STATUS, K_OBJ };

static const struct spelling {
    const char *name;
    enum field f;
    enum kind k;
    const char *help; /* on the canonical spelling only */
} spellings[] = {
    {"id", F_ID, K_STR, "idempotency key, at most 128 bytes; a repeat is a duplicate"},
    {"timestamp", F_TS, K_TS, "RFC 3339 or epoch milliseconds; default: arrival time"},
    {"provider", F_PROVIDER, K_STR, "openai, anthropic, ..."},
    {"service", F_PROVIDER, K_STR, NULL},
    {"model", F_MODEL, K_STR, "model name as the provider reports it"},
    {"endpoint", F_ENDPOINT, K_STR, "API route or application endpoint"},
    {"operation", F_OPERATION, K_STR, "what the call was for"},
    {"operation_type", F_OPERATION, K_STR, NULL},
    {"user_id", F_USER, K_STR, "the end user or tenant"},
    {"userId", F_USER, K_STR, NULL},
    {"session_id", F_SESSION, K_STR, "conversation or agent session"},
    {"sessionId", F_SESSION, K_STR, NULL},
    {"project", F_PROJECT, K_STR, "the project or workspace the usage belongs to"},
    {"metric_type", F_METRIC, K_STR, "[a-z0-9_.]{1,64}; default llm_call"},
    {"metricType", F_METRIC, K_STR, NULL},
    {"value", F_VALUE, K_DEC, "decimal >= 0; default 1"},
    {"resource_type", F_RTYPE, K_STR, "kind of the resource used"},
    {"resourceType", F_RTYPE, K_STR, NULL},
    {"resource_id", F_RID, K_STR, "the resource used"},
    {"resourceId", F_RID, K_STR, NULL},
    {"input_tokens", F_IN, K_INT, "uncached input tokens"},
    {"prompt_tokens", F_IN, K_INT, NULL},
    {"output_tokens", F_OUT, K_INT, "output tokens, reasoning included"},
    {"completion_tokens", F_OUT, K_INT, NULL},
    {"cache_read_tokens", F_CR, K_INT, "input tokens read from the provider's cache"},
    {"cache_write_tokens", F_CW, K_INT, "input tokens written to the provider's cache"},
    {"cache_write_1h_tokens", F_CW1H, K_INT, "the part of cache_write_tokens with a 1-hour lifetime"},
    {"reasoning_tokens", F_REASON, K_INT, "the part of output_tokens spent reasoning"},
    {"total_tokens", F_TOTAL, K_INT, "given total; default: the sum of the buckets"},
    {"tokens_used", F_TOTAL, K_INT, NULL},
    {"tokens", F_TOTAL, K_INT, NULL},
    {"latency_ms", F_LATENCY, K_DEC, "decimal >= 0"},
    {"success", F_SUCCESS, K_BOOL, "default: false when status_code >= 400 or error is given"},
    {"status_code", F_STATUS, K_STATUS, "HTTP status, 100-599"},
    {"error", F_ERROR, K_STR, "error message, at most 4096 bytes"},
    {"error_message", F_ERROR, K_STR, NULL},
    {"cache_hit", F_CACHE_HIT, K_BOOL, "an application-level cache answered"},
    {"cost_usd", F_COST, K_DEC, "provider-reported cost; if absent tokmeter prices the event"},
    {"cost_estimate", F_COST, K_DEC, NULL},
    {"cost", F_COST, K_DEC, NULL},
    {"metadata", F_META, K_OBJ, "JSON object, kept verbatim, at most 64 KiB"},
    {"usage", F_USAGE, K_OBJ, "a provider usage object (OpenAI, Anthropic, Gemini)"},
    {"cost_source", F_COST_SOURCE, K_STR,
     "as `events --json` writes it: with computed or unpriced, cost_usd is dropped and the "
     "event priced afresh"},
};
#define NSPELL (sizeof spellings / sizeof spellings[0])

static const char *canonical_name(enum field f)
{
    for (size_t i = 0; i < NSPELL; i++)
        if (spellings[i].f == f)
            return spellings[i].name;
    return "?";
}

void tm__event_fields(void (*fn)(void *, const char *, const char *, const char *), void *arg)
{
    for (size_t i = 0; i < NSPELL; i++)
        fn(arg, spellings[i].name, canonical_name(spellings[i].f), spellings[i].help);
}

void tm_event_init(tm_event *ev) { memset(ev, 0, sizeof *ev); }

void tm__event_builder_init(tm_event_builder *b, tm_arena *a)
{
    memset(b, 0, sizeof *b);
    b->arena = a;
}

static int failf(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "%s: %s", name, why);
    return TM_EINVAL;
}

#define FAIL(name, why) failf(b->err, sizeof b->err, (name), (why))

static int64_t *token_slot(tm_event *ev, enum field f)
{
    switch (f) {
    case F_IN: return &ev->input_tokens;
    case F_OUT: return &ev->output_tokens;
    case F_CR: return &ev->cache_read_tokens;
    case F_CW: return &ev->cache_write_tokens;
    case F_CW1H: return &ev->cache_write_1h_tokens;
    case F_REASON: return &ev->reasoning_tokens;
    case F_TOTAL: return &ev->total_tokens;
    default: return NULL;
    }
}

static const char **string_slot(tm_event *ev, enum field f)
{
    switch (f) {
    case F_ID: return &ev->id;
    case F_PROVIDER: return &ev->provider;
    case F_MODEL: return &ev->model;
    case F_ENDPOINT: return &ev->endpoint;
    case F_OPERATION: return &ev->operation;
    case F_USER: return &ev->user_id;
    case F_SESSION: return &ev->session_id;
    case F_PROJECT: return &ev->project;
    case F_METRIC: return &ev->metric_type;
    case F_RTYPE: return &ev->resource_type;
    case F_RID: return &ev->resource_id;
    case F_ERROR: return &ev->error;
    case F_META: return &ev->metadata;
    default: return NULL;
    }
}

/* Claims canonical field f for spelling name; refuses a second spelling. */
static int claim(tm_event_builder *b, enum field f, const char *name)
{
    if (b->given[f]) {
        char why[160];
        snprintf(why, sizeof why, "given twice (also as %s)", b->given[f]);
        return FAIL(name, why);
    }
    b->given[f] = name;
    return TM_OK;
}

static int parse_tokens(tm_event_builder *b, const char *name, const char *s, size_t n,
                        int64_t *out)
{
    uint64_t v;
    int rc = tm__uint_parse(s, n, (uint64_t)TM_TOKENS_MAX, &v);
    if (rc == TM_DEC_RANGE)
        return FAIL(name, "must be at most 2^53 (9007199254740992)");
    if (rc != TM_DEC_OK)
        return FAIL(name, "must be a non-negative integer");
    *out = (int64_t)v;
    return TM_OK;
}

static int set_tokens(tm_event_builder *b, enum field f, const char *name, const char *s,
                      size_t n)
{
    int rc = parse_tokens(b, name, s, n, token_slot(&b->ev, f));
    if (rc == TM_OK)
        b->ev.has |= f == F_TOTAL ? TM_HAS_TOTAL : TM_HAS_TOKENS;
    return rc;
}

static int set_decimal(tm_event_builder *b, enum field f, const char *name, const char *s,
                       size_t n)
{
    int scale = f == F_COST ? 12 : f == F_VALUE ? 9 : 6;
    int64_t v;
    int rc = tm__dec_parse(s, n, scale, 0, &v);
    if (rc == TM_DEC_NEGATIVE)
        return FAIL(name, "must not be negative");
    if (rc == TM_DEC_RANGE) {
        char why[96];
        int64_t unit = 1;
        for (int i = 0; i < scale; i++)
            unit *= 10;
        snprintf(why, sizeof why, "is out of range (0 to %lld.%0*lld)", (long long)(INT64_MAX / unit),
                 scale, (long long)(INT64_MAX % unit));
        return FAIL(name, why);
    }
    if (rc != TM_DEC_OK)
        return FAIL(name, "must be a decimal number");
    switch (f) {
    case F_VALUE: b->ev.value_nano = v; b->ev.has |= TM_HAS_VALUE; break;
    case F_LATENCY: b->ev.latency_ns = v; b->ev.has |= TM_HAS_LATENCY; break;
    default: b->ev.cost_pusd = v; b->ev.has |= TM_HAS_COST; break;
    }
    return TM_OK;
}

static int set_status(tm_event_builder *b, const char *name, const char *s, size_t n)
{
    uint64_t v;
    if (tm__uint_parse(s, n, 999, &v) != TM_DEC_OK || v < 100 || v > 599)
        return FAIL(name, "must be an HTTP status code from 100 to 599");
    b->ev.status_code = (int)v;
    b->ev.has |= TM_HAS_STATUS;
    return TM_OK;
}

static void set_bool(tm_event_builder *b, enum field f, int v)
{
    if (f == F_SUCCESS) {
        b->ev.success = v;
        b->ev.has |= TM_HAS_SUCCESS;
    } else {
        b->ev.cache_hit = v;
        b->ev.has |= TM_HAS_CACHE_HIT;
    }
}

static int set_ts(tm_event_builder *b, const char *name, const char *s, size_t n)
{
    const char *why = NULL;
    if (tm__time_parse(s, n, &b->ev.ts_us, &why) != 0)
        return FAIL(name, why);
    b->ev.has |= TM_HAS_TS;
    return TM_OK;
}

/* cost_source on input: only "reported" keeps cost_usd; tokmeter's own
 * figures (computed, unpriced) are recomputed when the event is stored. */
static int set_cost_source(tm_event_builder *b, const char *name, const char *v)
{
    if (strcmp(v, "reported") == 0)
        return TM_OK;
    if (strcmp(v, "computed") != 0 && strcmp(v, "unpriced") != 0)
        return FAIL(name, "must be reported, computed or unpriced");
    b->drop_cost = 1;
    return TM_OK;
}

/* ---- provider usage objects ---- */

/* Reads usage member `key` (optionally inside object `sub`) as tokens; an
 * absent or null member is 0. */
static int usage_int(tm_event_builder *b, const tm_jv *u, const char *sub, const char *key,
                     int64_t *out)
{
    char name[128];
    const tm_jv *o = sub ? tm__json_get(u, sub) : u;
    const tm_jv *v = tm__json_get(o, key);
    *out = 0;
    if (!v || v->type == TM_J_NULL)
        return TM_OK;
    if (sub)
        snprintf(name, sizeof name, "usage.%s.%s", sub, key);
    else
        snprintf(name, sizeof name, "usage.%s", key);
    char *stable = tm__arena_strndup(b->arena, name, strlen(name));
    if (!stable)
        return TM_ENOMEM;
    if (v->type != TM_J_NUMBER)
        return FAIL(stable, "must be a non-negative integer");
    return parse_tokens(b, stable, v->s, v->n, out);
}

static int set_usage(tm_event_builder *b, const tm_jv *u)
{
    int64_t in = 0, out = 0, cr = 0, cw = 0, cw1h = 0, reason = 0, cached = 0, thoughts = 0;
    int rc = TM_OK;
    static const enum field claims[] = {F_IN, F_OUT, F_CR, F_CW, F_CW1H, F_REASON};

    for (size_t i = 0; i < sizeof claims / sizeof claims[0] && rc == TM_OK; i++)
        if (b->given[claims[i]])
            return FAIL(b->given[claims[i]], "given twice (also in usage)");

    if (tm__json_get(u, "prompt_tokens")) { /* OpenAI chat completions */
        if ((rc = usage_int(b, u, NULL, "prompt_tokens", &in)) ||
            (rc = usage_int(b, u, NULL, "completion_tokens", &out)) ||
            (rc = usage_int(b, u, "prompt_tokens_details", "cached_tokens", &cached)) ||
            (rc = usage_int(b, u, "completion_tokens_details", "reasoning_tokens", &reason)))
            return rc;
        if (cached > in)
            return FAIL("usage.prompt_tokens_details.cached_tokens", "exceeds prompt_tokens");
        in -= cached;
        cr = cached;
    } else if (tm__json_get(u, "promptTokenCount") || tm__json_get(u, "candidatesTokenCount")) {
        if ((rc = usage_int(b, u, NULL, "promptTokenCount", &in)) ||
            (rc = usage_int(b, u, NULL, "candidatesTokenCount", &out)) ||
            (rc = usage_int(b, u, NULL, "cachedContentTokenCount", &cached)) ||
            (rc = usage_int(b, u, NULL, "thoughtsTokenCount", &thoughts)))
            return rc;
        if (cached > in)
            return FAIL("usage.cachedContentTokenCount", "exceeds promptTokenCount");
        in -= cached;
        cr = cached;
        out += thoughts;
        reason = thoughts;
    } else if (tm__json_get(u, "input_tokens_details") ||
               tm__json_get(u, "output_tokens_details")) { /* OpenAI responses */
        if ((rc = usage_int(b, u, NULL, "input_tokens", &in)) ||
            (rc = usage_int(b, u, NULL, "output_tokens", &out)) ||
            (rc = usage_int(b, u, "input_tokens_details", "cached_tokens", &cached)) ||
            (rc = usage_int(b, u, "output_tokens_details", "reasoning_tokens", &reason)))
            return rc;
        if (cached > in)
            return FAIL("usage.input_tokens_details.cached_tokens", "exceeds input_tokens");
        in -= cached;
        cr = cached;
    } else if (tm__json_get(u, "input_tokens") || tm__json_get(u, "output_tokens")) {
        int64_t w5 = 0; /* Anthropic */
        if ((rc = usage_int(b, u, NULL, "input_tokens", &in)) ||
            (rc = usage_int(b, u, NULL, "output_tokens", &out)) ||
            (rc = usage_int(b, u, NULL, "cache_read_input_tokens", &cr)) ||
            (rc = usage_int(b, u, NULL, "cache_creation_input_tokens", &cw)) ||
            (rc = usage_int(b, u, "cache_creation", "ephemeral_5m_input_tokens", &w5)) ||
            (rc = usage_int(b, u, "cache_creation", "ephemeral_1h_input_tokens", &cw1h)))
            return rc;
        if (!tm__json_get(u, "cache_creation_input_tokens"))
            cw = w5 + cw1h;
        if (cw1h > cw)
            return FAIL("usage.cache_creation.ephemeral_1h_input_tokens",
                        "exceeds cache_creation_input_tokens");
    } else {
        return FAIL("usage", "is not a provider usage object (OpenAI, Anthropic or Gemini "
                             "token counts)");
    }
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++)
        b->given[claims[i]] = "usage";
    b->ev.input_tokens = in;
    b->ev.output_tokens = out;
    b->ev.cache_read_tokens = cr;
    b->ev.cache_write_tokens = cw;
    b->ev.cache_write_1h_tokens = cw1h;
    b->ev.reasoning_tokens = reason;
    b->ev.has |= TM_HAS_TOKENS;
    return TM_OK;
}

static const struct spelling *lookup(const char *name)
{
    for (size_t i = 0; i < NSPELL; i++)
        if (strcmp(spellings[i].name, name) == 0)
            return &spellings[i];
    return NULL;
}

static int set_metadata_text(tm_event_builder *b, const char *name, const tm_jv *v)
{
    if (v->type != TM_J_OBJECT)
        return FAIL(name, "must be a JSON object");
    tm_buf out = TM_BUF_INIT;
    out.max = TM_META_MAX;
    int rc = tm__json_write(&out, v);
    if (rc == TM_ETOOBIG)
        rc = FAIL(name, "is larger than 64 KiB");
    else if (rc == TM_OK && !(b->ev.metadata = tm__arena_strndup(b->arena, out.data, out.len)))
        rc = TM_ENOMEM;
    else if (rc == TM_OK)
        b->ev.has |= TM__HAS_META_OK;
    tm__buf_free(&out);
    return rc;
}

/* Sets one field from a JSON value. */
static int set_json(tm_event_builder *b, const char *name, const tm_jv *v)
{
    const struct spelling *sp = lookup(name);
    if (!sp)
        return FAIL(name, "unknown field");
    if (v->type == TM_J_NULL)
        return TM_OK; /* null is absent */
    int rc = sp->f == F_USAGE ? TM_OK : claim(b, sp->f, name);
    if (rc)
        return rc;
    switch (sp->k) {
    case K_STR:
        if (v->type != TM_J_STRING)
            return FAIL(name, "must be a string");
        if (strlen(v->s) != v->n)
            return FAIL(name, "must not contain a NUL character");
        if (sp->f == F_COST_SOURCE)
            return set_cost_source(b, name, v->s);
        *string_slot(&b->ev, sp->f) = v->s;
        return TM_OK;
    case K_INT:
        if (v->type != TM_J_NUMBER)
            return FAIL(name, "must be a non-negative integer");
        return set_tokens(b, sp->f, name, v->s, v->n);
    case K_DEC:
        if (v->type != TM_J_NUMBER && v->type != TM_J_STRING)
            return FAIL(name, "must be a decimal number (a JSON number or a string)");
        return set_decimal(b, sp->f, name, v->s, v->n);
    case K_BOOL:
        if (v->type != TM_J_TRUE && v->type != TM_J_FALSE)
            return FAIL(name, "must be true or false");
        set_bool(b, sp->f, v->type == TM_J_TRUE);
        return TM_OK;
    case K_TS:
        if (v->type != TM_J_NUMBER && v->type != TM_J_STRING)
            return FAIL(name, "must be RFC 3339 text or epoch milliseconds");
        return set_ts(b, name, v->s, v->n);
    case K_STATUS:
        if (v->type != TM_J_NUMBER)
            return FAIL(name, "must be an HTTP status code from 100 to 599");
        return set_status(b, name, v->s, v->n);
    case K_OBJ:
        if (sp->f == F_USAGE) {
            if (v->type != TM_J_OBJECT)
                return FAIL(name, "must be a JSON object");
            return set_usage(b, v);
        }
        return set_metadata_text(b, name, v);
    }
    return TM_EINVAL;
}

int tm__event_from_json(tm_event_builder *b, const tm_jv *obj)
{
    if (obj->type != TM_J_OBJECT) {
        snprintf(b->err, sizeof b->err, "event: must be a JSON object, not %s",
                 tm__json_type_name(obj->type));
        return TM_EINVAL;
    }
    for (size_t i = 0; i < obj->n; i++) {
        int rc = set_json(b, obj->keys[i], obj->vals[i]);
        if (rc)
            return rc;
    }
    if (b->drop_cost) {
        b->ev.has &= ~(unsigned)TM_HAS_COST;
        b->ev.cost_pusd = 0;
    }
    return TM_OK;
}

int tm__event_set_text(tm_event_builder *b, const char *name, const char *text)
{
    const struct spelling *sp = lookup(name);
    size_t n = strlen(text);
    if (!sp)
        return FAIL(name, "unknown field");
    if (sp->k == K_OBJ) { /* metadata / usage: JSON text */
        tm_jv *v = NULL;
        char jerr[200];
        int rc = tm__json_parse(b->arena, text, n, &v, jerr, sizeof jerr);
        if (rc == TM_EINVAL)
            return FAIL(name, jerr);
        return rc ? rc : set_json(b, name, v);
    }
    int rc = claim(b, sp->f, name);
    if (rc)
        return rc;
    switch (sp->k) {
    case K_STR:
        if (sp->f == F_COST_SOURCE)
            return set_cost_source(b, name, text);
        if (!(*string_slot(&b->ev, sp->f) = tm__arena_strndup(b->arena, text, n)))
            return TM_ENOMEM;
        return TM_OK;
    case K_INT:
        return set_tokens(b, sp->f, name, text, n);
    case K_DEC: return set_decimal(b, sp->f, name, text, n);
    case K_TS: return set_ts(b, name, text, n);
    case K_STATUS: return set_status(b, name, text, n);
    case K_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0)
            set_bool(b, sp->f, 1);
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0)
            set_bool(b, sp->f, 0);
        else
            return FAIL(name, "must be true or false");
        return TM_OK;
    case K_OBJ: break;
    }
    return TM_EINVAL;
}

/* ---- validation ---- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2; min = 0x80; c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3; min = 0x800; c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4; min = 0x10000; c &= 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static int check_str(const char *s, const char *name, size_t max, char *err, size_t errlen)
{
    if (!s)
        return TM_OK;
    size_t n = strlen(s);
    if (n > max) {
        char why[64];
        snprintf(why, sizeof why, "must be at most %zu bytes", max);
        return failf(err, errlen, name, why);
    }
    if (!utf8_valid((const unsigned char *)s, n))
        return failf(err, errlen, name, "must be valid UTF-8");
    return TM_OK;
}

static int check_tokens(int64_t v, const char *name, char *err, size_t errlen)
{
    if (v < 0)
        return failf(err, errlen, name, "must be a non-negative integer");
    if (v > TM_TOKENS_MAX)
        return failf(err, errlen, name, "must be at most 2^53 (9007199254740992)");
    return TM_OK;
}

int tm__event_finish(tm_event *ev, int64_t now_us, char *err, size_t errlen)
{
    static const struct { size_t off; const char *name; size_t max; } strs[] = {
        {offsetof(tm_event, id), "id", TM_ID_MAX},
        {offsetof(tm_event, provider), "provider", TM_DIM_MAX},
        {offsetof(tm_event, model), "model", TM_DIM_MAX},
        {offsetof(tm_event, endpoint), "endpoint", TM_DIM_MAX},
        {offsetof(tm_event, operation), "operation", TM_DIM_MAX},
        {offsetof(tm_event, user_id), "user_id", TM_DIM_MAX},
        {offsetof(tm_event, session_id), "session_id", TM_TEXT_MAX},
        {offsetof(tm_event, project), "project", TM_DIM_MAX},
        {offsetof(tm_event, metric_type), "metric_type", TM_METRIC_MAX},
        {offsetof(tm_event, resource_type), "resource_type", TM_DIM_MAX},
        {offsetof(tm_event, resource_id), "resource_id", TM_TEXT_MAX},
        {offsetof(tm_event, error), "error", TM_ERROR_MAX},
        {offsetof(tm_event, metadata), "metadata", TM_META_MAX},
    };
    int rc;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *s = *(const char *const *)((const char *)ev + strs[i].off);
        if ((rc = check_str(s, strs[i].name, strs[i].max, err, errlen)))
            return rc;
    }
    if (ev->id && !ev->id[0])
        return failf(err, errlen, "id", "must not be empty");
    if (ev->metric_type) {
        const char *m = ev->metric_type;
        if (!*m)
            return failf(err, errlen, "metric_type", "must not be empty");
        for (; *m; m++)
            if (!((*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9') || *m == '_' || *m == '.'))
                return failf(err, errlen, "metric_type",
                             "may contain only a-z, 0-9, '_' and '.'");
    } else {
        ev->metric_type = "llm_call";
    }
    if (ev->metadata && !(ev->has & TM__HAS_META_OK)) { /* C API: check it */
        tm_arena a = TM_ARENA_INIT;
        tm_jv *v = NULL;
        char jerr[160];
        rc = tm__json_parse(&a, ev->metadata, strlen(ev->metadata), &v, jerr, sizeof jerr);
        int obj = rc == TM_OK && v->type == TM_J_OBJECT;
        tm__arena_free(&a);
        if (rc == TM_ENOMEM)
            return rc;
        if (!obj)
            return failf(err, errlen, "metadata", rc ? jerr : "must be a JSON object");
        ev->has |= TM__HAS_META_OK;
    }

    if (ev->has & TM_HAS_TOKENS) {
        static const struct { size_t off; const char *name; } toks[] = {
            {offsetof(tm_event, input_tokens), "input_tokens"},
            {offsetof(tm_event, output_tokens), "output_tokens"},
            {offsetof(tm_event, cache_read_tokens), "cache_read_tokens"},
            {offsetof(tm_event, cache_write_tokens), "cache_write_tokens"},
            {offsetof(tm_event, cache_write_1h_tokens), "cache_write_1h_tokens"},
            {offsetof(tm_event, reasoning_tokens), "reasoning_tokens"},
        };
        for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++)
            if ((rc = check_tokens(*(const int64_t *)((const char *)ev + toks[i].off),
                                   toks[i].name, err, errlen)))
                return rc;
        if (ev->reasoning_tokens > ev->output_tokens)
            return failf(err, errlen, "reasoning_tokens", "exceeds output_tokens (it is a part of them)");
        if (ev->cache_write_1h_tokens > ev->cache_write_tokens)
            return failf(err, errlen, "cache_write_1h_tokens",
                         "exceeds cache_write_tokens (it is a part of them)");
    } else {
        ev->input_tokens = ev->output_tokens = ev->cache_read_tokens = 0;
        ev->cache_write_tokens = ev->cache_write_1h_tokens = ev->reasoning_tokens = 0;
    }
    int64_t sum = ev->input_tokens + ev->output_tokens + ev->cache_read_tokens +
                  ev->cache_write_tokens; /* each ≤ 2^53: no overflow */
    if (sum > TM_TOKENS_MAX)
        return failf(err, errlen, "total_tokens", "the token buckets add up to more than 2^53");
    if (ev->has & TM_HAS_TOTAL) {
        if ((rc = check_tokens(ev->total_tokens, "total_tokens", err, errlen)))
            return rc;
        if (ev->total_tokens < sum) {
            char why[128];
            snprintf(why, sizeof why, "is less than the sum of the token buckets (%lld)",
                     (long long)sum);
            return failf(err, errlen, "total_tokens", why);
        }
    } else {
        ev->total_tokens = sum;
    }

    if (ev->has & TM_HAS_VALUE) {
        if (ev->value_nano < 0)
            return failf(err, errlen, "value", "must not be negative");
    } else {
        ev->value_nano = TM_VALUE_SCALE;
    }
    if ((ev->has & TM_HAS_LATENCY) && ev->latency_ns < 0)
        return failf(err, errlen, "latency_ms", "must not be negative");
    if (!(ev->has & TM_HAS_LATENCY))
        ev->latency_ns = 0;
    if (ev->has & TM_HAS_STATUS) {
        if (ev->status_code < 100 || ev->status_code > 599)
            return failf(err, errlen, "status_code", "must be an HTTP status code from 100 to 599");
    } else {
        ev->status_code = 0;
    }
    if (ev->has & TM_HAS_SUCCESS)
        ev->success = ev->success != 0;
    else
        ev->success = !((ev->has & TM_HAS_STATUS && ev->status_code >= 400) || ev->error);
    ev->cache_hit = (ev->has & TM_HAS_CACHE_HIT) && ev->cache_hit;
    if (ev->has & TM_HAS_TS) {
        if (ev->ts_us < 0 || ev->ts_us >= TM_TIME_MAX_US)
            return failf(err, errlen, "timestamp", "is out of range (1970 to 9999, UTC)");
    } else {
        ev->ts_us = now_us;
    }
    if (ev->has & TM_HAS_COST) {
        if (ev->cost_pusd < 0)
            return failf(err, errlen, "cost_usd", "must not be negative");
        ev->cost_source = TM_COST_REPORTED;
    } else {
        ev->cost_pusd = 0;
        ev->cost_source = TM_COST_UNPRICED; /* the pricer may compute it */
    }
    /* An event must say what it measures: an LLM call its provider or model
     * (or at least its tokens or cost, as the seed lesson's events do);
     * any other metric its metric_type. An empty event is a mistake. */
    if (strcmp(ev->metric_type, "llm_call") == 0 &&
        !(ev->provider && *ev->provider) && !(ev->model && *ev->model) &&
        !(ev->has & (TM_HAS_TOKENS | TM_HAS_TOTAL | TM_HAS_COST)))
        return failf(err, errlen, "provider",
                     "missing: an LLM call needs a provider or a model (or its tokens or "
                     "cost); any other event needs its metric_type");
    ev->has |= TM_HAS_TS | TM_HAS_VALUE | TM_HAS_TOTAL | TM_HAS_SUCCESS | TM_HAS_CACHE_HIT;
    return TM_OK;
}

/* ---- copies and generated ids ---- */

/* A ULID-style id: 48 bits of milliseconds then 80 random bits, Crockford
 * base32, 26 characters; ids made later sort later. */
static void gen_id(int64_t ts_us, char out[27])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    static _Thread_local uint64_t state;
    if (!state && getrandom(&state, sizeof state, 0) != sizeof state)
        state = (uint64_t)tm__now_us() ^ (uint64_t)(uintptr_t)&state;
    uint64_t r[2];
    for (int i = 0; i < 2; i++) { /* splitmix64 */
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r[i] = z ^ (z >> 31);
    }
    uint64_t ms = (uint64_t)(ts_us / 1000);
    for (int i = 9; i >= 0; i--, ms >>= 5)
        out[i] = b32[ms & 31];
    for (int i = 10; i < 26; i++)
        out[i] = b32[(i < 18 ? r[0] >> ((i - 10) * 5) : r[1] >> ((i - 18) * 5)) & 31];
    out[26] = '\0';
}

tm_event *tm__event_clone(const tm_event *ev)
{
    const char *const *src[] = {&ev->id, &ev->provider, &ev->model, &ev->endpoint,
                                &ev->operation, &ev->user_id, &ev->session_id,
                                &ev->project, &ev->metric_type, &ev->resource_type, &ev->resource_id,
                                &ev->error, &ev->metadata};
    size_t lens[sizeof src / sizeof src[0]], total = sizeof(tm_event);
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        lens[i] = *src[i] ? strlen(*src[i]) + 1 : 0;
        total += lens[i];
    }
    if (!ev->id)
        total += 27;
    tm_event *c = malloc(total);
    if (!c)
        return NULL;
    *c = *ev;
    char *p = (char *)(c + 1);
    const char **dst[] = {&c->id, &c->provider, &c->model, &c->endpoint, &c->operation,
                          &c->user_id, &c->session_id, &c->project, &c->metric_type, &c->resource_type,
                          &c->resource_id, &c->error, &c->metadata};
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        if (!lens[i])
            continue;
        memcpy(p, *src[i], lens[i]);
        *dst[i] = p;
        p += lens[i];
    }
    if (!ev->id) {
        gen_id(ev->ts_us, p);
        c->id = p;
        c->has |= TM__HAS_GEN_ID;
    }
    return c;
}

/* ---- encoding ---- */

const char *tm__cost_source_name(int source)
{
    switch (source) {
    case TM_COST_COMPUTED: return "computed";
    case TM_COST_REPORTED: return "reported";
    default: return "unpriced";
    }
}

static int kv_str(tm_buf *b, const char *key, const char *v)
{
    int rc = tm__buf_printf(b, ",\"%s\":", key);
    if (rc == TM_OK)
        rc = v ? tm__json_str(b, v, strlen(v)) : tm__buf_puts(b, "null");
    return rc;
}

int tm__event_json(tm_buf *b, const tm_event *ev)
{
    char ts[32], dec[48], lat[48];
    tm__time_format(ev->ts_us, ts);
    int rc = tm__buf_puts(b, "{\"id\":");
    if (rc == TM_OK)
        rc = ev->id ? tm__json_str(b, ev->id, strlen(ev->id)) : tm__buf_puts(b, "null");
    if (rc == TM_OK)
        rc = tm__buf_printf(b, ",\"timestamp\":\"%s\"", ts);
    if (rc == TM_OK) rc = kv_str(b, "provider", ev->provider);
    if (rc == TM_OK) rc = kv_str(b, "model", ev->model);
    if (rc == TM_OK) rc = kv_str(b, "endpoint", ev->endpoint);
    if (rc == TM_OK) rc = kv_str(b, "operation", ev->operation);
    if (rc == TM_OK) rc = kv_str(b, "user_id", ev->user_id);
    if (rc == TM_OK) rc = kv_str(b, "session_id", ev->session_id);
    if (rc == TM_OK) rc = kv_str(b, "project", ev->project);
    if (rc == TM_OK) rc = kv_str(b, "metric_type", ev->metric_type);
    tm__dec_format(ev->value_nano, 9, dec);
    if (rc == TM_OK) rc = tm__buf_printf(b, ",\"value\":%s", dec);
    if (rc == TM_OK) rc = kv_str(b, "resource_type", ev->resource_type);
    if (rc == TM_OK) rc = kv_str(b, "resource_id", ev->resource_id);
    if (rc == TM_OK)
        rc = tm__buf_printf(b,
                            ",\"input_tokens\":%lld,\"output_tokens\":%lld,"
                            "\"cache_read_tokens\":%lld,\"cache_write_tokens\":%lld,"
                            "\"cache_write_1h_tokens\":%lld,\"reasoning_tokens\":%lld,"
                            "\"total_tokens\":%lld",
                            (long long)ev->input_tokens, (long long)ev->output_tokens,
                            (long long)ev->cache_read_tokens, (long long)ev->cache_write_tokens,
                            (long long)ev->cache_write_1h_tokens,
                            (long long)ev->reasoning_tokens, (long long)ev->total_tokens);
    if (ev->has & TM_HAS_LATENCY)
        tm__dec_format(ev->latency_ns, 6, lat);
    else
        memcpy(lat, "null", 5);
    if (rc == TM_OK)
        rc = tm__buf_printf(b, ",\"latency_ms\":%s,\"success\":%s", lat,
                            ev->success ? "true" : "false");
    if (rc == TM_OK)
        rc = (ev->has & TM_HAS_STATUS) ? tm__buf_printf(b, ",\"status_code\":%d", ev->status_code)
                                       : tm__buf_puts(b, ",\"status_code\":null");
    if (rc == TM_OK) rc = kv_str(b, "error", ev->error);
    tm__dec_format(ev->cost_pusd, 12, dec);
    if (rc == TM_OK)
        rc = tm__buf_printf(b, ",\"cache_hit\":%s,\"cost_usd\":%s,\"cost_source\":\"%s\"",
                            ev->cache_hit ? "true" : "false", dec,
                            tm__cost_source_name(ev->cost_source));
    if (rc == TM_OK)
        rc = tm__buf_printf(b, ",\"metadata\":%s}", ev->metadata ? ev->metadata : "null");
    return rc;
}

size_t tm_event_to_json(const tm_event *ev, char *buf, size_t cap)
{
    tm_buf b = TM_BUF_INIT;
    size_t n = 0;
    if (tm__event_json(&b, ev) == TM_OK) {
        n = b.len;
        if (cap) {
            size_t k = n < cap ? n : cap - 1;
            memcpy(buf, b.data, k);
            buf[k] = '\0';
        }
    } else if (cap) {
        buf[0] = '\0';
    }
    tm__buf_free(&b);
    return n;
}
