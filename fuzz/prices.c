/*
 * prices.c — fuzzes the price file (docs/pricing.md) as tm__catalog_add_json
 * reads it, and the LiteLLM converter (`tokmeter prices import`) on the
 * same bytes. Every entry the parser accepts prices an event with each
 * token bucket at its limit (the cost must fit or be refused, never wrap),
 * and whatever the converter writes must load as a price file.
 */
#include "../src/core/buf.h"
#include "../src/core/event.h"
#include "../src/price/price.h"
#include "fuzz.h"

static void price_entries(const tm_catalog *c)
{
    const tm_price_entry *const *es = NULL;
    size_t n = tm__catalog_entries(c, &es);
    for (size_t i = 0; i < n && i < 8; i++) {
        for (int64_t tokens = 1; tokens > 0; tokens = tokens == 1 ? TM_TOKENS_MAX : 0) {
            tm_event ev;
            tm_event_init(&ev);
            ev.id = "price-fuzz";
            ev.provider = es[i]->provider;
            ev.model = es[i]->model;
            ev.has = TM_HAS_TOKENS;
            if (es[i]->effective_us > 0) {
                ev.ts_us = es[i]->effective_us;
                ev.has |= TM_HAS_TS;
            }
            ev.input_tokens = ev.output_tokens = ev.cache_read_tokens = tokens;
            ev.cache_write_tokens = ev.cache_write_1h_tokens = tokens;
            char err[256];
            if (tm__event_finish(&ev, 1, err, sizeof err) != TM_OK)
                continue; /* a provider or model name no event may carry */
            tm_price_why why;
            int rc = tm__price_event(c, &ev, &why);
            if (rc != TM_OK && rc != TM_EINVAL) {
                fprintf(stderr, "prices: pricing returned %s: %s\n", tm_strerror(rc), tm_errmsg());
                abort();
            }
            if (rc == TM_OK && ev.cost_pusd < 0) {
                fprintf(stderr, "prices: negative cost %lld\n", (long long)ev.cost_pusd);
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_catalog *c = tm__catalog_new();
    if (!c)
        return 0;
    if (tm__catalog_add_json(c, (const char *)data, size, "fuzz.json") == TM_OK)
        price_entries(c);
    tm__catalog_free(c);

    tm_buf out = TM_BUF_INIT, notes = TM_BUF_INIT;
    size_t n = 0, skipped = 0;
    if (tm__price_import_litellm((const char *)data, size, &out, &n, &skipped, &notes) == TM_OK && n > 0) {
        tm_catalog *c2 = tm__catalog_new();
        if (c2 && tm__catalog_add_json(c2, out.data, out.len, "converted.json") != TM_OK) {
            fprintf(stderr, "prices: the LiteLLM converter wrote a file that does not load: %s\n%.*s\n",
                    tm_errmsg(), (int)(out.len > 2000 ? 2000 : out.len), out.data);
            abort();
        }
        if (c2)
            price_entries(c2);
        tm__catalog_free(c2);
    }
    tm__buf_free(&out);
    tm__buf_free(&notes);
    return 0;
}
