/*
 * tokmeter.c — libtokmeter's public calls: the glue from tm_event (or JSON)
 * through validation to the writer, and the read calls.
 *
 * The ingest path of every source passes here:
 *
 *   tm_track / tm_track_sync / tm_track_json
 *     → decode (JSON only) → admit: tm__event_finish (validate, defaults)
 *       and tm__price_event (cost) → tm__event_clone (owned copy,
 *       generated id) → writer (group commit)
 *
 * tm_track_json works in chunks: it decodes chunk k+1 while the writer
 * commits chunk k, then waits for every chunk before answering, so a large
 * body streams through bounded memory and still answers only when durable.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/err.h"
#include "../core/event.h"
#include "../core/dec.h"
#include "../core/json.h"
#include "../core/tmtime.h"
#include "../policy/policy.h"
#include "../price/price.h"
#include "../query/query.h"
#include "export.h"
#include "lib.h"
#include "../store/store.h"
#include "tokmeter.h"

#define CHUNK 4096

struct tm_handle {
    tm_pctx pc;             /* store, writer, rollups, policy, usage sums:
                               what policy/ borrows (policy.h)              */
    tm_catalog *catalog;    /* replaced whole on reload, under catalog_lock */
    pthread_rwlock_t catalog_lock;
    tm_rollups rollups;     /* loaded on the first query; kept by commit() */
    tm_policy *retired;     /* the policy before the last reload             */
    void (*event_hook)(void *, const tm_event *);
    void *event_hook_arg;
    tm_notify *notify;      /* change notifications, or NULL (atomic)        */
    char tag[17];           /* the store's name in shared keys               */
};

/* The writer's commit hook: fold the committed cells into the in-memory
 * rollups before the events are acknowledged, so a read after an ack sees
 * them. If another process committed in between, the rollups are dropped
 * and reloaded by the next query. A store with a change log (version -1)
 * leaves the rollups to catch up through it; the quota cache is told which
 * users the commit (by its identity) changed, so it keeps the others' sums
 * when its version moves past it. Other daemons are told through Redis. */
static void commit_hook(void *arg, const tm_cellset *cells, int64_t version, int64_t commit,
                        tm_event *const *evs, const unsigned char *dup, size_t n)
{
    tm *t = arg;
    tm_notify *nt = __atomic_load_n(&t->notify, __ATOMIC_ACQUIRE);
    tm_buf users = TM_BUF_INIT;
    int listed = 1; /* else out of memory: anyone's sums may have changed */
    if (version < 0 ? commit > 0 : nt != NULL)
        listed = tm__commit_users(&users, evs, dup, n) == TM_OK;
    const char *u = !listed ? "*\n" : users.data ? users.data : "";
    if (version < 0) { /* the store's change log brings the commit to the rollups */
        if (commit > 0) {
            tm__usage_notify(t->pc.usage, commit, strcmp(u, "*\n") ? u : NULL);
            if (nt)
                tm__notify_commit(nt, commit, u);
        }
        tm__buf_free(&users);
        return;
    }
    tm__usage_commit(t->pc.usage, t->pc.store, evs, dup, n, version);
    if (nt)
        tm__notify_commit(nt, version, u);
    tm__buf_free(&users);
    pthread_rwlock_wrlock(&t->rollups.lock);
    if (t->rollups.loaded) {
        int rc = t->rollups.version + 1 == version ? TM_OK : TM_EBUSY;
        for (size_t i = 0; rc == TM_OK && i < cells->n; i++)
            rc = tm__rollups_merge(&t->rollups, &cells->cells[i]);
        if (rc == TM_OK)
            t->rollups.version = version;
        else
            tm__rollups_clear(&t->rollups);
    }
    pthread_rwlock_unlock(&t->rollups.lock);
}

/* The identity of the store file at path for its rollups snapshot (see
 * tm__rollups_save): zeros when it does not exist yet. */
