/*
 * store.h — the face of the store subsystem: where events live durably.
 *
 * A backend is a table of functions (like SQLite's sqlite3_vfs): today
 * store/sqlite.c and store/postgres.c, chosen by tm__store_open from the
 * path. On top of any backend, the writer (store/writer.c) turns many
 * concurrent producers into one durable transaction per batch.
 */
#ifndef TM_STORE_STORE_H
#define TM_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../rollup/rollup.h"
#include "tokmeter.h"

typedef struct tm_store tm_store;

/* The most commits one version step names (store `commits`); a step with
 * more is reported unknown, and a cache drops everything. */
#define TM_STEP_MAX 64

/* One transition of the alert history, as stored (strings valid during
 * the callback). */
typedef struct tm_alert_entry {
    int64_t ts_us;
    const char *rule, *key, *state; /* state: "firing" or "resolved"          */
    const char *body;               /* the notification as sent (JSON)         */
    const char *value, *threshold;  /* as recorded (may be NULL)               */
} tm_alert_entry;

/* A (rule, key) state to record. */
typedef struct tm_alert_change {
    const char *rule, *key, *value, *threshold, *body;
    int firing;
    int changed;            /* out: the state was different before           */
} tm_alert_change;

/* An API key as stored: never the key itself, only its hash. */
typedef struct tm_key_rec {
    char id[24];
    unsigned char hash[32];     /* BLAKE2b-256 of the whole key            */
    char scope[8];              /* ingest, read, admin                     */
    char user[129];             /* bound user, or ""                       */
    char name[65];
    int64_t created_us, revoked_us; /* revoked_us 0: active             */
} tm_key_rec;

/* How far an importer has read one file (src/ingest/). */
typedef struct tm_file_rec {
    const char *path, *kind;
    const char *state;          /* the importer's context at offset (JSON), or NULL */
    int64_t dev, ino, size, mtime_ns;
    int64_t offset;             /* bytes read: the end of the last whole line   */
    int64_t head, tail;         /* hashes of the first 4 KiB and of the 4 KiB
                                   before offset (fewer when the file is short) */
} tm_file_rec;

/* The events-and-rollups part of a backend. */
struct tm_store_ops {
    const char *name;

    /* Opens or creates the store at path, migrating its schema forward. A
     * new store file gets the permission bits mode (0: 0600), its -wal and
     * -shm files the same; new parent directories get mode plus search
     * where it reads (0700). Errors: TM_EIO, TM_EVERSION (a newer schema),
     * TM_ENOMEM. */
    int (*open)(const char *path, unsigned mode, tm_store **out);

    void (*close)(tm_store *s);

    /* Stores n validated events (each with an id) and their rollup cells in
     * one transaction that is durable when this returns TM_OK. dup[i] is set
     * to 1 where an event with that client id was already stored (it is not
     * stored again), 2 where it replaced the stored copy (TM__HAS_REPLACE),
     * else 0. The cells added by the new events are merged
     * into *cells (for the in-memory rollups) and *version gets the store's
     * new commit count (-1 from a backend with load_changes: the rollups
     * read the commit from the store). *commit gets the commit's identity
     * as `commits` names it (PostgreSQL: its transaction id; 0 when none:
     * SQLite, or nothing added). On error nothing of the batch is stored.
     * Writer thread only. */
    int (*append)(tm_store *s, tm_event *const *evs, size_t n, unsigned char *dup,
                  tm_cellset *cells, int64_t *version, int64_t *commit);

    /* Calls fn(arg, NULL, count) once with the number of stored rollup
     * cells, then fn(arg, cell, 0) for each, and sets *version to the commit
     * count they reflect (one consistent snapshot): the hourly
     * projections' cells, and with users also the user projection's
     * (TM_PROJ_USER). Any thread. */
    int (*load_rollups)(tm_store *s, int users,
                        int (*fn)(void *arg, const tm_cell *c, int64_t count), void *arg,
                        int64_t *version);

    /* Calls fn for each stored cell of projection proj (one kept only in
     * the store: TM_PROJ_USER_MODEL, TM_PROJ_USER_ENDPOINT) of each of the
     * nusers users on the days starting at hours h0, h0 + 24, ... < h1
     * (h0 a day's first hour). Any thread. */
    int (*scan_user_cells)(tm_store *s, int proj, const uint32_t *users, size_t nusers,
                           int32_t h0, int32_t h1, int (*fn)(void *arg, const tm_cell *c),
                           void *arg);

    /* The version: it changes with every commit by any process. */
    int (*version)(tm_store *s, int64_t *out);

    /* The commits that became visible from version v - 1 to version v (as
     * this handle's version() or load_* numbered them): their identities
     * (append's *commit) into ids (room for TM_STEP_MAX), their number in
     * *n, and *horizon: every commit with an identity below it was visible
     * at v - 1 or before, or never committed. TM_ENOTFOUND when they cannot
     * be told: v is no longer kept, retention ran or a fold passed v - 1,
     * or more than TM_STEP_MAX. NULL in a backend whose version counts
     * commits (SQLite: the step to v is commit v). Any thread. */
    int (*commits)(tm_store *s, int64_t v, int64_t *ids, size_t *n, int64_t *horizon);

