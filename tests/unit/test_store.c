/*
 * test_store.c — libtokmeter over the store (SQLite, or PostgreSQL with
 * TOKMETER_TEST_STORE; tests/unit/store_helper.h): durable tracking,
 * idempotency across reopen, per-item batch results, concurrent producers,
 * reading back, integrity checks, schema versions, the WAL's size bound.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/lib/lib.h"
#include "../../src/store/store.h"
#include "store_helper.h"
#include "tokmeter.h"

static char dir[256], path[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tmtest.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tst_store_path(dir, "sub/dir/t.db", path, sizeof path); /* parents are created */
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(store, .init = setup, .fini = teardown);

static void sink(void *arg, const char *line)
{
    (void)arg;
    (void)line;
}

static tm *open_or_die(void)
{
    tm *t = NULL;
    int rc = tm_open(&t, path, NULL);
    cr_assert_eq(rc, TM_OK, "open: %s", tm_errmsg());
    return t;
}

static int count_cb(void *arg, const tm_event *ev)
{
    (void)ev;
    ++*(int *)arg;
    return 0;
}

/* A store's name as logs and messages show it: a PostgreSQL password,
 * in the user part or a password= parameter, never appears. */
Test(store, shown_without_password)
{
    static const struct { const char *in, *want; } names[] = {
        {"postgres://tm@db:5432/tm", "postgres://tm@db:5432/tm"},
        {"postgres://tm:s3cret@db:5432/tm?schema=a", "postgres://tm:***@db:5432/tm?schema=a"},
        {"postgresql://tm:@db/tm", "postgresql://tm:***@db/tm"},
        {"postgres://tm@db/tm?sslmode=require&password=s3cret", "postgres://tm@db/tm?sslmode=require&password=***"},
        {"postgres://tm:a@db/tm?password=b&schema=c", "postgres://tm:***@db/tm?password=***&schema=c"},
        {"postgres://db/tm?schema=mypassword=x", "postgres://db/tm?schema=mypassword=x"},
        {"postgres://db:5432/tm", "postgres://db:5432/tm"},
        {"/var/lib/tm:a@b/tokmeter.db", "/var/lib/tm:a@b/tokmeter.db"},
        {"sqlite:/x?password=y", "sqlite:/x?password=y"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char buf[256];
        cr_expect_str_eq(tm__store_shown(names[i].in, buf, sizeof buf), names[i].want, "%s: got %s, want %s",
                         names[i].in, buf, names[i].want);
    }
    char small[12];
    cr_expect_str_eq(tm__store_shown("postgres://tm:s3cret@db/tm", small, sizeof small), "postgres://");
}

Test(store, track_sync_and_dedup_across_reopen)
{
    tm *t = open_or_die();
    tm_event ev;
    int dup = -1;
    tm_event_init(&ev);
    ev.id = "req-1";
    ev.provider = "openai";
    ev.input_tokens = 10;
    ev.has = TM_HAS_TOKENS;
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_assert_eq(dup, 0);
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_assert_eq(dup, 1);
    cr_assert_eq(tm_close(t), TM_OK);

    t = open_or_die();
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_assert_eq(dup, 1, "a repeat after reopening is still a duplicate");
    int64_t n = 0;
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_assert_eq(n, 1);
    /* Events without an id are never duplicates of each other. */
    ev.id = NULL;
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK);
    cr_assert_eq(dup, 0);
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(tm_verify(t, sink, NULL), TM_OK);
    tm_close(t);
}

Test(store, invalid_event_changes_nothing)
{
    tm *t = open_or_die();
    tm_event ev;
    tm_event_init(&ev);
    ev.metric_type = "Bad Type";
    cr_assert_eq(tm_track(t, &ev), TM_EINVAL);
    cr_assert_str_eq(tm_errmsg(), "metric_type: may contain only a-z, 0-9, '_' and '.'");
    cr_assert_eq(tm_flush(t), TM_OK);
    int64_t n = -1;
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_assert_eq(n, 0);
    tm_close(t);
}

/* A waiter that finds the writer idle commits up to SELF_MAX (64) queued
 * events itself (writer.c); more are left to the writer thread. Either
 * way, 63, 64 and 65 events in one call are each stored once, and a
 * second call finds every one a duplicate. */