static void store_ident(const char *path, uint64_t ident[4])
{
    struct stat st;
    memset(ident, 0, 4 * sizeof *ident);
    if (stat(path, &st) != 0)
        return;
    ident[0] = (uint64_t)st.st_dev;
    ident[1] = (uint64_t)st.st_ino;
    ident[2] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    ident[3] = (uint64_t)st.st_size;
}

/* A SQLite store's rollups snapshot is the file beside it, PATH-rollups;
 * r->ident is the store file's identity before it is opened. */
static int snapshot_path(tm_rollups *r, const char *path)
{
    if (tm__store_is_postgres(path))
        return TM_OK;
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    size_t len = strlen(path) + sizeof "-rollups";
    if (!(r->snapshot = malloc(len)))
        return TM_ENOMEM;
    snprintf(r->snapshot, len, "%s-rollups", path);
    store_ident(path, r->ident);
    return TM_OK;
}

int tm_open(tm **out, const char *path, const tm_options *opts)
{
    tm *t = NULL;
    int rc;
    tm__clear_err();
    *out = NULL;
    if (!path || !*path)
        return tm__fail(TM_EINVAL, "tm_open: no store path given");
    if (!(t = calloc(1, sizeof *t)))
        return TM_ENOMEM;
    tm__rollups_init(&t->rollups);
    t->pc.rollups = &t->rollups;
    unsigned char h[8];
    if (sodium_init() < 0) {
        rc = tm__fail(TM_EIO, "tm_open: libsodium failed to start");
        goto out;
    }
    crypto_generichash(h, sizeof h, (const unsigned char *)path, strlen(path), NULL, 0);
    for (int i = 0; i < 8; i++)
        snprintf(t->tag + 2 * i, 3, "%02x", h[i]);
    pthread_rwlock_init(&t->catalog_lock, NULL);
    if (!(t->pc.usage = tm__usage_new())) {
        rc = TM_ENOMEM;
        goto out;
    }
    if ((rc = tm__catalog_load(&t->catalog, opts ? opts->prices : NULL)) ||
        (rc = tm__policy_load(&t->pc.policy, opts ? opts->config : NULL)) ||
        (rc = snapshot_path(&t->rollups, path)) ||
        (rc = tm__store_open(path, opts ? opts->store_mode : 0, &t->pc.store)))
        goto out;
    rc = tm__writer_start(&t->pc.writer, t->pc.store, opts ? opts->queue_max : 0,
                          opts ? opts->batch_max : 0, commit_hook, t);
out:
    if (rc) {
        tm__store_close(t->pc.store);
        tm__catalog_free(t->catalog);
        tm__policy_free(t->pc.policy);
        tm__rollups_destroy(&t->rollups);
        tm__usage_free(t->pc.usage);
        pthread_rwlock_destroy(&t->catalog_lock);
        free(t);
        return rc;
    }
    *out = t;
    return TM_OK;
}

int tm_close(tm *t)
{
    if (!t)
        return TM_OK;
    int rc = tm__writer_stop(t->pc.writer);
    tm__notify_stop(t->notify); /* after the writer: its last commits publish */
    int64_t version = -1;
    /* Every commit is in the rollups now (the hook): keep them for the
     * next open, if they are the store's current state, with the store
     * file's identity once closed. */
    int save = rc == TM_OK && t->rollups.loaded && t->rollups.snapshot &&
               t->pc.store->ops->version(t->pc.store, &version) == TM_OK;
    tm__store_close(t->pc.store);
    if (save) {
        uint64_t ident[4];
        size_t len = strlen(t->rollups.snapshot) - (sizeof "-rollups" - 1);
        char *db = strndup(t->rollups.snapshot, len);
        if (db) {
            store_ident(db, ident);
            tm__rollups_save(&t->rollups, version, ident);
            free(db);
        }
    }
    tm__catalog_free(t->catalog);
    tm__policy_free(t->pc.policy);
    tm__policy_free(t->retired);
    tm__rollups_destroy(&t->rollups);
    tm__usage_free(t->pc.usage);
    pthread_rwlock_destroy(&t->catalog_lock);
    free(t);
    return rc;
}


