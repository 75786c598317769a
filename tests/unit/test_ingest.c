/*
 * test_ingest.c — the importers' parts below the command line: the JSON
 * member scanner, the store's replace-the-smaller-copy rule with its rollups,
 * and the config file's "sources" round trip.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/core/event.h"
#include "../../src/core/tmtime.h"
#include "../../src/ingest/ingest_int.h"
#include "../../src/lib/lib.h"
#include "../../src/store/store.h"
#include "store_helper.h"
#include "tokmeter.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tmingest.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(ingest, .init = setup, .fini = teardown);

/* ---- the scanner ---- */

/* The value of top-level member `want` as text (strings without quotes),
 * or a marker for what the scanner said. */
static const char *member(const char *json, const char *want, char *out, size_t cap)
{
    tm_jscan c = {json, json + strlen(json)};
    const char *k, *s;
    size_t kn, n;
    int r;
    if (tm__jscan_enter(&c))
        return "not-object";
    while ((r = tm__jscan_key(&c, &k, &kn)) == 1) {
        if (kn == strlen(want) && memcmp(k, want, kn) == 0) {
            int ch = tm__jscan_peek(&c);
            r = ch == '"' ? tm__jscan_str(&c, &s, &n) : tm__jscan_num(&c, &s, &n);
            if (r < 0)
                return "bad";
            if (r == 1)
                return "escaped";
            snprintf(out, cap, "%.*s", (int)n, s);
            return out;
        }
        if (tm__jscan_skip(&c))
            return "bad";
    }
    return r < 0 ? "bad" : "absent";
}

Test(ingest, scanner_finds_members_past_nested_values)
{
    char b[64];
    const char *j = "{\"a\":{\"x\":[1,{\"y\":\"}\"}],\"z\":\"q\\\"}\"},\"b\" : 12.5e3 ,"
                    "\"c\":\"tail\",\"d\":[true,false,null]}";
    cr_expect_str_eq(member(j, "b", b, sizeof b), "12.5e3");
    cr_expect_str_eq(member(j, "c", b, sizeof b), "tail");
    cr_expect_str_eq(member(j, "e", b, sizeof b), "absent");
}

Test(ingest, scanner_sends_escapes_to_the_full_parser)
{
    char b[64];
    cr_expect_str_eq(member("{\"m\":\"a\\\\b\"}", "m", b, sizeof b), "escaped");
    cr_expect_str_eq(member("{\"m\":\"plain\"}", "m", b, sizeof b), "plain");
    /* A string ending in an escaped backslash ends at the next quote. */
    cr_expect_str_eq(member("{\"s\":\"x\\\\\",\"m\":\"ok\"}", "m", b, sizeof b), "ok");
}

Test(ingest, scanner_refuses_cut_lines)
{
    char b[64];
    cr_expect_str_eq(member("{\"a\":{\"b\":[1,2", "z", b, sizeof b), "bad");
    cr_expect_str_eq(member("{\"a\":\"unterminated", "z", b, sizeof b), "bad");
    cr_expect_str_eq(member("[1,2]", "a", b, sizeof b), "not-object");
    cr_expect_str_eq(member("{\"a\":nul}", "z", b, sizeof b), "bad");
}

/* ---- the larger copy replaces the smaller ---- */

static int submit(tm *t, const char *id, int64_t out_tokens, int64_t hour, unsigned char *dup)
{
    tm_event ev;
    char err[256];
    tm_event_init(&ev);
    ev.id = id;
    ev.provider = "anthropic";
    ev.model = "claude-haiku-4-5-20251001";
    ev.ts_us = (1793491200LL + hour * 3600) * 1000000;
    ev.input_tokens = 100;
    ev.output_tokens = out_tokens;
    ev.has = TM_HAS_TS | TM_HAS_TOKENS;
    int rc = tm__admit_import(t, &ev, ev.ts_us, err, sizeof err);
    cr_assert_eq(rc, TM_OK, "%s", err);
    tm_event *c = tm__event_clone(&ev);
    tm_ticket tk = {1, 0, dup, NULL};
    rc = tm__writer_submit(tm__writer(t), &c, 1, &tk);
    return rc ? rc : tm__writer_wait(tm__writer(t), &tk);
}