Test(store, writer_self_commit_boundary)
{
    tm *t = open_or_die();
    const int ns[] = {63, 64, 65};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        tm_buf b = TM_BUF_INIT;
        tm__buf_putc(&b, '[');
        for (int i = 0; i < ns[k]; i++)
            tm__buf_printf(&b, "%s{\"id\":\"self-%d-%d\",\"provider\":\"p\",\"input_tokens\":%d}",
                           i ? "," : "", ns[k], i, i);
        tm__buf_putc(&b, ']');
        for (int pass = 0; pass < 2; pass++) {
            int64_t before = 0, after = 0;
            tm_batch_result *r = NULL;
            cr_assert_eq(tm_count(t, &before), TM_OK);
            cr_assert_eq(tm_track_json(t, b.data, b.len, 0, NULL, &r), TM_OK, "%s", tm_errmsg());
            cr_assert_eq(tm_count(t, &after), TM_OK);
            cr_expect_eq(r->accepted, pass ? 0 : (size_t)ns[k], "n=%d pass %d: %zu accepted", ns[k], pass,
                         r->accepted);
            cr_expect_eq(r->duplicates, pass ? (size_t)ns[k] : 0, "n=%d pass %d: %zu duplicates", ns[k], pass,
                         r->duplicates);
            cr_expect_eq(after - before, pass ? 0 : ns[k], "n=%d pass %d: %lld stored, want %d", ns[k], pass,
                         (long long)(after - before), pass ? 0 : ns[k]);
            tm_batch_result_free(r);
        }
        tm__buf_free(&b);
    }
    tm_close(t);
}

Test(store, track_json_per_item_results)
{
    tm *t = open_or_die();
    const char *body = "{\"id\":\"a\",\"provider\":\"openai\",\"input_tokens\":5}\n"
                       "\n"
                       "{\"id\":\"b\",\"input_tokens\":-5}\n"
                       "not json\n"
                       "{\"id\":\"a\",\"provider\":\"openai\",\"input_tokens\":5}\n"
                       "{\"id\":\"c\",\"userId\":\"u1\",\"metricType\":\"evaluation_run\"}\n";
    tm_batch_result *r = NULL;
    cr_assert_eq(tm_track_json(t, body, strlen(body), 0, NULL, &r), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(r->n, 5);
    cr_expect_eq(r->accepted, 2);
    cr_expect_eq(r->duplicates, 1);
    cr_expect_eq(r->rejected, 2);
    cr_expect_eq(r->items[0].status, TM_ITEM_ACCEPTED);
    cr_expect_eq(r->items[1].status, TM_ITEM_REJECTED);
    cr_expect_eq(r->items[1].line, 3);
    cr_expect_str_eq(r->items[1].error, "input_tokens: must be a non-negative integer");
    cr_expect_eq(r->items[2].line, 4);
    cr_expect(strncmp(r->items[2].error, "invalid JSON", 12) == 0, "%s", r->items[2].error);
    cr_expect_eq(r->items[3].status, TM_ITEM_DUPLICATE);
    cr_expect_eq(r->items[4].index, 4);
    tm_batch_result_free(r);

    /* An array, and one object with an Idempotency-Key default id. */
    const char *arr = "[{\"id\":\"d\",\"provider\":\"p\"},{\"id\":\"a\",\"provider\":\"p\"},{\"value\":\"x\"}]";
    cr_assert_eq(tm_track_json(t, arr, strlen(arr), 0, NULL, &r), TM_OK);
    cr_expect_eq(r->accepted, 1);
    cr_expect_eq(r->duplicates, 1);
    cr_expect_eq(r->rejected, 1);
    cr_expect_eq(r->items[2].line, 0);
    tm_batch_result_free(r);
    const char *one = "{\"provider\":\"x\"}";
    cr_assert_eq(tm_track_json(t, one, strlen(one), 0, "idem-1", &r), TM_OK);
    cr_expect_eq(r->accepted, 1);
    tm_batch_result_free(r);
    cr_assert_eq(tm_track_json(t, one, strlen(one), 0, "idem-1", &r), TM_OK);
    cr_expect_eq(r->duplicates, 1);
    tm_batch_result_free(r);

    /* A UTF-8 byte-order mark before a body is skipped, not an error. */
    const char *bom = "\xEF\xBB\xBF{\"id\":\"bom-1\",\"provider\":\"x\"}\n{\"id\":\"bom-2\",\"provider\":\"x\"}\n";
    cr_assert_eq(tm_track_json(t, bom, strlen(bom), TM_JSON_NDJSON, NULL, &r), TM_OK, "%s", tm_errmsg());
    cr_expect_eq(r->accepted, 2);
    tm_batch_result_free(r);
    cr_assert_eq(tm_track_json(t, bom, strlen(bom), 0, NULL, &r), TM_OK, "%s", tm_errmsg());
    cr_expect_eq(r->duplicates, 2);
    tm_batch_result_free(r);

    /* Unreadable bodies. */
    cr_expect_eq(tm_track_json(t, "  \n", 3, 0, NULL, &r), TM_EINVAL);
    cr_expect_eq(tm_track_json(t, "[]", 2, 0, NULL, &r), TM_EINVAL);
    cr_expect_eq(tm_track_json(t, "{\"a\":", 5, 0, NULL, &r), TM_EINVAL);
    cr_expect_eq(tm_track_json(t, "42", 2, 0, NULL, &r), TM_EINVAL);
    cr_expect(strstr(tm_errmsg(), "not a number") != NULL, "%s", tm_errmsg());

    int64_t n = 0;
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_assert_eq(n, 6); /* a, c, d, idem-1, bom-1, bom-2 */
    cr_assert_eq(tm_verify(t, sink, NULL), TM_OK);
    tm_close(t);
}

Test(store, large_batch_streams_in_chunks)
{
    tm *t = open_or_die();
    size_t n = 20000, cap = n * 64;
    char *body = malloc(cap), *p = body;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "{\"id\":\"e%zu\",\"input_tokens\":%zu}\n", i, i);
    tm_batch_result *r = NULL;
    cr_assert_eq(tm_track_json(t, body, (size_t)(p - body), TM_JSON_NDJSON, NULL, &r), TM_OK);
    cr_assert_eq(r->accepted, n);
    tm_batch_result_free(r);
    cr_assert_eq(tm_track_json(t, body, (size_t)(p - body), TM_JSON_NDJSON, NULL, &r), TM_OK);
    cr_assert_eq(r->duplicates, n);
    tm_batch_result_free(r);
    free(body);
    int64_t c = 0;
    cr_assert_eq(tm_count(t, &c), TM_OK);
    cr_assert_eq(c, (int64_t)n);
    tm_close(t);
}