/* Validates and fills defaults, then prices. On TM_EINVAL the reason is in
 * err. */
static int finish_and_price(tm *t, tm_event *e, int64_t now, char *err, size_t errlen)
{
    e->has &= ~(unsigned)(TM__HAS_GEN_ID | TM__HAS_REPLACE);
    int rc = tm__event_finish(e, now, err, errlen);
    if (rc == TM_OK) {
        pthread_rwlock_rdlock(&t->catalog_lock);
        rc = tm__price_event(t->catalog, e, NULL);
        pthread_rwlock_unlock(&t->catalog_lock);
        if (rc == TM_EINVAL)
            snprintf(err, errlen, "%s", tm_errmsg());
    }
    return rc;
}

int tm__admit_import(tm *t, tm_event *e, int64_t now, char *err, size_t errlen)
{
    int rc = finish_and_price(t, e, now, err, errlen);
    if (rc == TM_OK)
        e->has |= TM__HAS_REPLACE;
    return rc;
}

/* The one admission step of every live way in: validate, price, debit the
 * rate limits. On TM_EINVAL the reason is in err. */
static int admit(tm *t, tm_event *e, int64_t now, char *err, size_t errlen)
{
    int rc = finish_and_price(t, e, now, err, errlen);
    if (rc == TM_OK && e->total_tokens) /* the tokens are spent: debit the limits */
        tm__rate_consume(tm__pctx_policy(&t->pc), e->user_id, e->operation, e->total_tokens, now);
    if (rc == TM_OK && t->event_hook)
        t->event_hook(t->event_hook_arg, e);
    return rc;
}

/* Admits a copy of ev and returns an owned clone ready for the writer. */
static int prepare(tm *t, const tm_event *ev, tm_event **out)
{
    char err[256];
    tm_event e = *ev;
    int rc = admit(t, &e, tm__now_us(), err, sizeof err);
    if (rc == TM_EINVAL)
        return tm__fail(TM_EINVAL, "%s", err);
    if (rc)
        return rc;
    if (!(*out = tm__event_clone(&e)))
        return TM_ENOMEM;
    return TM_OK;
}

int tm_track(tm *t, const tm_event *ev)
{
    tm_event *c = NULL;
    tm__clear_err();
    int rc = prepare(t, ev, &c);
    return rc ? rc : tm__writer_submit(t->pc.writer, &c, 1, NULL);
}

int tm_track_sync(tm *t, const tm_event *ev, int *duplicate)
{
    tm_event *c = NULL;
    unsigned char dup = 0;
    tm_ticket ticket = {1, 0, &dup, NULL};
    tm__clear_err();
    int rc = prepare(t, ev, &c);
    if (rc == TM_OK)
        rc = tm__writer_submit(t->pc.writer, &c, 1, &ticket);
    if (rc == TM_OK)
        rc = tm__writer_wait(t->pc.writer, &ticket);
    if (duplicate)
        *duplicate = rc == TM_OK && dup;
    return rc;
}

int tm_flush(tm *t)
{
    tm__clear_err();
    return tm__writer_flush(t->pc.writer);
}

/* ---- JSON ingest ---- */

struct tm_track_job {
    tm *t;
    tm_batch_result *res;
    size_t cap;
    tm_arena arena;             /* one event's scratch, reset after each    */
    tm_arena doc;               /* the parsed body: lives until the end     */
    tm_batch *batch;            /* accepted events on their way to disk     */
    const char *id_default;
    size_t max_events;          /* 0: no limit                              */
    int64_t now;
};
typedef struct tm_track_job jctx;

static int add_item(jctx *c, size_t line, tm_item_status st, const char *error)
{
    tm_batch_result *r = c->res;
    tm_item_result *items = tm__grow(r->items, r->n, &c->cap, sizeof *items, 64);
    if (!items)
        return TM_ENOMEM;
    r->items = items;
    tm_item_result *it = &r->items[r->n];
    it->index = r->n;
    it->line = line;
    it->status = st;
    it->error = NULL;
    r->n++;
    if (error && !(it->error = strdup(error)))
        return TM_ENOMEM;
    return TM_OK;
}

