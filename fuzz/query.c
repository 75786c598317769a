/*
 * query.c — fuzzes the query spec parser (tm__query_set: from, to,
 * interval, tz, group_by, where, order_by, limit, ...) and runs every spec
 * it accepts over a small real store, rendering JSON, CSV and the table.
 *
 * Input: lines of KEY=VALUE, one parameter each (a line without '=' is a
 * key with an empty value), as GET /v1/usage and `tokmeter report` pass
 * them. A spec the parser accepts must run: TM_EINVAL is the only error
 * allowed from the run (a range or zone refused there).
 */
#include "../src/lib/lib.h"
#include "../src/query/query.h"
#include "fuzz.h"

static const char seed_events[] =
    "[{\"id\":\"q1\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4\",\"input_tokens\":10,"
    "\"output_tokens\":5,\"user_id\":\"u1\",\"project\":\"p\",\"timestamp\":\"2026-03-29T00:30:00Z\"},"
    "{\"id\":\"q2\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":7,\"latency_ms\":12,"
    "\"user_id\":\"u2\",\"timestamp\":\"2026-10-25T01:30:00Z\",\"success\":false},"
    "{\"id\":\"q3\",\"provider\":\"p\",\"model\":\"m\",\"value\":3,\"metric_type\":\"compute_minutes\","
    "\"timestamp\":\"1970-01-01T00:00:00Z\"}]";

static tm *store(void)
{
    static tm *t;
    if (t)
        return t;
    t = fz_store(NULL, NULL);
    tm_batch_result *r = NULL;
    if (tm_track_json(t, seed_events, sizeof seed_events - 1, 0, NULL, &r) != TM_OK || r->accepted != 3) {
        fprintf(stderr, "query: seeding failed: %s\n", tm_errmsg());
        abort();
    }
    tm_batch_result_free(r);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    tm *t = store();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    tm_query_spec q;
    tm__query_init(&q);
    int rc = TM_OK;
    for (char *line = text, *next; line && rc == TM_OK; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *eq = strchr(line, '=');
        if (eq)
            *eq = 0;
        rc = tm__query_set(&q, line, eq ? eq + 1 : "");
    }
    if (rc == TM_OK) {
        tm_qresult *res = NULL;
        rc = tm__run_query(t, &q, &res);
        if (rc == TM_OK) {
            tm_buf b = TM_BUF_INIT;
            b.max = 1 << 24;
            tm__qresult_json(res, &b);
            tm__qresult_csv(res, &b);
            tm__qresult_table(res, &b);
            tm__buf_free(&b);
        } else if (rc != TM_EINVAL && rc != TM_ETOOBIG) {
            fprintf(stderr, "query: an accepted spec failed to run: %s: %s\n", tm_strerror(rc),
                    tm_errmsg());
            abort();
        }
        tm__qresult_free(res);
    } else if (rc != TM_EINVAL) {
        fprintf(stderr, "query: parser returned %s: %s\n", tm_strerror(rc), tm_errmsg());
        abort();
    }
    tm__query_free(&q);
    free(text);
    return 0;
}