typedef struct producer {
    tm *t;
    int id, n, sync;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    char id[32];
    for (int i = 0; i < p->n; i++) {
        tm_event ev;
        tm_event_init(&ev);
        snprintf(id, sizeof id, "p%d-%d", p->id, i);
        ev.id = id;
        ev.user_id = i % 2 ? "alice" : "bob";
        ev.output_tokens = i;
        ev.has = TM_HAS_TOKENS;
        int rc = p->sync ? tm_track_sync(p->t, &ev, NULL) : tm_track(p->t, &ev);
        if (rc)
            return (void *)1;
    }
    return NULL;
}

Test(store, concurrent_producers)
{
    tm_options o = {.queue_max = 64, .batch_max = 16}; /* a small queue forces blocking and many batches */
    tm *t = NULL;
    cr_assert_eq(tm_open(&t, path, &o), TM_OK);
    pthread_t th[8];
    producer ps[8];
    for (int i = 0; i < 8; i++) {
        ps[i] = (producer){t, i, 500, i % 2};
        pthread_create(&th[i], NULL, produce, &ps[i]);
    }
    for (int i = 0; i < 8; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
    cr_assert_eq(tm_flush(t), TM_OK);
    int64_t n = 0;
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_assert_eq(n, 4000);
    int seen = 0;
    tm_event_filter f = {"alice", NULL, 0, 0, 0};
    cr_assert_eq(tm_events(t, &f, count_cb, &seen), TM_OK);
    cr_assert_eq(seen, 2000);
    cr_assert_eq(tm_verify(t, sink, NULL), TM_OK);
    tm_close(t);
}

typedef struct seen {
    int64_t last_ts;
    int n;
    int ordered;
} seen;

static int order_cb(void *arg, const tm_event *ev)
{
    seen *s = arg;
    if (s->n && ev->ts_us > s->last_ts)
        s->ordered = 0;
    s->last_ts = ev->ts_us;
    s->n++;
    return 0;
}

Test(store, events_newest_first_with_filters)
{
    tm *t = open_or_die();
    for (int i = 0; i < 50; i++) {
        tm_event ev;
        tm_event_init(&ev);
        ev.ts_us = 1790000000000000LL + (int64_t)((i * 7919) % 50) * 1000000;
        ev.has = TM_HAS_TS;
        ev.provider = i % 3 ? "openai" : "anthropic";
        cr_assert_eq(tm_track(t, &ev), TM_OK);
    }
    cr_assert_eq(tm_flush(t), TM_OK);
    seen s = {0, 0, 1};
    tm_event_filter f = {NULL, NULL, 0, 0, 0};
    cr_assert_eq(tm_events(t, &f, order_cb, &s), TM_OK);
    cr_assert_eq(s.n, 50);
    cr_assert(s.ordered);
    s = (seen){0, 0, 1};
    f = (tm_event_filter){NULL, "anthropic", 1790000000000000LL + 10000000, 1790000000000000LL + 40000000, 5};
    cr_assert_eq(tm_events(t, &f, order_cb, &s), TM_OK);
    cr_assert_eq(s.n, 5);
    cr_assert(s.last_ts >= 1790000000000000LL + 10000000);
    s = (seen){0, 0, 1};
    f = (tm_event_filter){"nobody", NULL, 0, 0, 0};
    cr_assert_eq(tm_events(t, &f, order_cb, &s), TM_OK);
    cr_assert_eq(s.n, 0);
    tm_close(t);
}

Test(store, verify_detects_tampering)
{
    tm *t = open_or_die();
    tm_event ev;
    tm_event_init(&ev);
    ev.id = "x";
    ev.provider = "p";
    cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK);
    tm_close(t);
    cr_assert_eq(tst_store_exec(path, "UPDATE meta SET value = 5 WHERE key = 'events'",
                                "UPDATE counts SET events = 5"), 0);
    t = open_or_die();
    cr_assert_eq(tm_verify(t, sink, NULL), TM_ECORRUPT);
    tm_close(t);
}