/* A committed event's fate: a duplicate changes its item's status. */
static void fate(void *arg, size_t item, int dup)
{
    jctx *c = arg;
    if (dup)
        c->res->items[item].status = TM_ITEM_DUPLICATE;
}

/* Decodes and validates one event value; queues it or records why not. */
static int one(jctx *c, const tm_jv *v, size_t line, int single)
{
    tm_event_builder b;
    tm__event_builder_init(&b, &c->arena);
    int rc = tm__event_from_json(&b, v);
    if (rc == TM_OK && single && c->id_default && !b.ev.id)
        b.ev.id = c->id_default;
    if (rc == TM_OK)
        rc = admit(c->t, &b.ev, c->now, b.err, sizeof b.err);
    if (rc == TM_EINVAL) {
        rc = add_item(c, line, TM_ITEM_REJECTED, b.err);
    } else if (rc == TM_OK) {
        tm_event *clone = tm__event_clone(&b.ev);
        size_t item = c->res->n;
        if (!clone)
            rc = TM_ENOMEM;
        else if ((rc = add_item(c, line, TM_ITEM_ACCEPTED, NULL)))
            free(clone);
        else
            rc = tm__batch_add(c->batch, clone, item);
    }
    tm__arena_reset(&c->arena); /* the clone owns what it needs */
    return rc;
}

static int ndjson(jctx *c, const char *s, size_t len)
{
    size_t line = 0;
    int rc = TM_OK;
    for (size_t i = 0; i < len && rc == TM_OK;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len, j = i;
        line++;
        while (j < end && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
            j++;
        if (j < end) {
            tm_jv *v = NULL;
            char jerr[200];
            rc = tm__json_parse(&c->arena, s + i, end - i, &v, jerr, sizeof jerr);
            if (rc == TM_EINVAL)
                rc = add_item(c, line, TM_ITEM_REJECTED, jerr);
            else if (rc == TM_OK)
                rc = one(c, v, line, 0);
        }
        i = end + 1;
    }
    return rc;
}

/* The number of NDJSON records (non-blank lines) in s. */
static size_t count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        for (size_t j = i; j < end; j++)
            if (!strchr(" \t\r", s[j])) {
                n++;
                break;
            }
        i = end + 1;
    }
    return n;
}

static int too_many(size_t n, size_t max)
{
    return tm__fail(TM_ETOOBIG, "body: %zu events, more than the limit of %zu per request; send "
                                "smaller batches", n, max);
}

static int decode(jctx *c, const char *json, size_t len, unsigned flags)
{
    size_t i = 0;
    if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte-order mark */
        json += 3;
        len -= 3;
    }
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n'))
        i++;
    if (i == len)
        return tm__fail(TM_EINVAL, "body: empty (send an event object, an array, or NDJSON)");
    if (flags & TM_JSON_NDJSON) {
        if (c->max_events && count_lines(json, len) > c->max_events)
            return too_many(count_lines(json, len), c->max_events);
        return ndjson(c, json, len);
    }

    /* The tree lives in its own arena: the event scratch (c->arena) is
     * reset after every event while the array is still being walked. */
    tm_jv *v = NULL;
    char jerr[200];
    int rc = tm__json_parse(&c->doc, json, len, &v, jerr, sizeof jerr);
    if (rc == TM_EINVAL) {
        /* Not one value: several lines that each hold an object are NDJSON. */
        const char *nl = memchr(json + i, '\n', len - i);
        if (json[i] == '{' && nl && nl + 1 < json + len) {
            tm__arena_free(&c->doc);
            if (c->max_events && count_lines(json, len) > c->max_events)
                return too_many(count_lines(json, len), c->max_events);
            return ndjson(c, json, len);
        }
        return tm__fail(TM_EINVAL, "body: %s", jerr);
    }
    if (rc)
        return rc;
    if (v->type == TM_J_ARRAY) {
        if (v->n == 0)
            return tm__fail(TM_EINVAL, "body: empty array");
        if (c->max_events && v->n > c->max_events)
            return too_many(v->n, c->max_events);
        for (size_t k = 0; k < v->n && rc == TM_OK; k++)
            rc = one(c, v->vals[k], 0, 0);
        return rc;
    }
    if (v->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "body: must be an event object, an array of them, or NDJSON, "
                                   "not %s", tm__json_type_name(v->type));
    return one(c, v, 1, 1);
}