static const char *report_tokens(tm *t, char *buf, size_t cap)
{
    const char *params[] = {"from", "2026-11-01T00:00:00Z", "to", "2026-11-02T00:00:00Z",
                            "tz", "UTC", NULL};
    tm_report *r = NULL;
    cr_assert_eq(tm_report_run(t, params, &r), TM_OK, "%s", tm_errmsg());
    const char *json = tm_report_json(r);
    const char *p = strstr(json, "\"totals\"");
    cr_assert_not_null(p);
    const char *e = strstr(p, "\"events\": "), *o = strstr(p, "\"output_tokens\": ");
    cr_assert(e && o);
    snprintf(buf, cap, "events=%ld output=%ld", strtol(e + 10, NULL, 10), strtol(o + 17, NULL, 10));
    tm_report_free(r);
    return buf;
}

static void sink(void *arg, const char *line)
{
    (void)arg;
    (void)line;
}

Test(ingest, larger_copy_replaces_and_rollups_follow)
{
    char path[512], b[128];
    unsigned char dup = 9;
    tst_store_path(dir, "r.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    cr_assert_str_eq(report_tokens(t, b, sizeof b), "events=0 output=0"); /* rollups loaded */
    cr_assert_eq(submit(t, "cc:m1:r1", 10, 1, &dup), TM_OK);
    cr_expect_eq(dup, 0);
    cr_assert_eq(submit(t, "cc:m1:r1", 5, 1, &dup), TM_OK); /* smaller: a duplicate */
    cr_expect_eq(dup, 1);
    cr_expect_str_eq(report_tokens(t, b, sizeof b), "events=1 output=10");
    cr_assert_eq(submit(t, "cc:m1:r1", 50, 1, &dup), TM_OK); /* larger: replaces */
    cr_expect_eq(dup, 2);
    cr_expect_str_eq(report_tokens(t, b, sizeof b), "events=1 output=50");
    /* A larger copy in another hour moves the event between rollup cells. */
    cr_assert_eq(submit(t, "cc:m1:r1", 60, 5, &dup), TM_OK);
    cr_expect_eq(dup, 2);
    cr_expect_str_eq(report_tokens(t, b, sizeof b), "events=1 output=60");
    int64_t n = 0;
    cr_expect_eq(tm_count(t, &n), TM_OK);
    cr_expect_eq(n, 1);
    cr_expect_eq(tm_close(t), TM_OK);
    /* The stored rollups agree after reopening (verify compares them with the events). */
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    cr_expect_str_eq(report_tokens(t, b, sizeof b), "events=1 output=60");
    cr_expect_eq(tm_verify(t, sink, NULL), TM_OK, "%s", tm_errmsg());
    tm_close(t);
}

Test(ingest, live_events_never_replace)
{
    char path[512], b[128];
    tst_store_path(dir, "l.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    tm_event ev;
    int dup = -1;
    tm_event_init(&ev);
    ev.id = "req-1";
    ev.ts_us = 1793491200LL * 1000000;
    ev.output_tokens = 10;
    ev.has = TM_HAS_TS | TM_HAS_TOKENS | TM__HAS_REPLACE; /* a caller cannot ask for it */
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    ev.output_tokens = 99;
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_expect_eq(dup, 1);
    cr_expect_str_eq(report_tokens(t, b, sizeof b), "events=1 output=10");
    tm_close(t);
}

/* ---- sources in the config file ---- */

Test(ingest, sources_round_trip_keeps_other_keys)
{
    char path[300];
    snprintf(path, sizeof path, "%s/cfg/config.json", dir);
    tm_source s[2];
    memset(s, 0, sizeof s);
    snprintf(s[0].name, sizeof s[0].name, "oai");
    s[0].type = TM_SRC_OPENAI;
    snprintf(s[0].key_env, sizeof s[0].key_env, "OPENAI_ADMIN_KEY");
    snprintf(s[0].base_url, sizeof s[0].base_url, "http://127.0.0.1:9/x");
    snprintf(s[1].name, sizeof s[1].name, "laptop");
    s[1].type = TM_SRC_CLAUDE;
    snprintf(s[1].path, sizeof s[1].path, "/home/u/.claude \"quoted\"");
    cr_assert_eq(tm__sources_save(path, s, 2), TM_OK, "%s", tm_errmsg()); /* creates the dir */
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"default_tier\": \"free\", \"log\": {\"level\": \"warn\", \"n\": 1.50},"
          " \"sources\": []}", f);
    fclose(f);
    cr_assert_eq(tm__sources_save(path, s, 2), TM_OK, "%s", tm_errmsg());
    tm_source *back = NULL;
    size_t n = 0;
    cr_assert_eq(tm__sources_load(path, &back, &n), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(n, 2);
    cr_expect_str_eq(back[0].name, "oai");
    cr_expect_eq(back[0].type, TM_SRC_OPENAI);
    cr_expect_str_eq(back[0].key_env, "OPENAI_ADMIN_KEY");
    cr_expect_str_eq(back[1].path, "/home/u/.claude \"quoted\"");
    free(back);
    tm_buf b = TM_BUF_INIT;
    cr_assert_eq(tm__buf_read_file(&b, path), TM_OK);
    cr_expect_not_null(strstr(b.data, "\"n\": 1.50"), "numbers keep their text: %s", b.data);
    cr_expect_not_null(strstr(b.data, "\"default_tier\": \"free\""));
    tm__buf_free(&b);
}

Test(ingest, sources_load_names_the_bad_field)
{
    char path[300];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"sources\": [{\"name\": \"a\", \"type\": \"openai-usage\"},"
          " {\"name\": \"a\", \"type\": \"openai-usage\"}]}", f);
    fclose(f);
    tm_source *s = NULL;
    size_t n = 0;
    cr_expect_eq(tm__sources_load(path, &s, &n), TM_EINVAL);
    cr_expect_not_null(strstr(tm_errmsg(), "sources[1].name: 'a' is used twice"), "%s", tm_errmsg());
    f = fopen(path, "w");
    fputs("{\"sources\": [{\"name\": \"b\", \"type\": \"cursor\"}]}", f);
    fclose(f);
    cr_expect_eq(tm__sources_load(path, &s, &n), TM_EINVAL);
    cr_expect_not_null(strstr(tm_errmsg(), "sources[0].type: unknown type 'cursor'"), "%s", tm_errmsg());
}

/* The batch pipeline at its chunk boundary: with 4 events a chunk and at
 * most 2 chunks in flight, 3, 4, 5, 8 and 9 events each report every
 * event's fate exactly once (stored, then duplicate on a second pass), and
 * the store holds each once. */
static void count_fate(void *arg, size_t tag, int dup)
{
    int *seen = arg; /* seen[tag] counts fates, seen[64 + tag] the last dup */
    seen[tag]++;
    seen[64 + tag] = dup;
}

Test(ingest, batch_chunk_boundaries)
{
    const int ns[] = {3, 4, 5, 8, 9};
    char path[512];
    tst_store_path(dir, "batch.db", path, sizeof path);
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_OK);
    int64_t before = 0, after = 0;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int pass = 0; pass < 2; pass++) {
            int seen[128] = {0};
            tm_batch *b = NULL;
            cr_assert_eq(tm__batch_open(t, 4, 2, count_fate, seen, &b), TM_OK);
            cr_assert_eq(tm_count(t, &before), TM_OK);
            for (int i = 0; i < ns[k]; i++) {
                char id[32];
                tm_event ev;
                char err[256];
                snprintf(id, sizeof id, "b%d-%d", ns[k], i);
                tm_event_init(&ev);
                ev.id = id;
                ev.provider = "p";
                ev.model = "m";
                ev.input_tokens = i;
                ev.has = TM_HAS_TOKENS;
                cr_assert_eq(tm__admit_import(t, &ev, tm__now_us(), err, sizeof err), TM_OK, "%s", err);
                cr_assert_eq(tm__batch_add(b, tm__event_clone(&ev), (size_t)i), TM_OK);
            }
            cr_assert_eq(tm__batch_flush(b), TM_OK, "%s", tm_errmsg());
            tm__batch_free(b);
            cr_assert_eq(tm_count(t, &after), TM_OK);
            for (int i = 0; i < ns[k]; i++) {
                cr_expect_eq(seen[i], 1, "n=%d pass %d event %d: %d fates, want 1", ns[k], pass, i, seen[i]);
                cr_expect_eq(seen[64 + i], pass, "n=%d pass %d event %d: dup %d, want %d", ns[k], pass, i,
                             seen[64 + i], pass);
            }
            cr_expect_eq(seen[ns[k]], 0, "n=%d: a fate past the last event", ns[k]);
            cr_expect_eq(after - before, pass ? 0 : ns[k], "n=%d pass %d: %lld stored, want %d", ns[k], pass,
                         (long long)(after - before), pass ? 0 : ns[k]);
        }
    tm_close(t);
}