Test(store, newer_schema_is_refused)
{
    tm *t = open_or_die();
    tm_close(t);
    cr_assert_eq(tst_store_exec(path, "PRAGMA user_version = 99", "UPDATE tm_schema SET version = 99"), 0);
    t = NULL;
    cr_assert_eq(tm_open(&t, path, NULL), TM_EVERSION);
    cr_assert(strstr(tm_errmsg(), "upgrade tokmeter") != NULL, "%s", tm_errmsg());
    cr_assert_null(t);
}

Test(store, unwritable_path_is_an_error)
{
    tm *t = NULL;
    int rc = tm_open(&t, "/proc/nope/t.db", NULL);
    cr_assert_neq(rc, TM_OK);
    cr_assert(strlen(tm_errmsg()) > 0);
    cr_assert_eq(tm_open(&t, "", NULL), TM_EINVAL);
}

/* Reads run side by side, and neither a count (the kind of short lookup a
 * key check is) nor a durable write waits for a read in progress (issue
 * 12, defect 10). Each read below pauses inside its scan until the others
 * have done their part; the 10 s waits only keep a regression (every read
 * behind one lock) from hanging the suite: they never pass a slow run. */
typedef struct pause_ctx {
    tm *t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int scanning;       /* scans paused inside their first row          */
    int counted, wrote; /* done while both scans were paused            */
    int timed_out;
} pause_ctx;

static int wait_until(pause_ctx *c, const int *flag, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    int rc = 0;
    while (*flag < want && rc == 0)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
    return *flag >= want;
}