int tm_track_json(tm *t, const char *json, size_t len, unsigned flags, const char *id_default,
                  tm_batch_result **out)
{
    return tm__track_json(t, json, len, flags, id_default, 0, out);
}

int tm__track_json(tm *t, const char *json, size_t len, unsigned flags, const char *id_default,
                   size_t max_events, tm_batch_result **out)
{
    tm_track_job *j = NULL;
    *out = NULL;
    int rc = tm__track_start(t, json, len, flags, id_default, max_events, NULL, NULL, &j);
    return rc ? rc : tm__track_end(j, out);
}

int tm__track_start(tm *t, const char *json, size_t len, unsigned flags, const char *id_default,
                    size_t max_events, void (*ready)(void *arg), void *ready_arg, tm_track_job **out)
{
    jctx *c = calloc(1, sizeof *c);
    *out = NULL;
    tm__clear_err();
    if (!c)
        return tm__fail(TM_ENOMEM, "%s", tm_strerror(TM_ENOMEM));
    c->t = t;
    c->max_events = max_events;
    c->id_default = id_default;
    c->now = tm__now_us();
    int rc = TM_OK;
    /* Chunks of CHUNK events, all in flight at once: the answer waits for
     * the last anyway, and the writer commits them back to back. */
    if (!(c->res = calloc(1, sizeof *c->res)))
        rc = TM_ENOMEM;
    else
        rc = tm__batch_open(t, CHUNK, 0, fate, c, &c->batch);
    if (rc == TM_OK && ready)
        tm__batch_notify(c->batch, ready, ready_arg);
    if (rc == TM_OK)
        rc = decode(c, json, len, flags);
    if (rc == TM_OK) {
        *out = c;
        return TM_OK;
    }
    tm__batch_free(c->batch); /* waits for what is in flight; ready is not called */
    tm__arena_free(&c->arena);
    tm__arena_free(&c->doc);
    tm_batch_result_free(c->res);
    free(c);
    if (!*tm_errmsg()) /* a bare TM_ENOMEM from below: the answer still says why */
        tm__fail(rc, "%s", tm_strerror(rc));
    return rc;
}

void tm__track_arm(tm_track_job *c)
{
    tm__batch_arm(c->batch);
}

int tm__track_end(tm_track_job *c, tm_batch_result **out)
{
    *out = NULL;
    if (!c)
        return TM_OK;
    tm__clear_err();
    int rc = tm__batch_flush(c->batch);
    tm__batch_free(c->batch);
    for (size_t i = 0; c->res && i < c->res->n; i++) {
        tm_item_status st = c->res->items[i].status;
        c->res->accepted += st == TM_ITEM_ACCEPTED;
        c->res->duplicates += st == TM_ITEM_DUPLICATE;
        c->res->rejected += st == TM_ITEM_REJECTED;
    }
    tm__arena_free(&c->arena);
    tm__arena_free(&c->doc);
    tm_batch_result *res = c->res;
    free(c);
    if (rc) {
        tm_batch_result_free(res);
        if (!*tm_errmsg())
            tm__fail(rc, "%s", tm_strerror(rc));
        return rc;
    }
    *out = res;
    return TM_OK;
}

void tm_batch_result_free(tm_batch_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free((char *)r->items[i].error);
    free(r->items);
    free(r);
}

/* ---- reads ---- */

int tm_events(tm *t, const tm_event_filter *f, int (*fn)(void *, const tm_event *), void *arg)
{
    tm__clear_err();
    return t->pc.store->ops->scan(t->pc.store, f, fn, arg);
}