    /* Like load_rollups, but only the cells' changes committed since
     * version `since` (as load_rollups or a previous load_changes returned
     * it), without the count call: fn adds them to rollups that were
     * current at since. TM_ENOTFOUND when it cannot tell them (load
     * whole). NULL in a backend whose append returns the version the
     * commit hook merges at (SQLite). Any thread. */
    int (*load_changes)(tm_store *s, int64_t since, int users,
                        int (*fn)(void *arg, const tm_cell *c, int64_t count), void *arg,
                        int64_t *version);

    /* Calls fn for each stored event with from ≤ ts < to (and, with nusers,
     * a user_id among users) as a fact, in no particular order. */
    int (*scan_facts)(tm_store *s, int64_t from, int64_t to, const uint32_t *users,
                      size_t nusers, int (*fn)(void *arg, const tm_fact *f), void *arg);

    /* The dict id of a dimension value (0 when it was never stored), and
     * the value of an id. */
    int (*dict_id)(tm_store *s, const char *name, uint32_t *id);
    int (*dict_name)(tm_store *s, uint32_t id, char *buf, size_t cap);

    /* Calls fn for each event matching f, newest first. Any thread. */
    int (*scan)(tm_store *s, const tm_event_filter *f,
                int (*fn)(void *arg, const tm_event *ev), void *arg);

    int (*count)(tm_store *s, int64_t *out);

    /* Recomputes costs: calls fn on each event with since ≤ ts < until whose
     * cost was not reported; fn may set cost_pusd and cost_source; changed
     * rows are written, all in one transaction. Writer thread only. */
    int (*reprice)(tm_store *s, int64_t since, int64_t until,
                   int (*fn)(void *arg, tm_event *ev), void *arg, int64_t *examined,
                   int64_t *changed, __int128 *delta);

    /* Integrity checks, one report line each through fn; TM_ECORRUPT if any
     * fails. */
    int (*verify)(tm_store *s, void (*fn)(void *arg, const char *line), void *arg);

    /* Sets the writer connection's page cache to kib KiB (writer thread
     * only). A bulk import that only appends needs less than the daemon. */
    int (*set_cache)(tm_store *s, size_t kib);

    /* Deletes every event with ts < before_us (a whole hour) and the rollup
     * cells of the hours before it, in one transaction that bumps the
     * version; *deleted gets the events removed. Writer thread only. */
    int (*retain)(tm_store *s, int64_t before_us, int64_t *deleted);
};

/* The metadata part of a backend: API keys, users' tiers, alert state
 * and history, importers' progress. Small tables written rarely, apart
 * from the events, so a second backend can bring up the events part first
 * and this one after it. */
struct tm_meta_ops {
    /* API keys. put and revoke: writer thread only (tm__writer_exec). list
     * calls fn for every key, or only key `id` when id is not NULL. */
    int (*key_put)(tm_store *s, const tm_key_rec *k);
    int (*key_list)(tm_store *s, const char *id, int (*fn)(void *arg, const tm_key_rec *k),
                    void *arg);
    int (*key_revoke)(tm_store *s, const char *id, int64_t now_us, int *found);

    /* A user's tier and limit overrides (JSON). put: writer thread only.
     * get: TM_ENOTFOUND for a user never set; *overrides is malloc'd or
     * NULL. */
    int (*user_put)(tm_store *s, const char *id, const char *tier, const char *overrides,
                    int64_t now_us);
    int (*user_get)(tm_store *s, const char *id, char *tier, size_t tcap, char **overrides);

    /* Alerts: alert_set records n (rule, key) states in one transaction,
     * and the transition of each that changed (ch[i].changed tells; writer
     * thread only); alert_list walks the history newest first. */
    int (*alert_set)(tm_store *s, const tm_alert_change *ch, size_t n, int64_t now_us);
    int (*alert_list)(tm_store *s, int firing_only, size_t limit,
                      int (*fn)(void *arg, const tm_alert_entry *e), void *arg);

    /* Importers' progress: file_list calls fn for each file of `kind`
     * (strings valid during the call; any thread); file_put records n in
     * one transaction (writer thread only). */
    int (*file_list)(tm_store *s, const char *kind, int (*fn)(void *arg, const tm_file_rec *r),
                     void *arg);
    int (*file_put)(tm_store *s, const tm_file_rec *recs, size_t n, int64_t now_us);

    /* For copying a store (store/copy.c): user_list calls fn for every user;
     * alert_put appends one transition as it was (e->value and e->threshold
     * included) and sets its (rule, key) state to it. Writer thread only. */
    int (*user_list)(tm_store *s, int (*fn)(void *arg, const char *id, const char *tier,
                                            const char *overrides, int64_t updated_us),
                     void *arg);
    int (*alert_put)(tm_store *s, const tm_alert_entry *e);
};

/* Every backend's handle starts with this: the events-and-rollups part
 * (ops) and the metadata part (meta). */
struct tm_store {
    const struct tm_store_ops *ops;
    const struct tm_meta_ops *meta;
};