static int paused_row(void *arg, const tm_event *ev)
{
    pause_ctx *c = arg;
    (void)ev;
    pthread_mutex_lock(&c->mu);
    if (c->scanning < 2) { /* the first row of each of the two scans */
        c->scanning++;
        pthread_cond_broadcast(&c->cv);
        if (!wait_until(c, &c->scanning, 2) || !wait_until(c, &c->counted, 1) ||
            !wait_until(c, &c->wrote, 1))
            c->timed_out = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void *paused_scan(void *arg)
{
    pause_ctx *c = arg;
    return (void *)(intptr_t)tm_events(c->t, NULL, paused_row, c);
}

Test(store, reads_run_side_by_side_and_never_hold_up_writes)
{
    tm *t = open_or_die();
    tm_event ev;
    tm_event_init(&ev);
    ev.provider = "openai";
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK);
    pause_ctx c = {.t = t};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    pthread_t a, b;
    pthread_create(&a, NULL, paused_scan, &c);
    pthread_create(&b, NULL, paused_scan, &c);
    pthread_mutex_lock(&c.mu);
    int both = wait_until(&c, &c.scanning, 2);
    pthread_mutex_unlock(&c.mu);
    cr_expect(both, "two scans were never in progress at once: reads wait for each other");
    int64_t n = 0;
    cr_expect_eq(tm_count(t, &n), TM_OK);
    cr_expect_eq(n, 3, "count during the scans: got %lld, want 3", (long long)n);
    pthread_mutex_lock(&c.mu);
    c.counted = 1;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    cr_expect_eq(tm_track_sync(t, &ev, NULL), TM_OK);
    pthread_mutex_lock(&c.mu);
    c.wrote = 1;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    cr_expect_eq((intptr_t)ra, TM_OK);
    cr_expect_eq((intptr_t)rb, TM_OK);
    cr_expect_eq(c.timed_out, 0, "a paused scan held up another read, the count or the write");
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_expect_eq(n, 4, "events after the scans: got %lld, want 4", (long long)n);
    tm_close(t);
}

/* The WAL restart at its size limit: with the background checkpointer off,
 * only the writer's RESTART at `limit` pages bounds the WAL. Over many
 * small commits the WAL reaches the limit (it is not restarted earlier)
 * and never passes it by more than one commit's frames; every event stays
 * readable and the store verifies. */
Test(store, wal_restart_at_its_size_limit)
{
    enum { LIMIT = 64, COMMITS = 400 };
    if (tst_pg())
        cr_skip_test("a SQLite WAL test");
    tm *t = open_or_die();
    tm__store_wal_limits(tm__store(t), 1 << 30, LIMIT);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    long frame = 24 + 4096, max_frames = 0, max_step = 0, prev = 0, restarts = 0;
    unsigned char hdr[16], seq[4] = {0};
    for (int i = 0; i < COMMITS; i++) {
        char id[32];
        snprintf(id, sizeof id, "w%d", i);
        tm_event ev;
        tm_event_init(&ev);
        ev.id = id;
        ev.provider = "p";
        ev.model = "m";
        ev.user_id = id; /* a new name each time: more pages per commit */
        ev.input_tokens = i;
        ev.has |= TM_HAS_TOKENS;
        int dup = -1;
        cr_assert_eq(tm_track_sync(t, &ev, &dup), TM_OK, "%s", tm_errmsg());
        struct stat sb;
        cr_assert_eq(stat(wal, &sb), 0);
        long frames = (long)((sb.st_size - 32) / frame);
        if (frames - prev > max_step)
            max_step = frames - prev;
        /* bytes 12-15 of the WAL header: its checkpoint sequence, one more
         * at each restart */
        FILE *f = fopen(wal, "rb");
        cr_assert_not_null(f);
        cr_assert_eq(fread(hdr, 1, sizeof hdr, f), sizeof hdr);
        fclose(f);
        restarts += i > 0 && memcmp(seq, hdr + 12, 4) != 0;
        memcpy(seq, hdr + 12, 4);
        if (frames > max_frames)
            max_frames = frames;
        prev = frames;
    }
    cr_expect_geq(restarts, 3, "the WAL was restarted %ld times", restarts);
    cr_expect_geq(max_frames, LIMIT, "restarted before the limit: at most %ld frames", max_frames);
    cr_expect_leq(max_frames, LIMIT + max_step, "WAL of %ld frames: over the limit of %d by more "
                  "than one commit (%ld frames)", max_frames, LIMIT, max_step);
    int64_t n = 0;
    cr_assert_eq(tm_count(t, &n), TM_OK);
    cr_expect_eq(n, COMMITS);
    cr_expect_eq(tm_verify(t, sink, NULL), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(tm_close(t), TM_OK);
}

/* The events total of a report over all time, from the JSON's totals. */
static long long total_events(tm *t)
{
    const char *params[] = {"from", "2020-01-01", "to", "2030-01-01", NULL};
    tm_report *r = NULL;
    cr_assert_eq(tm_report_run(t, params, &r), TM_OK, "report: %s", tm_errmsg());
    const char *tot = strstr(tm_report_json(r), "\"totals\": {\"events\": ");
    cr_assert_not_null(tot, "%s", tm_report_json(r));
    long long n = strtoll(tot + strlen("\"totals\": {\"events\": "), NULL, 10);
    tm_report_free(r);
    return n;
}

static void track_at(tm *t, const char *id, const char *user, int64_t ts_us)
{
    tm_event ev;
    tm_event_init(&ev);
    ev.id = id;
    ev.provider = "p";
    ev.user_id = user;
    ev.ts_us = ts_us;
    ev.input_tokens = 10;
    ev.has |= TM_HAS_TS | TM_HAS_TOKENS;
    cr_assert_eq(tm_track_sync(t, &ev, NULL), TM_OK, "%s: %s", id, tm_errmsg());
}

/* A PostgreSQL store at schema version 1 (event and commit counters in
 * tm_meta, no rollup log: rebuilt here from a version 2 store with the
 * same cells) migrates to version 2 on open: the event count carries over,
 * reports and verify agree, and it takes new events. */
Test(store, pg_schema_1_migrates)
{
    if (!tst_pg())
        cr_skip_test("a PostgreSQL schema test");
    tm *t = open_or_die();
    track_at(t, "m1", "u1", 1780000000000000LL);
    track_at(t, "m2", "u2", 1780003600000000LL);
    track_at(t, "m3", "u1", 1780090000000000LL);
    tm_close(t);
#define V1_SUMS "SUM(events), SUM(requests), SUM(value), SUM(input_tokens), SUM(output_tokens)," \
    " SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(total_tokens)," \
    " SUM(cost_pusd), SUM(unpriced), SUM(errors), SUM(lat_n), SUM(lat_sum_ns), NULL"
#define V1_KEY "proj, hour, d0, d1, d2, d3, d4, d5, d6"
    cr_assert_eq(tst_store_exec(path, "",
        "INSERT INTO rollup SELECT " V1_KEY ", " V1_SUMS " FROM rollup_log WHERE proj < 3 GROUP BY " V1_KEY ";"
        "INSERT INTO urollup SELECT " V1_KEY ", " V1_SUMS " FROM rollup_log WHERE proj >= 3 GROUP BY " V1_KEY ";"
        "DROP TABLE rollup_log;"
        "INSERT INTO tm_meta SELECT 'events', SUM(events) FROM counts;"
        "INSERT INTO tm_meta VALUES('commits', 3);"
        "DROP TABLE counts;"
        "DELETE FROM tm_meta WHERE key IN ('epoch', 'fold');"
        "UPDATE tm_schema SET version = 1"), 0);
    t = open_or_die();
    int64_t n = -1;
    cr_assert_eq(tm__store(t)->ops->count(tm__store(t), &n), TM_OK);
    cr_assert_eq(n, 3, "count after migration: got %lld, want 3", (long long)n);
    cr_assert_eq(total_events(t), 3);
    cr_assert_eq(tm_verify(t, sink, NULL), TM_OK, "%s", tm_errmsg());
    track_at(t, "m4", "u3", 1780100000000000LL);
    track_at(t, "m1", "u1", 1780000000000000LL); /* a duplicate still */
    cr_assert_eq(tm__store(t)->ops->count(tm__store(t), &n), TM_OK);
    cr_assert_eq(n, 4, "count: got %lld, want 4", (long long)n);
    cr_assert_eq(total_events(t), 4);
    cr_assert_eq(tm_verify(t, sink, NULL), TM_OK, "%s", tm_errmsg());
    tm_close(t);
    cr_assert_eq(tst_store_exec(path, "", "SELECT 1 FROM tm_schema WHERE version = 2;"
                                          "DO $$ BEGIN IF (SELECT version FROM tm_schema) != 2 THEN"
                                          " RAISE 'schema version is not 2'; END IF; END $$"), 0);
}

/* Two handles on one PostgreSQL store (two daemons): each query sees
 * every commit of both made before it, through the change log (over more
 * commits than a fold takes, so folds happen in between), and after the
 * other's retention of a whole day (a whole reload). */
Test(store, pg_two_handles_see_each_other)
{
    if (!tst_pg())
        cr_skip_test("a PostgreSQL test");
    tm *a = open_or_die(), *b = open_or_die();
    cr_assert_eq(total_events(a), 0);
    /* b commits 300 times: past its second fold try (every 128 commits; the
     * first only records its horizon). */
    const int n = 400;
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%d", i);
        track_at(i % 4 ? b : a, id, i % 2 ? "u1" : "u2", 1780012800000000LL + (int64_t)(i % 40) * 3600000000LL);
        if (i >= 40 && i % 10)
            continue;
        cr_assert_eq(total_events(a), i + 1, "a after %d commits", i + 1);
        cr_assert_eq(total_events(b), i + 1, "b after %d commits", i + 1);
    }
    /* The fold runs on b's own thread: wait for its rows, then read again. */
    const char *folded = "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM rollup) THEN RAISE 'not folded'; END IF; END $$";
    int tries = 0;
    while (tst_store_exec(path, "SELECT 1", folded) != 0 && tries++ < 100)
        usleep(50000);
    cr_assert_lt(tries, 100, "no fold after %d commits of b", 3 * n / 4);
    track_at(b, "after-fold", "u1", 1780012800000000LL + 30 * 3600000000LL);
    cr_assert_eq(total_events(a), n + 1);
    cr_assert_eq(total_events(b), n + 1);
    int64_t deleted = 0;
    cr_assert_eq(tm_retain(b, 1780012800000000LL + 24 * 3600000000LL, &deleted), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(deleted, 24 * n / 40);
    cr_assert_eq(total_events(a), n + 1 - 24 * n / 40);
    track_at(a, "y", "u1", 1780012800000000LL + 50 * 3600000000LL);
    cr_assert_eq(total_events(b), n + 2 - 24 * n / 40);
    cr_assert_eq(tm_verify(a, sink, NULL), TM_OK, "%s", tm_errmsg());
    tm_close(a);
    tm_close(b);
}

/* A name one handle looked up before another stored it (a dictionary miss
 * is asked again, never remembered), and names read back by id, are right
 * on both backends (PostgreSQL keeps the ones it read). */
Test(store, dictionary_names_seen_by_other_handles)
{
    tm *a = open_or_die(), *b = open_or_die();
    const char *params[] = {"from", "2020-01-01", "to", "2030-01-01", "where", "user_id=late",
                            "group_by", "user_id", NULL};
    tm_report *r = NULL;
    track_at(a, "d0", "early", 1780012800000000LL);
    cr_assert_eq(tm_report_run(a, params, &r), TM_OK, "%s", tm_errmsg());
    cr_assert_null(strstr(tm_report_json(r), "\"late\""), "%s", tm_report_json(r));
    tm_report_free(r);
    track_at(b, "d1", "late", 1780012800000000LL + 3600000000LL);
    for (int pass = 0; pass < 2; pass++) { /* the second from what a kept */
        cr_assert_eq(tm_report_run(a, params, &r), TM_OK, "%s", tm_errmsg());
        const char *j = tm_report_json(r);
        cr_assert_not_null(strstr(j, "\"user_id\": \"late\""), "pass %d: %s", pass, j);
        cr_assert_not_null(strstr(j, "\"totals\": {\"events\": 1,"), "pass %d: %s", pass, j);
        tm_report_free(r);
    }
    tm_close(a);
    tm_close(b);
}

/* Retention cuts at the start of a UTC day only: the per-user cells are
 * whole UTC days. An hour inside a day (23:00, 01:00) is refused and
 * removes nothing; midnight removes exactly the events before it. */
Test(store, retention_cuts_at_utc_days_only)
{
    tm *t = open_or_die();
    const int64_t day = 1780012800000000LL, hour = 3600000000LL;
    track_at(t, "r0", "u", day - hour);
    track_at(t, "r1", "u", day);
    track_at(t, "r2", "u", day + hour);
    int64_t deleted = -1;
    for (int h = -1; h <= 1; h += 2) {
        cr_assert_eq(tm_retain(t, day + h * hour, &deleted), TM_EINVAL, "cut at %+d h", h);
        cr_assert(strstr(tm_errmsg(), "start of a UTC day"), "%s", tm_errmsg());
        cr_assert_eq(deleted, 0);
        cr_assert_eq(total_events(t), 3);
    }
    cr_assert_eq(tm_retain(t, day, &deleted), TM_OK, "%s", tm_errmsg());
    cr_assert_eq(deleted, 1);
    cr_assert_eq(total_events(t), 2);
    tm_close(t);
}