typedef struct reprice_ctx {
    tm *t;
    int64_t since, until, examined, changed;
    tm_i128 delta;
} reprice_ctx;

static int reprice_one(void *arg, tm_event *ev)
{
    reprice_ctx *r = arg;
    ev->has &= ~(unsigned)TM_HAS_COST; /* only non-reported rows come here */
    pthread_rwlock_rdlock(&r->t->catalog_lock);
    int rc = tm__price_event(r->t->catalog, ev, NULL);
    pthread_rwlock_unlock(&r->t->catalog_lock);
    return rc;
}

static int reprice_task(tm_store *s, void *arg)
{
    reprice_ctx *r = arg;
    return s->ops->reprice(s, r->since, r->until, reprice_one, r, &r->examined, &r->changed,
                           &r->delta);
}

int tm_reprice(tm *t, int64_t since_us, int64_t until_us, tm_reprice_result *out)
{
    reprice_ctx r = {t, since_us, until_us, 0, 0, 0};
    tm__clear_err();
    int rc = tm__writer_exec(t->pc.writer, reprice_task, &r);
    memset(out, 0, sizeof *out);
    if (rc == TM_OK) {
        out->examined = r.examined;
        out->changed = r.changed;
        tm__dec_format(r.delta, 12, out->delta_usd);
    }
    return rc;
}

typedef struct retain_ctx {
    int64_t before, deleted;
} retain_ctx;

static int retain_task(tm_store *s, void *arg)
{
    retain_ctx *r = arg;
    return s->ops->retain(s, r->before, &r->deleted);
}

int tm_retain(tm *t, int64_t before_us, int64_t *deleted)
{
    retain_ctx r = {before_us, 0};
    tm__clear_err();
    *deleted = 0;
    if (before_us % (24 * 3600000000LL) != 0)
        return tm__fail(TM_EINVAL, "retention: the cut-off must be the start of a UTC day (00:00Z)");
    int rc = tm__writer_exec(t->pc.writer, retain_task, &r);
    if (rc == TM_OK)
        *deleted = r.deleted;
    return rc;
}

/* ---- queries ---- */

int tm__run_query(tm *t, const tm_query_spec *q, tm_qresult **out)
{
    tm__clear_err();
    return tm__query_run(t->pc.store, &t->rollups, q, tm__now_us(), out);
}

int tm__run_top_errors(tm *t, const tm_query_spec *q, tm_top_errors *out)
{
    tm__clear_err();
    return tm__top_errors(t->pc.store, q, tm__now_us(), TM_ERRORS_SCAN, out);
}

struct tm_report {
    tm_qresult *res;
    tm_buf json;
};

int tm_check(tm *t, const tm_check_request *rq, tm_check_result *out)
{
    return tm__check(&t->pc, rq, out, NULL);
}

int tm_report_run(tm *t, const char *const *params, tm_report **out)
{
    tm_query_spec q;
    tm_report *r = NULL;
    int rc = TM_OK;
    *out = NULL;
    tm__query_init(&q);
    for (size_t i = 0; params && params[i] && rc == TM_OK; i += 2)
        rc = params[i + 1] ? tm__query_set(&q, params[i], params[i + 1])
                           : tm__fail(TM_EINVAL, "%s: has no value", params[i]);
    if (rc == TM_OK && !(r = calloc(1, sizeof *r)))
        rc = TM_ENOMEM;
    if (rc == TM_OK)
        rc = tm__run_query(t, &q, &r->res);
    if (rc == TM_OK)
        rc = tm__qresult_json(r->res, &r->json);
    tm__query_free(&q);
    if (rc) {
        tm_report_free(r);
        return rc;
    }
    *out = r;
    return TM_OK;
}

const char *tm_report_json(const tm_report *r) { return r->json.data; }

void tm_report_free(tm_report *r)
{
    if (!r)
        return;
    tm__qresult_free(r->res);
    tm__buf_free(&r->json);
    free(r);
}

