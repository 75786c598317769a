/*
 * event_json.c — fuzzes the event JSON way in (one object, an array of
 * them, NDJSON; every field name and alias) through tm__track_json, the
 * entry the daemon's POST /v1/events and `tokmeter ingest` use, on a real
 * store. The first byte picks the mode: bit 0 the NDJSON flag, bit 1 an
 * Idempotency-Key, bit 2 a per-request cap of 3 events.
 *
 * Checked besides the sanitizers: one result per event, and the counts
 * add up.
 */
#include "../src/lib/lib.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tm *t = fz_store(NULL, NULL);
    unsigned mode = data[0];
    tm_batch_result *r = NULL;
    int rc = tm__track_json(t, (const char *)data + 1, size - 1, mode & 1 ? TM_JSON_NDJSON : 0,
                            mode & 2 ? "idem-fuzz" : NULL, mode & 4 ? 3 : 0, &r);
    if (rc == TM_OK) {
        if (!r || r->accepted + r->duplicates + r->rejected != r->n) {
            fprintf(stderr, "event_json: counts %zu+%zu+%zu != %zu items\n", r ? r->accepted : 0,
                    r ? r->duplicates : 0, r ? r->rejected : 0, r ? r->n : 0);
            abort();
        }
        for (size_t i = 0; i < r->n; i++)
            if ((r->items[i].status == TM_ITEM_REJECTED) != (r->items[i].error != NULL)) {
                fprintf(stderr, "event_json: item %zu status %d error %s\n", i,
                        (int)r->items[i].status, r->items[i].error ? r->items[i].error : "(none)");
                abort();
            }
    } else if (rc != TM_EINVAL && rc != TM_ETOOBIG) {
        fprintf(stderr, "event_json: unexpected %s: %s\n", tm_strerror(rc), tm_errmsg());
        abort();
    }
    tm_batch_result_free(r);
    return 0;
}