extern const struct tm_store_ops tm__sqlite_ops;
extern const struct tm_meta_ops tm__sqlite_meta;
extern const struct tm_store_ops tm__postgres_ops;   /* store/postgres.c */
extern const struct tm_meta_ops tm__postgres_meta;

/* 1 when path names a PostgreSQL store (postgres:// or postgresql://). */
int tm__store_is_postgres(const char *path);

/* Sets *exists to 1 when the PostgreSQL store at url (its schema= or the
 * search path) holds tokmeter's tables, else 0, creating nothing (opening
 * a store migrates: copy checks its source first). */
int tm__pg_store_exists(const char *url, int *exists);

/* Sets *exists to 1 when there is a store at path, creating nothing (an
 * open creates it): a SQLite file there (or one stat cannot rule out: the
 * open says why), a PostgreSQL schema holding tokmeter's tables. */
int tm__store_exists(const char *path, int *exists);

/* The store's name to show (logs, messages, output): a PostgreSQL URL with
 * its password, in the user part or a password= parameter, as "***"; any
 * other name as it is. Written to buf (cut to cap); returns buf. */
const char *tm__store_shown(const char *path, char *buf, size_t cap);

/* The WAL sizes (in pages) past which a commit wakes the checkpointer and
 * past which the writer restarts the WAL itself: 2048 and 65536 unless
 * set (tests set small ones). Call before the first write. SQLite only (a
 * no-op on another backend). */
void tm__store_wal_limits(tm_store *s, int checkpoint_pages, int restart_pages);

/* Opens the store named by path with the backend it names: a
 * postgres:// or postgresql:// URL, else a SQLite file ("sqlite:" before
 * the path is optional; mode as for ops->open). */
int tm__store_open(const char *path, unsigned mode, tm_store **out);

static inline void tm__store_close(tm_store *s)
{
    if (s)
        s->ops->close(s);
}

/* ---- the group-commit writer ---- */

typedef struct tm_writer tm_writer;

/* A caller waiting for its events: `dup` has one byte per submitted event. */
typedef struct tm_ticket {
    size_t pending;         /* events not yet committed                     */
    int err;                /* first error of a commit that held them       */
    unsigned char *dup;     /* per event: 1 duplicate, 0 stored              */
    pthread_cond_t *cv;     /* set by tm__writer_wait: wake only this waiter */
    /* Called once when pending reaches 0 (the last event committed or was
     * refused), on the writer thread under its lock, or on the submitting
     * thread when the writer is closing: it must be quick and must not call
     * the writer. Lets a caller wait without a thread (the daemon suspends
     * the connection and this resumes it). */
    void (*done)(void *arg);
    void *done_arg;
} tm_ticket;

/* Called on the writer thread after each commit, before the events are
 * acknowledged, with the cells the commit added, the new version, its
 * identity (append's *commit: 0 when none), and the committed batch (dup[i] as append set it: 0 new, 1 duplicate, 2 replaced). */
typedef void (*tm_commit_hook)(void *arg, const tm_cellset *cells, int64_t version,
                               int64_t commit, tm_event *const *evs, const unsigned char *dup,
                               size_t n);

/* Starts the writer thread over s (borrowed: the writer must be stopped
 * before s is closed). hook may be NULL. */
int tm__writer_start(tm_writer **out, tm_store *s, size_t queue_max, size_t batch_max,
                     tm_commit_hook hook, void *hook_arg);

/* Queues n events; takes ownership of each evs[i] (malloc'd, freed by the
 * writer). With t, t->pending must equal n and t->dup have room for n;
 * tm__writer_wait(w, t) then waits for them. Without t the events are
 * tracked asynchronously. Blocks while the queue is full. TM_ECLOSED after
 * stop began (the events are freed). */
int tm__writer_submit(tm_writer *w, tm_event **evs, size_t n, tm_ticket *t);

/* Runs fn(store, arg) on the writer thread once everything queued before
 * it is committed, and returns its result (with the writer's message). */
int tm__writer_exec(tm_writer *w, int (*fn)(tm_store *s, void *arg), void *arg);

/* Waits until every event of t is committed; returns t->err. */
int tm__writer_wait(tm_writer *w, tm_ticket *t);

/* Waits until everything queued before the call is committed. Returns and
 * clears the first asynchronous error. */
int tm__writer_flush(tm_writer *w);

/* Commit timing, for /metrics: counts of commits at most bounds[i] seconds
 * (cumulative, Prometheus style), their number and total seconds. */
#define TM_COMMIT_BUCKETS 10
extern const double tm__commit_bounds[TM_COMMIT_BUCKETS];
typedef struct tm_writer_stats {
    uint64_t le[TM_COMMIT_BUCKETS], count, events;
    double sum_s;
} tm_writer_stats;
void tm__writer_stats(tm_writer *w, tm_writer_stats *out);

/* Commits what is queued, stops the thread, frees w. Returns any
 * asynchronous error not yet reported. tm__writer_stop(NULL) is a no-op. */
int tm__writer_stop(tm_writer *w);

#endif