/* Runs one query of the per-user dashboard. */
static int user_query(tm *t, const char *user, const char *from, const char *to, const char *tz,
                      const char *const *extra, tm_qresult **out)
{
    tm_query_spec q;
    char where[300];
    int rc;
    tm__query_init(&q);
    snprintf(where, sizeof where, "user_id=%s", user);
    rc = tm__query_set(&q, "where", where);
    if (rc == TM_OK) rc = tm__query_set(&q, "from", from);
    if (rc == TM_OK) rc = tm__query_set(&q, "to", to);
    if (rc == TM_OK && tz) rc = tm__query_set(&q, "tz", tz);
    for (size_t i = 0; extra && extra[i] && rc == TM_OK; i += 2)
        rc = tm__query_set(&q, extra[i], extra[i + 1]);
    if (rc == TM_OK)
        rc = tm__run_query(t, &q, out);
    tm__query_free(&q);
    return rc;
}

int tm__user_month(tm *t, const char *user, const char *period, const char *tz, tm_user_month *u)
{
    char from[16], to[16];
    int64_t y;
    unsigned m, d;
    tm_qresult *total = NULL;
    int rc = TM_OK;
    memset(u, 0, sizeof *u);
    if (strchr(user, ',') || !*user)
        return tm__fail(TM_EINVAL, "user: '%s' is not a single user id", user);
    if (period) {
        if ((rc = tm__period_month(period, from, to)))
            return rc;
    } else { /* the current month in tz */
        tm_tz *z = NULL;
        char now_period[32];
        if ((rc = tm__tz_load(tz ? tz : "UTC", &z)))
            return rc;
        tm__civil_from_days(tm__tz_local_day(z, tm__now_us() / 1000000), &y, &m, &d);
        tm__tz_free(z);
        snprintf(now_period, sizeof now_period, "%04lld-%02u", (long long)y, m);
        if ((rc = tm__period_month(now_period, from, to)))
            return rc;
    }
    snprintf(u->period, sizeof u->period, "%.7s", from);
    static const char *const by_day[] = {"interval", "day", NULL};
    static const char *const by_endpoint[] = {"group_by", "endpoint", "order_by", "events", "limit", "10", NULL};
    if ((rc = user_query(t, user, from, to, tz, NULL, &total)) ||
        (rc = user_query(t, user, from, to, tz, by_day, &u->daily)) ||
        (rc = user_query(t, user, from, to, tz, by_endpoint, &u->top)) ||
        (rc = tm__quota_limit(&t->pc, user, "requests", u->limit, sizeof u->limit)))
        goto out;
    u->requests = total->totals.s.events;
    u->tokens = total->totals.s.total;
    u->cost = total->totals.s.cost;
out:
    tm__qresult_free(total);
    if (rc)
        tm__user_month_free(u);
    return rc;
}

void tm__user_month_free(tm_user_month *u)
{
    tm__qresult_free(u->daily);
    tm__qresult_free(u->top);
    u->daily = u->top = NULL;
}

int tm__user_month_json(const tm_user_month *u, const char *user, tm_buf *b)
{
    char cost[48];
    tm__dec_format(u->cost, 12, cost);
    tm__buf_puts(b, "{\"user_id\": ");
    tm__json_str(b, user, strlen(user));
    tm__buf_printf(b, ", \"period\": \"%s\", \"current_period\": {\"requests\": %lld, "
                      "\"tokens\": %lld, \"cost\": %s, \"limit\": %s},\n \"daily_breakdown\": [",
                   u->period, (long long)u->requests, (long long)u->tokens, cost, u->limit);
    for (size_t i = u->daily->nrows; i-- > 0;) { /* newest first, as the lesson's SQL */
        const tm_qrow *r = &u->daily->rows[i];
        char label[40];
        tm__period_label(u->daily, r->period, label, sizeof label);
        tm__dec_format(r->s.cost, 12, cost);
        tm__buf_printf(b, "%s{\"date\": \"%s\", \"requests\": %lld, \"tokens\": %lld, \"cost\": %s}",
                       i + 1 < u->daily->nrows ? ", " : "", label, (long long)r->s.events,
                       (long long)r->s.total, cost);
    }
    tm__buf_puts(b, "],\n \"top_endpoints\": [");
    for (size_t i = 0; i < u->top->nrows; i++) {
        const tm_qrow *r = &u->top->rows[i];
        tm__buf_puts(b, i ? ", {\"endpoint\": " : "{\"endpoint\": ");
        tm__json_str(b, r->dim[TM_D_ENDPOINT], strlen(r->dim[TM_D_ENDPOINT]));
        tm__buf_printf(b, ", \"calls\": %lld}", (long long)r->s.events);
    }
    return tm__buf_puts(b, "]}\n");
}

int tm_user_usage(tm *t, const char *user, const char *period, const char *tz, char **json)
{
    tm_buf b = TM_BUF_INIT;
    tm__clear_err();
    *json = NULL;
    tm_user_month u;
    int rc = tm__user_month(t, user, period, tz, &u);
    if (rc == TM_OK) {
        rc = tm__user_month_json(&u, user, &b);
        tm__user_month_free(&u);
    }
    if (rc) {
        tm__buf_free(&b);
        return rc;
    }
    *json = b.data;
    return TM_OK;
}

struct tm_store *tm__store(tm *t) { return t->pc.store; }
tm_notify *tm__notifier(tm *t) { return __atomic_load_n(&t->notify, __ATOMIC_ACQUIRE); }
const char *tm__store_tag(tm *t) { return t->tag; }

int tm__notify_enable(tm *t)
{
    const char *url = tm__redis_url(tm__pctx_policy(&t->pc)->redis);
    tm_notify *n = NULL;
    if (!url || tm__notifier(t))
        return TM_OK;
    int rc = tm__notify_start(&n, url, t->tag, t->pc.store->ops->commits != NULL, t->pc.usage);
    if (rc == TM_OK)
        __atomic_store_n(&t->notify, n, __ATOMIC_RELEASE);
    return rc;
}
const tm_pctx *tm__pctx(tm *t) { return &t->pc; }

/* Swaps in a new policy (its rate limiter's buckets carried over from the
 * old one) and catalog. The policy is swapped without a lock:
 * the old one is kept until close, since a check may still be reading it
 * (policies change rarely). */
static void install(tm *t, tm_policy *p, tm_catalog *c)
{
    tm_policy *old = __atomic_exchange_n(&t->pc.policy, p, __ATOMIC_ACQ_REL);
    pthread_rwlock_wrlock(&t->catalog_lock);
    tm__policy_free(t->retired);
    t->retired = old;
    tm_catalog *old_catalog = t->catalog;
    t->catalog = c;
    pthread_rwlock_unlock(&t->catalog_lock);
    tm__catalog_free(old_catalog);
}

int tm__reload(tm *t, const char *config, const char *prices)
{
    tm_policy *p = NULL;
    tm_catalog *c = NULL;
    int rc = tm__policy_load(&p, config);
    if (rc == TM_OK)
        rc = tm__catalog_load(&c, prices);
    if (rc == TM_OK) /* last, so that few checks debit the old limiter after */
        rc = tm__rate_carry(p, t->pc.policy);
    if (rc) {
        tm__policy_free(p);
        tm__catalog_free(c);
        return rc;
    }
    install(t, p, c);
    return TM_OK;
}

void tm__set_event_hook(tm *t, void (*fn)(void *, const tm_event *), void *arg)
{
    t->event_hook_arg = arg;
    t->event_hook = fn;
}
struct tm_writer *tm__writer(tm *t) { return t->pc.writer; }

int tm_verify(tm *t, void (*fn)(void *, const char *), void *arg)
{
    tm__clear_err();
    int rc = tm__writer_flush(t->pc.writer);
    return rc ? rc : t->pc.store->ops->verify(t->pc.store, fn, arg);
}

int tm_count(tm *t, int64_t *out)
{
    tm__clear_err();
    return t->pc.store->ops->count(t->pc.store, out);
}
