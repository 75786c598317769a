/*
 * sqlite.c — the embedded store: one SQLite file in WAL mode.
 *
 * Layout (schema version in PRAGMA user_version):
 *
 *   meta(key TEXT PK, value INT)      'events' = number of rows in events
 *   dict(id INT PK, s TEXT UNIQUE)    interned dimension strings
 *   events(seq INT PK, id, client_id, ts, provider→dict, model→dict,
 *          endpoint→dict, operation→dict, user_id→dict, metric_type→dict,
 *          resource_type→dict, session_id, resource_id, value, tokens...,
 *          latency_ns, success, status_code, error, cache_hit, cost_pusd,
 *          cost_source, metadata, project→dict)
 *   rollup(proj, hour, d0..d6, sums, sketch)   hourly cells (rollup/rollup.h),
 *                                     and the daily per-user cells
 *   urollup(same columns, keyed by proj, day, d2 = user)   daily per-user
 *                                     cells by model and by endpoint (schema 8)
 *   keys, users, alert_state, alert_events     (server/keys.c, policy/quota.c, ...)
 *   import_files(path, ...)           importers' per-file progress (ingest/)
 *
 * Index layout decides insert speed once commits are batched. `seq` is the
 * rowid and always appends. Dimensions are small integers (a few bytes per
 * row instead of the names). Client ids are random keys, and a B-tree of
 * random keys dirties about one page per insert, all of which a commit
 * writes to the WAL; so the dedup index holds a 64-bit hash of the id
 * (events.idh: ~15 bytes an entry, a third of a text UUID's), and only
 * client ids are in it (generated ids are unique by construction; idh is
 * NULL). A hash match is confirmed on the id text, so a collision can never
 * drop an event. events_ts grows in time order, so it mostly appends, and
 * the per-user index is keyed by UTC day first (events_day_user, schema 9)
 * so that a commit inserts into the current day's part of it only, then
 * by user and ts (schema 10), so that a few hours of a user's day are a
 * range of it.
 *
 * Durability: synchronous=FULL in WAL mode fsyncs the log at every commit,
 * so a returned append is on disk. Connections: the writer's (used only by
 * the writer thread), NREAD read connections, and the checkpointer's. WAL
 * lets readers run beside the writer and beside each other, so each reader
 * has its own connection and mutex (take/give): reads never wait for the
 * writer, nor for one another while a connection is free. Reader 0 is kept
 * for short lookups (API keys, users, the commit counter, the event count),
 * so a key check never waits behind a long scan. SQLite would otherwise checkpoint inside a COMMIT every
 * 1000 pages, stalling that commit's waiters for tens of milliseconds; here
 * the WAL hook wakes a thread that runs PASSIVE checkpoints beside the
 * writer, which never block it.
 */
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/event.h"
#include "../core/buf.h"
#include "../core/strmap.h"
#include "sql.h"
#include "store.h"

#define SCHEMA_VERSION 10

static const char *const migrations[] = {
    /* 0 → 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta VALUES('events', 0);"
    "CREATE TABLE dict(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
    "CREATE TABLE events("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL, idh INTEGER,"
    " ts INTEGER NOT NULL, provider INTEGER, model INTEGER, endpoint INTEGER,"
    " operation INTEGER, user_id INTEGER, metric_type INTEGER NOT NULL,"
    " resource_type INTEGER, session_id TEXT, resource_id TEXT, value INTEGER NOT NULL,"
    " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
    " cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,"
    " cache_write_1h_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,"
    " total_tokens INTEGER NOT NULL, latency_ns INTEGER, success INTEGER NOT NULL,"
    " status_code INTEGER, error TEXT, cache_hit INTEGER NOT NULL,"
    " cost_pusd INTEGER NOT NULL, cost_source INTEGER NOT NULL, metadata TEXT);"
    "CREATE INDEX events_idh ON events(idh) WHERE idh IS NOT NULL;"
    "CREATE INDEX events_ts ON events(ts);",
    /* 1 → 2: rollups (backfilled from the events in the same transaction),
     * per-user reads, and the commit counter that keeps memory fresh. */
    "CREATE TABLE rollup(proj INTEGER NOT NULL, hour INTEGER NOT NULL,"
    " d0 INTEGER NOT NULL, d1 INTEGER NOT NULL, d2 INTEGER NOT NULL, d3 INTEGER NOT NULL,"
    " d4 INTEGER NOT NULL, d5 INTEGER NOT NULL, d6 INTEGER NOT NULL,"
    " events INTEGER NOT NULL, requests INTEGER NOT NULL, value INTEGER NOT NULL,"
    " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
    " cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,"
    " reasoning_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,"
    " cost_pusd INTEGER NOT NULL, unpriced INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " lat_n INTEGER NOT NULL, lat_sum_ns INTEGER NOT NULL, sketch BLOB,"
    " PRIMARY KEY(proj, hour, d0, d1, d2, d3, d4, d5, d6)) WITHOUT ROWID;"
    "CREATE INDEX events_user_ts ON events(user_id, ts);"
    "INSERT INTO meta VALUES('commits', 0);",
    /* 2 → 3: API keys, stored only as a hash. */
    "CREATE TABLE keys(id TEXT PRIMARY KEY, hash BLOB NOT NULL, scope TEXT NOT NULL,"
    " user_id TEXT, name TEXT, created INTEGER NOT NULL, revoked INTEGER);",
    /* 3 → 4: each user's tier and limit overrides. */
    "CREATE TABLE users(id TEXT PRIMARY KEY, tier TEXT, overrides TEXT, updated INTEGER NOT NULL);",
    /* 4 → 5: alerts: the state of each (rule, key) and every transition. */
    "CREATE TABLE alert_state(rule TEXT NOT NULL, key TEXT NOT NULL, firing INTEGER NOT NULL,"
    " value TEXT, since INTEGER NOT NULL, PRIMARY KEY(rule, key)) WITHOUT ROWID;"
    "CREATE TABLE alert_events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, rule TEXT NOT NULL,"
    " key TEXT NOT NULL, state TEXT NOT NULL, value TEXT, threshold TEXT, body TEXT NOT NULL);"
    "CREATE INDEX alert_events_rk ON alert_events(rule, key, seq);",
    /* 5 → 6: the project dimension (agent-log imports group by it). */
    "ALTER TABLE events ADD COLUMN project INTEGER;",
    /* 6 → 7: how far each imported file has been read, so a re-run reads
     * only what is new (src/ingest/). */
    "CREATE TABLE import_files(path TEXT PRIMARY KEY, kind TEXT NOT NULL, dev INTEGER NOT NULL,"
    " ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, head INTEGER NOT NULL, tail INTEGER NOT NULL, state TEXT,"
    " updated INTEGER NOT NULL) WITHOUT ROWID;",
    /* 7 → 8: per-user rollups: the user projection in `rollup` (memory
     * loads it) and user × model / user × endpoint cells here, keyed by day
     * then user: a commit rewrites cells of the current day, which lie
     * together (keyed by user first, they were spread over the whole table
     * and ingest ran 4x slower); a user's month is one seek per day. Both
     * backfilled from the events (see migrate). */
    "CREATE TABLE urollup(proj INTEGER NOT NULL, hour INTEGER NOT NULL,"
    " d0 INTEGER NOT NULL, d1 INTEGER NOT NULL, d2 INTEGER NOT NULL, d3 INTEGER NOT NULL,"
    " d4 INTEGER NOT NULL, d5 INTEGER NOT NULL, d6 INTEGER NOT NULL,"
    " events INTEGER NOT NULL, requests INTEGER NOT NULL, value INTEGER NOT NULL,"
    " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
    " cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,"
    " reasoning_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,"
    " cost_pusd INTEGER NOT NULL, unpriced INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " lat_n INTEGER NOT NULL, lat_sum_ns INTEGER NOT NULL, sketch BLOB,"
    " PRIMARY KEY(proj, hour, d2, d0, d1, d3, d4, d5, d6)) WITHOUT ROWID;",
    /* 8 → 9: the per-user index keyed by UTC day first. Keyed by user
     * first, every commit inserted into every user's part of it, so a large
     * store's commit dirtied most of its pages (the per-user rollups answer
     * most user questions now; the events serve only partial days); keyed
     * by day, a commit inserts into the current day's part only, and a
     * user's days are one seek each (EVENT_DAY in scan_facts). */
    "DROP INDEX IF EXISTS events_user_ts;"
    "CREATE INDEX IF NOT EXISTS events_day_user ON events(ts / 86400000000, user_id);",
    /* 9 → 10: ts in the per-user index too: the user queries read a few
     * hours of a user's day (the parts of UTC days the user cells do not
     * answer, src/query/query.c), which the index now finds without reading
     * the rest of the day's rows. */
    "DROP INDEX IF EXISTS events_day_user;"
    "CREATE INDEX events_day_user ON events(ts / 86400000000, user_id, ts);",
};

/* The day of an event's ts in events_day_user (SQL and C both truncate
 * toward zero, so both sides agree on any ts). */
#define EVENT_DAY_US 86400000000LL

/* Adds a cell to its stored row, or stores it: one statement, the counts
 * added by tm_add (an error past 64 bits, where SQL's + would turn into a
 * float), value, cost and latency sums by tm_add_wide (an integer, or past
 * 64 bits a 16-byte blob: a day's cost can pass 9.2 million USD), and the
 * sketches merged by tm_sketch_merge. */
#define ROLL_UPSERT_IN(table) "INSERT INTO " table "(proj, hour, d0, d1, d2, d3, d4, d5, d6, " \
    ROLL_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"   \
    "?20,?21,?22,?23,?24) ON CONFLICT(proj, hour, d0, d1, d2, d3, d4, d5, d6) DO UPDATE SET"  \
    " events = tm_add(events, excluded.events), requests = tm_add(requests, excluded.requests)," \
    " value = tm_add_wide(value, excluded.value),"                                             \
    " input_tokens = tm_add(input_tokens, excluded.input_tokens),"                             \
    " output_tokens = tm_add(output_tokens, excluded.output_tokens),"                          \
    " cache_read_tokens = tm_add(cache_read_tokens, excluded.cache_read_tokens),"              \
    " cache_write_tokens = tm_add(cache_write_tokens, excluded.cache_write_tokens),"           \
    " reasoning_tokens = tm_add(reasoning_tokens, excluded.reasoning_tokens),"                 \
    " total_tokens = tm_add(total_tokens, excluded.total_tokens),"                             \
    " cost_pusd = tm_add_wide(cost_pusd, excluded.cost_pusd),"                                 \
    " unpriced = tm_add(unpriced, excluded.unpriced), errors = tm_add(errors, excluded.errors),"\
    " lat_n = tm_add(lat_n, excluded.lat_n), lat_sum_ns = tm_add_wide(lat_sum_ns, excluded.lat_sum_ns)," \
    " sketch = tm_sketch_merge(sketch, excluded.sketch)"

/* Dict-encoded columns: the insert statement's ?4..?10, then ?29. */
#define NDIMS 8

#define NREAD 5
typedef struct reader {
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *user_get;     /* prepared once (checks read it often)      */
} reader;
enum { QUICK, SCAN };           /* what a read is, for take()                */

struct sqlite_store {
    struct tm_store base;
    sqlite3 *w;                 /* writer connection                        */
    sqlite3_stmt *ins, *dup_get, *dict_ins, *dict_get, *bump, *begin, *commit, *rollback;
    sqlite3_stmt *roll_up, *commits, *fact_get, *del;
    sqlite3_stmt *uroll_up;     /* urollup: per-user cells kept only there     */
    tm_strmap dict;             /* string → dict id, writer-side cache      */
    reader rd[NREAD];           /* [0]: short lookups; [1..]: scans          */
    unsigned rd_next;           /* where take() starts looking               */
    sqlite3 *ck;                /* checkpointer connection                   */
    pthread_t ck_thread;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_wanted, ck_stop, ck_running;
    int wal_full;               /* set by the WAL hook: restart after commit */
    int ck_pages, restart_pages; /* CHECKPOINT_PAGES, WAL_RESTART_PAGES       */
    char path[4096];
};

/* A failure of db, named by what was being done; a full disk or an I/O
 * error also names the file and the system's errno. */
static int sqerr(sqlite3 *db, const char *what)
{
    int code = sqlite3_errcode(db);
    if (sqlite3_extended_errcode(db) == SQLITE_IOERR_NOMEM) /* a malloc in the I/O layer */
        return tm__fail(TM_ENOMEM, "store: %s: out of memory", what);
    int err = code == SQLITE_BUSY || code == SQLITE_LOCKED ? TM_EBUSY
              : code == SQLITE_NOMEM                       ? TM_ENOMEM
              : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? TM_ECORRUPT
                                                           : TM_EIO;
    const char *file = sqlite3_db_filename(db, "main");
    if (!file || !*file)
        file = "the store";
    if (code == SQLITE_FULL) /* SQLite keeps no errno for it: it is ENOSPC */
        return tm__fail(err, "store: %s: disk full (%s) writing %s", what, strerror(ENOSPC), file);
    if (code == SQLITE_IOERR) {
        int sys = sqlite3_system_errno(db);
        return tm__fail(err, "store: %s: %s (%s) in %s", what, sqlite3_errmsg(db),
                        sys ? strerror(sys) : "no errno", file);
    }
    return tm__fail(err, "store: %s: %s", what, sqlite3_errmsg(db));
}

/* Undoes the open write transaction, if any (a full disk or an I/O error
 * may have ended it already). Its own failure is not reported: the error
 * that caused it is the one the caller returns. */
static void rollback_quiet(sqlite3 *db, sqlite3_stmt *rollback)
{
    if (!sqlite3_get_autocommit(db)) {
        sqlite3_step(rollback);
        sqlite3_reset(rollback);
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return TM_OK;
    char what[64]; /* the statement that failed, up to its first ';' */
    snprintf(what, sizeof what, "%.*s", (int)strcspn(sql, ";"), sql);
    int rc = sqerr(db, what);
    sqlite3_free(msg);
    return rc;
}

static int open_conn(const char *path, int readonly, sqlite3 **out)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, out, flags, NULL);
    if (rc != SQLITE_OK)
        return *out ? sqerr(*out, "open") : TM_ENOMEM;
    sqlite3_busy_timeout(*out, 10000);
    sqlite3_extended_result_codes(*out, 0);
    rc = exec(*out, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                    "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
                    "PRAGMA foreign_keys=OFF;");
    if (rc == TM_OK && readonly)
        rc = exec(*out, "PRAGMA query_only=1; PRAGMA mmap_size=268435456;");
    return rc;
}

static int backfill_rollups(sqlite3 *db, int first_proj);
static int write_cells(sqlite3 *db, sqlite3_stmt *up, const tm_cellset *cs, int lo, int hi);
static int write_rollups(sqlite3 *db, sqlite3_stmt *roll_up, sqlite3_stmt *uroll_up,
                         const tm_cellset *cs, int first_proj);
static int rollup_functions(sqlite3 *db);
typedef struct sqlite_store sqlite_store;
static int query_int(sqlite3 *db, const char *sql, int64_t *out);

/* A read connection, held until give(): QUICK reads get reader 0; a SCAN
 * the first free one of the others, or waits its turn at one of them. */
static reader *take(sqlite_store *s, int kind)
{
    if (kind == QUICK) {
        pthread_mutex_lock(&s->rd[0].mu);
        return &s->rd[0];
    }
    unsigned start = __atomic_fetch_add(&s->rd_next, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < NREAD - 1; i++) {
        reader *rd = &s->rd[1 + (start + i) % (NREAD - 1)];
        if (pthread_mutex_trylock(&rd->mu) == 0)
            return rd;
    }
    reader *rd = &s->rd[1 + start % (NREAD - 1)];
    pthread_mutex_lock(&rd->mu);
    return rd;
}

static void give(reader *rd) { pthread_mutex_unlock(&rd->mu); }

static int migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int version = 0, rc;
    if ((rc = exec(db, "BEGIN IMMEDIATE")))
        return rc;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(db, "read schema version");
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_reset(st); /* a statement under way would lock the schema (DROP INDEX) */
    if (version > SCHEMA_VERSION) {
        rc = tm__fail(TM_EVERSION,
                      "store: schema version %d is newer than this tokmeter understands (%d); "
                      "upgrade tokmeter",
                      version, SCHEMA_VERSION);
        goto out;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char sql[64];
        if ((rc = exec(db, migrations[v])))
            goto out;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if ((rc = exec(db, sql)))
            goto out;
    }
    /* (A migration that changes stored rollups must also add to
     * meta.commits, or a rollups snapshot of the old ones could be read
     * back: tm__rollups_restore.) Rollups arrived in version 2 and per-user ones in 8; a store older
     * than that gets them from its events once every column the backfill
     * reads exists. */
    if (version < 8 && (rc = backfill_rollups(db, version < 2 ? 0 : TM_PROJ_USER)))
        goto out;
out:
    sqlite3_finalize(st);
    if (rc == TM_OK)
        rc = exec(db, "COMMIT");
    if (rc && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? TM_OK
               : sqerr(db, "prepare");
}

/* The dedup key of a client id (also the SQL function tm_idh, for verify). */
static int64_t id_hash(const char *id) { return (int64_t)tm__hash(id, strlen(id)); }

static void sql_idh(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *id = (const char *)sqlite3_value_text(argv[0]);
    if (id)
        sqlite3_result_int64(ctx, id_hash(id));
    else
        sqlite3_result_null(ctx);
}

#define CHECKPOINT_PAGES 2048 /* 8 MiB of WAL at 4 KiB pages */
/* PASSIVE checkpoints copy pages but cannot reset the WAL while the writer
 * keeps appending; past this size the writer restarts it itself. */
#define WAL_RESTART_PAGES 65536 /* 256 MiB */

static void *checkpointer(void *arg)
{
    sqlite_store *s = arg;
    pthread_setname_np(pthread_self(), "tm-checkpoint");
    pthread_mutex_lock(&s->ck_mu);
    for (;;) {
        while (!s->ck_wanted && !s->ck_stop)
            pthread_cond_wait(&s->ck_cv, &s->ck_mu);
        if (s->ck_stop)
            break;
        s->ck_wanted = 0;
        pthread_mutex_unlock(&s->ck_mu);
        sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* Called by SQLite after each commit on the writer connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sqlite_store *s = arg;
    (void)db, (void)name;
    if (pages >= s->ck_pages) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_wanted = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
    }
    s->wal_full = pages >= s->restart_pages;
    return SQLITE_OK;
}

void tm__store_wal_limits(tm_store *base, int checkpoint_pages, int restart_pages)
{
    if (base->ops != &tm__sqlite_ops)
        return;
    sqlite_store *s = (sqlite_store *)base;
    s->ck_pages = checkpoint_pages;
    s->restart_pages = restart_pages;
}

static void sq_close(tm_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s)
        return;
    if (s->ck_running) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ck_thread, NULL);
    }
    sqlite3_close(s->ck);
    /* Leave a small WAL behind after a clean close. */
    if (s->w)
        sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_stmt *sts[] = {s->ins, s->dup_get, s->dict_ins, s->dict_get, s->bump, s->begin,
                           s->commit, s->rollback, s->roll_up, s->commits,
                           s->fact_get, s->del, s->uroll_up};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite3_finalize(sts[i]);
    sqlite3_close(s->w);
    for (int i = 0; i < NREAD; i++) {
        sqlite3_finalize(s->rd[i].user_get);
        sqlite3_close(s->rd[i].db);
        pthread_mutex_destroy(&s->rd[i].mu);
    }
    tm__strmap_clear(&s->dict);
    pthread_mutex_destroy(&s->ck_mu);
    pthread_cond_destroy(&s->ck_cv);
    free(s);
}

/* A new store is created here, empty (a valid SQLite file), so that it has
 * mode from the start: SQLite would create it 0644, and its -wal and -shm
 * files copy the store's mode. An existing store keeps its own. */
static int create_store(const char *path, unsigned mode)
{
    unsigned dmode = mode | (mode & 0444) >> 2; /* search where readable */
    int rc = tm__mkdir_parents(path, dmode);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST)
        return tm__fail(TM_EIO, "store: cannot create %s: %s", path, strerror(errno));
    return TM_OK;
}

static int sq_open(const char *path, unsigned mode, tm_store **out)
{
    int rc;
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s)
        return TM_ENOMEM;
    s->base.ops = &tm__sqlite_ops;
    s->base.meta = &tm__sqlite_meta;
    for (int i = 0; i < NREAD; i++)
        pthread_mutex_init(&s->rd[i].mu, NULL);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cv, NULL);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->ck_pages = CHECKPOINT_PAGES;
    s->restart_pages = WAL_RESTART_PAGES;
    if ((rc = create_store(path, mode ? mode : 0600)) || (rc = open_conn(path, 0, &s->w)) ||
        (rc = rollup_functions(s->w)) || (rc = migrate(s->w)))
        goto out;
    for (int i = 0; i < NREAD; i++) {
        if ((rc = open_conn(path, 1, &s->rd[i].db)))
            goto out;
        sqlite3_create_function(s->rd[i].db, "tm_idh", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_idh, NULL, NULL);
    }
    if ((rc = open_conn(path, 0, &s->ck)) || (rc = exec(s->w, "PRAGMA wal_autocheckpoint=0")))
        goto out;
    if (pthread_create(&s->ck_thread, NULL, checkpointer, s) != 0) {
        rc = tm__fail(TM_ENOMEM, "store: cannot start the checkpoint thread");
        goto out;
    }
    s->ck_running = 1;
    sqlite3_wal_hook(s->w, wal_hook, s);
    rc = prepare(s->w,
                 "INSERT INTO events(id, idh, ts, provider, model, endpoint,"
                 " operation, user_id, metric_type, resource_type, session_id, resource_id, value,"
                 " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
                 " cache_write_1h_tokens, reasoning_tokens, total_tokens, latency_ns, success,"
                 " status_code, error, cache_hit, cost_pusd, cost_source, metadata, project)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"
                 "?20,?21,?22,?23,?24,?25,?26,?27,?28,?29)",
                 &s->ins);
    if (rc == TM_OK) rc = prepare(s->w, "SELECT id, seq FROM events WHERE idh = ?1", &s->dup_get);
    if (rc == TM_OK) rc = prepare(s->w, "SELECT " FACT_COLS " FROM events e WHERE seq = ?1", &s->fact_get);
    if (rc == TM_OK) rc = prepare(s->w, "DELETE FROM events WHERE seq = ?1", &s->del);
    if (rc == TM_OK) rc = prepare(s->w, "INSERT OR IGNORE INTO dict(s) VALUES(?1)", &s->dict_ins);
    if (rc == TM_OK) rc = prepare(s->w, "SELECT id FROM dict WHERE s = ?1", &s->dict_get);
    if (rc == TM_OK) rc = prepare(s->w, "UPDATE meta SET value = value + ?1 WHERE key = 'events'", &s->bump);
    if (rc == TM_OK) rc = prepare(s->w, ROLL_UPSERT_IN("rollup"), &s->roll_up);
    if (rc == TM_OK) rc = prepare(s->w, ROLL_UPSERT_IN("urollup"), &s->uroll_up);
    if (rc == TM_OK)
        rc = prepare(s->w, "UPDATE meta SET value = value + 1 WHERE key = 'commits' RETURNING value",
                     &s->commits);
    if (rc == TM_OK) rc = prepare(s->w, "BEGIN IMMEDIATE", &s->begin);
    if (rc == TM_OK) rc = prepare(s->w, "COMMIT", &s->commit);
    if (rc == TM_OK) rc = prepare(s->w, "ROLLBACK", &s->rollback);
out:
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return TM_OK;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i); /* NULL: absent */
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? TM_OK : sqerr(db, what);
}

/* The dict id of s, interning it on first sight (inside the open txn). */
static int intern(sqlite_store *s, const char *str, int64_t *id)
{
    if (tm__strmap_get(&s->dict, str, id))
        return TM_OK;
    int rc;
    sqlite3_bind_text(s->dict_ins, 1, str, -1, SQLITE_STATIC);
    if ((rc = step_done(s->w, s->dict_ins, "intern")))
        return rc;
    sqlite3_bind_text(s->dict_get, 1, str, -1, SQLITE_STATIC);
    if (sqlite3_step(s->dict_get) != SQLITE_ROW) {
        rc = sqerr(s->w, "intern lookup");
        sqlite3_reset(s->dict_get);
        return rc;
    }
    *id = sqlite3_column_int64(s->dict_get, 0);
    sqlite3_reset(s->dict_get);
    return tm__strmap_put(&s->dict, str, *id);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Reads ROLL_COLS starting at column c0 into a tm_sums. */
/* A wide sum (value, cost, latency) as stored: an integer, or past 64 bits
 * a 16-byte little-endian blob. */
static tm_i128 wide_of(sqlite3_value *v)
{
    if (sqlite3_value_type(v) != SQLITE_BLOB || sqlite3_value_bytes(v) != 16)
        return sqlite3_value_int64(v);
    const unsigned char *b = sqlite3_value_blob(v);
    unsigned __int128 u = 0;
    for (int i = 15; i >= 0; i--)
        u = u << 8 | b[i];
    return (tm_i128)u;
}

static void wide_bytes(tm_i128 v, unsigned char out[16])
{
    unsigned __int128 u = (unsigned __int128)v;
    for (int i = 0; i < 16; i++, u >>= 8)
        out[i] = (unsigned char)u;
}

static void sums_of_row(sqlite3_stmt *st, int c0, tm_sums *t)
{
    *t = (tm_sums){
        .events = sqlite3_column_int64(st, c0 + 0), .requests = sqlite3_column_int64(st, c0 + 1),
        .value = wide_of(sqlite3_column_value(st, c0 + 2)), .input = sqlite3_column_int64(st, c0 + 3),
        .output = sqlite3_column_int64(st, c0 + 4), .cache_read = sqlite3_column_int64(st, c0 + 5),
        .cache_write = sqlite3_column_int64(st, c0 + 6), .reasoning = sqlite3_column_int64(st, c0 + 7),
        .total = sqlite3_column_int64(st, c0 + 8), .cost = wide_of(sqlite3_column_value(st, c0 + 9)),
        .unpriced = sqlite3_column_int64(st, c0 + 10), .errors = sqlite3_column_int64(st, c0 + 11),
        .lat_n = sqlite3_column_int64(st, c0 + 12), .lat_sum = wide_of(sqlite3_column_value(st, c0 + 13)),
    };
}

static void fact_of_row(sqlite3_stmt *st, int c0, int64_t llm, tm_fact *f)
{
    memset(f, 0, sizeof *f);
    f->ts_us = sqlite3_column_int64(st, c0);
    for (int d = 0; d < TM_D_SUCCESS; d++)
        f->dim[d] = (uint32_t)sqlite3_column_int64(st, c0 + 1 + d);
    f->success = sqlite3_column_int(st, c0 + 7);
    f->dim[TM_D_SUCCESS] = f->success ? 2 : 1;
    f->llm_call = llm && sqlite3_column_int64(st, c0 + 6) == llm;
    f->value = sqlite3_column_int64(st, c0 + 8);
    f->input = sqlite3_column_int64(st, c0 + 9);
    f->output = sqlite3_column_int64(st, c0 + 10);
    f->cache_read = sqlite3_column_int64(st, c0 + 11);
    f->cache_write = sqlite3_column_int64(st, c0 + 12);
    f->reasoning = sqlite3_column_int64(st, c0 + 13);
    f->total = sqlite3_column_int64(st, c0 + 14);
    f->has_latency = sqlite3_column_type(st, c0 + 15) != SQLITE_NULL;
    f->latency_ns = sqlite3_column_int64(st, c0 + 15);
    f->cost = sqlite3_column_int64(st, c0 + 16);
    f->cost_source = sqlite3_column_int(st, c0 + 17);
    f->dim[TM_D_PROJECT] = (uint32_t)sqlite3_column_int64(st, c0 + 18);
}

/* The dict id of s on connection db, 0 if absent. */
static int64_t dict_lookup(sqlite3 *db, const char *str)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(db, "SELECT id FROM dict WHERE s = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, str, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return id;
}

/* Builds the rollups of projections first_proj.. from the stored events
 * (inside the migration's transaction). The cells are written every
 * BACKFILL_CELLS new cells, so memory stays bounded on a large store. */
#define BACKFILL_CELLS 262144
static int backfill_rollups(sqlite3 *db, int first_proj)
{
    sqlite3_stmt *sel = NULL, *st[2] = {0};
    tm_cellset cells = {0};
    int64_t llm = dict_lookup(db, "llm_call");
    int rc = TM_OK, step = SQLITE_DONE;
    if (sqlite3_prepare_v2(db, "SELECT " FACT_COLS " FROM events e", -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ROLL_UPSERT_IN("rollup"), -1, &st[0], NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ROLL_UPSERT_IN("urollup"), -1, &st[1], NULL) != SQLITE_OK) {
        rc = sqerr(db, "prepare backfill");
        goto out;
    }
    while (rc == TM_OK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        tm_fact f;
        fact_of_row(sel, 0, llm, &f);
        rc = tm__rollup_add_fact(&cells, &f, 1);
        if (rc == TM_OK && cells.n >= BACKFILL_CELLS) {
            rc = write_rollups(db, st[0], st[1], &cells, first_proj);
            tm__cellset_free(&cells);
        }
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(db, "backfill read");
    if (rc == TM_OK)
        rc = write_rollups(db, st[0], st[1], &cells, first_proj);
out:
    tm__cellset_free(&cells);
    sqlite3_finalize(sel);
    for (int i = 0; i < 2; i++)
        sqlite3_finalize(st[i]);
    return rc;
}

/* tm_add(a, b): a + b for counts, an error past 64 bits (SQL's + would
 * make it a float). */
static void sql_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int64_t sum;
    if (__builtin_add_overflow(sqlite3_value_int64(argv[0]), sqlite3_value_int64(argv[1]), &sum))
        sqlite3_result_error(ctx, "rollup: a count or token sum exceeds 64 bits", -1);
    else
        sqlite3_result_int64(ctx, sum);
}

static int fits(tm_i128 v) { return v >= INT64_MIN && v <= INT64_MAX; }

/* tm_add_wide(a, b): a + b for value, cost and latency sums: an integer
 * while it fits 64 bits, else a 16-byte blob. */
static void sql_add_wide(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    tm_i128 sum;
    unsigned char b[16];
    if (__builtin_add_overflow(wide_of(argv[0]), wide_of(argv[1]), &sum)) {
        sqlite3_result_error(ctx, "rollup: a sum of value, cost or latency exceeds 128 bits", -1);
    } else if (fits(sum)) {
        sqlite3_result_int64(ctx, (int64_t)sum);
    } else {
        wide_bytes(sum, b);
        sqlite3_result_blob(ctx, b, 16, SQLITE_TRANSIENT);
    }
}

/* tm_sketch_merge(a, b): the sketch blob holding the values of both. */
static void sql_sketch_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    tm_sketch sk = {0};
    unsigned char *out = NULL;
    int rc = TM_OK;
    for (int i = 0; i < 2 && rc == TM_OK; i++)
        rc = tm__sketch_read(&sk, sqlite3_value_blob(argv[i]), (size_t)sqlite3_value_bytes(argv[i]));
    if (rc == TM_OK && (out = malloc(tm__sketch_size(&sk))))
        tm__sketch_write(&sk, out);
    if (out)
        sqlite3_result_blob(ctx, out, (int)tm__sketch_size(&sk), free);
    else if (rc == TM_ENOMEM || rc == TM_OK)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_error(ctx, "rollup: a stored sketch is damaged", -1);
    tm__sketch_free(&sk);
}

/* The functions the rollup upserts use, on the writer connection. */
static int rollup_functions(sqlite3 *db)
{
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
    if (sqlite3_create_function(db, "tm_add", 2, f, NULL, sql_add, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "tm_add_wide", 2, f, NULL, sql_add_wide, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "tm_sketch_merge", 2, f, NULL, sql_sketch_merge, NULL, NULL) != SQLITE_OK)
        return sqerr(db, "register rollup functions");
    return TM_OK;
}


/* Merges each cell of cs with lo ≤ proj < hi into its stored row, by the
 * upsert `up` (ROLL_UPSERT_IN: sums added and checked in C, never left to
 * SQL arithmetic). */
static int write_cells(sqlite3 *db, sqlite3_stmt *up, const tm_cellset *cs, int lo, int hi)
{
    int rc = TM_OK;
    unsigned char *blob = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < cs->n && rc == TM_OK; i++) {
        const tm_cell *c = &cs->cells[i];
        const tm_sums *t = &c->s;
        if (c->key.proj < lo || c->key.proj >= hi)
            continue;
        size_t size = tm__sketch_size(&c->sk);
        if (size > cap) {
            unsigned char *p = realloc(blob, size);
            if (!p) {
                rc = TM_ENOMEM;
                break;
            }
            blob = p;
            cap = size;
        }
        tm__sketch_write(&c->sk, blob);
        sqlite3_bind_int(up, 1, c->key.proj);
        sqlite3_bind_int(up, 2, c->key.hour);
        for (int d = 0; d < TM_NROLLDIM; d++)
            sqlite3_bind_int64(up, 3 + d, c->key.dim[d]);
        const tm_i128 v[14] = {t->events, t->requests, t->value, t->input, t->output,
                               t->cache_read, t->cache_write, t->reasoning, t->total,
                               t->cost, t->unpriced, t->errors, t->lat_n, t->lat_sum};
        unsigned char wide[14][16];
        for (int k = 0; k < 14; k++) {
            if (fits(v[k])) {
                sqlite3_bind_int64(up, 10 + k, (int64_t)v[k]);
            } else { /* only value, cost and latency sums are wider (tm_add_wide) */
                wide_bytes(v[k], wide[k]);
                sqlite3_bind_blob(up, 10 + k, wide[k], 16, SQLITE_TRANSIENT);
            }
        }
        sqlite3_bind_blob(up, 24, blob, (int)size, SQLITE_STATIC);
        if (sqlite3_step(up) != SQLITE_DONE)
            rc = strncmp(sqlite3_errmsg(db), "rollup:", 7) == 0 ? tm__fail(TM_EINVAL, "%s", sqlite3_errmsg(db))
                                                                : sqerr(db, "rollup write");
        sqlite3_reset(up);
    }
    free(blob);
    return rc;
}

/* Writes the cells of projections first_proj.. of cs: those kept in memory
 * to `rollup`, the per-user ones kept only in the store to `urollup`. */
static int write_rollups(sqlite3 *db, sqlite3_stmt *roll_up, sqlite3_stmt *uroll_up,
                         const tm_cellset *cs, int first_proj)
{
    int rc = write_cells(db, roll_up, cs, first_proj, TM_NPROJ);
    return rc ? rc : write_cells(db, uroll_up, cs, first_proj > TM_NPROJ ? first_proj : TM_NPROJ,
                                 TM_NPROJ_ALL);
}

/* Sets *dup (and *seq) if an event with client id `id` (hash h) is stored
 * already, including earlier in the open transaction. */
static int find_dup(sqlite_store *s, const char *id, int64_t h, unsigned char *dup, int64_t *seq)
{
    int step;
    *dup = 0;
    sqlite3_bind_int64(s->dup_get, 1, h);
    while ((step = sqlite3_step(s->dup_get)) == SQLITE_ROW) {
        const char *stored = col_text(s->dup_get, 0);
        if (stored && strcmp(stored, id) == 0) {
            *dup = 1;
            *seq = sqlite3_column_int64(s->dup_get, 1);
            break;
        }
    }
    int rc = step == SQLITE_ROW || step == SQLITE_DONE ? TM_OK : sqerr(s->w, "dedup lookup");
    sqlite3_reset(s->dup_get);
    return rc;
}

/* A repeat of stored event `seq` that asked to replace it (TM__HAS_REPLACE):
 * when e is the larger copy, deletes the stored one and sets *old to its
 * fact and *replace to 1. */
static int try_replace(sqlite_store *s, const tm_event *e, int64_t seq, tm_fact *old, int *replace)
{
    int64_t llm = 0;
    int rc = TM_OK;
    *replace = 0;
    if (!tm__strmap_get(&s->dict, "llm_call", &llm))
        llm = dict_lookup(s->w, "llm_call");
    sqlite3_bind_int64(s->fact_get, 1, seq);
    int step = sqlite3_step(s->fact_get);
    if (step == SQLITE_ROW)
        fact_of_row(s->fact_get, 0, llm, old);
    else
        rc = sqerr(s->w, "replace lookup");
    sqlite3_reset(s->fact_get);
    if (rc || old->has_latency || (e->has & TM_HAS_LATENCY))
        return rc;
    if (!tm__copy_larger(e->total_tokens, e->value_nano, old->total, old->value))
        return TM_OK;
    sqlite3_bind_int64(s->del, 1, seq);
    if ((rc = step_done(s->w, s->del, "replace event")) == TM_OK)
        *replace = 1;
    return rc;
}

/* Inserts e. *dup: 0 stored, 1 a duplicate (nothing stored), 2 stored in
 * place of a smaller copy whose fact is then in *old. */
static int insert_one(sqlite_store *s, const tm_event *e, unsigned char *dup, tm_fact *f,
                      tm_fact *old)
{
    sqlite3_stmt *st = s->ins;
    const char *dims[NDIMS] = {e->provider, e->model, e->endpoint, e->operation,
                               e->user_id, e->metric_type, e->resource_type, e->project};
    int client = !(e->has & TM__HAS_GEN_ID), replace = 0;
    int64_t h = client ? id_hash(e->id) : 0, seq = 0;
    uint32_t ids[NDIMS];
    int rc;
    if (client && (rc = find_dup(s, e->id, h, dup, &seq)))
        return rc;
    if (client && *dup) {
        if (!(e->has & TM__HAS_REPLACE) || (rc = try_replace(s, e, seq, old, &replace)) || !replace)
            return rc;
    }
    for (int d = 0; d < NDIMS; d++) {
        int64_t id;
        ids[d] = 0;
        int col = d < 7 ? 4 + d : 29;
        if (!dims[d]) {
            sqlite3_bind_null(st, col);
            continue;
        }
        if ((rc = intern(s, dims[d], &id)))
            return rc;
        sqlite3_bind_int64(st, col, id);
        ids[d] = (uint32_t)id;
    }
    sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
    if (client)
        sqlite3_bind_int64(st, 2, h);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, e->ts_us);
    bind_opt_text(st, 11, e->session_id);
    bind_opt_text(st, 12, e->resource_id);
    sqlite3_bind_int64(st, 13, e->value_nano);
    sqlite3_bind_int64(st, 14, e->input_tokens);
    sqlite3_bind_int64(st, 15, e->output_tokens);
    sqlite3_bind_int64(st, 16, e->cache_read_tokens);
    sqlite3_bind_int64(st, 17, e->cache_write_tokens);
    sqlite3_bind_int64(st, 18, e->cache_write_1h_tokens);
    sqlite3_bind_int64(st, 19, e->reasoning_tokens);
    sqlite3_bind_int64(st, 20, e->total_tokens);
    if (e->has & TM_HAS_LATENCY)
        sqlite3_bind_int64(st, 21, e->latency_ns);
    else
        sqlite3_bind_null(st, 21);
    sqlite3_bind_int(st, 22, e->success);
    if (e->has & TM_HAS_STATUS)
        sqlite3_bind_int(st, 23, e->status_code);
    else
        sqlite3_bind_null(st, 23);
    bind_opt_text(st, 24, e->error);
    sqlite3_bind_int(st, 25, e->cache_hit);
    sqlite3_bind_int64(st, 26, e->cost_pusd);
    sqlite3_bind_int(st, 27, e->cost_source);
    bind_opt_text(st, 28, e->metadata);
    *dup = replace ? 2 : 0;
    /* dims order: provider model endpoint operation user metric resource_type project */
    uint32_t fd[TM_NDIM] = {ids[0], ids[1], ids[4], ids[2], ids[3], ids[5], e->success ? 2u : 1u,
                            ids[7]};
    tm__fact_of_event(e, fd, f);
    return step_done(s->w, st, "insert event");
}

static int sq_append(tm_store *base, tm_event *const *evs, size_t n, unsigned char *dup,
                     tm_cellset *cells, int64_t *version, int64_t *commit)
{
    sqlite_store *s = (sqlite_store *)base;
    int64_t added = 0;
    *commit = 0; /* the version names the commit */
    int rc = step_done(s->w, s->begin, "begin");
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        tm_fact f, old;
        rc = insert_one(s, evs[i], &dup[i], &f, &old);
        if (rc == TM_OK && dup[i] != 1) {
            added += dup[i] == 0;
            rc = tm__rollup_add_fact(cells, &f, 1);
        }
        if (rc == TM_OK && dup[i] == 2)
            rc = tm__rollup_add_fact(cells, &old, -1);
    }
    if (rc == TM_OK)
        rc = write_rollups(s->w, s->roll_up, s->uroll_up, cells, 0);
    if (rc == TM_OK) {
        sqlite3_bind_int64(s->bump, 1, added);
        rc = step_done(s->w, s->bump, "count");
    }
    if (rc == TM_OK) {
        if (sqlite3_step(s->commits) == SQLITE_ROW)
            *version = sqlite3_column_int64(s->commits, 0);
        else
            rc = sqerr(s->w, "commit counter");
        sqlite3_reset(s->commits);
    }
    if (rc == TM_OK)
        rc = step_done(s->w, s->commit, "commit");
    if (rc != TM_OK) {
        int keep = rc;
        rollback_quiet(s->w, s->rollback);
        tm__strmap_clear(&s->dict); /* it may hold ids the rollback undid */
        rc = keep;
    } else if (s->wal_full) { /* bound the WAL: wait for readers, then restart it */
        sqlite3_wal_checkpoint_v2(s->w, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        s->wal_full = 0;
    }
    return rc;
}

/* ---- reading ---- */

#define SELECT_EVENT EVENT_COLS EVENT_FROM

static void row_to_event(sqlite3_stmt *st, tm_event *e)
{
    tm_event_init(e);
    e->seq = sqlite3_column_int64(st, 0);
    e->id = col_text(st, 1);
    e->ts_us = sqlite3_column_int64(st, 2);
    e->provider = col_text(st, 3);
    e->model = col_text(st, 4);
    e->endpoint = col_text(st, 5);
    e->operation = col_text(st, 6);
    e->user_id = col_text(st, 7);
    e->session_id = col_text(st, 8);
    e->metric_type = col_text(st, 9);
    e->value_nano = sqlite3_column_int64(st, 10);
    e->resource_type = col_text(st, 11);
    e->resource_id = col_text(st, 12);
    e->input_tokens = sqlite3_column_int64(st, 13);
    e->output_tokens = sqlite3_column_int64(st, 14);
    e->cache_read_tokens = sqlite3_column_int64(st, 15);
    e->cache_write_tokens = sqlite3_column_int64(st, 16);
    e->cache_write_1h_tokens = sqlite3_column_int64(st, 17);
    e->reasoning_tokens = sqlite3_column_int64(st, 18);
    e->total_tokens = sqlite3_column_int64(st, 19);
    e->has = TM_HAS_TS | TM_HAS_VALUE | TM_HAS_TOKENS | TM_HAS_TOTAL | TM_HAS_SUCCESS |
             TM_HAS_CACHE_HIT;
    if (sqlite3_column_type(st, 20) != SQLITE_NULL) {
        e->latency_ns = sqlite3_column_int64(st, 20);
        e->has |= TM_HAS_LATENCY;
    }
    e->success = sqlite3_column_int(st, 21);
    if (sqlite3_column_type(st, 22) != SQLITE_NULL) {
        e->status_code = sqlite3_column_int(st, 22);
        e->has |= TM_HAS_STATUS;
    }
    e->error = col_text(st, 23);
    e->cache_hit = sqlite3_column_int(st, 24);
    e->cost_pusd = sqlite3_column_int64(st, 25);
    e->cost_source = sqlite3_column_int(st, 26);
    if (e->cost_source == TM_COST_REPORTED)
        e->has |= TM_HAS_COST;
    e->metadata = col_text(st, 27);
    e->project = col_text(st, 28);
}

static int sq_scan(tm_store *base, const tm_event_filter *f,
                   int (*fn)(void *, const tm_event *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK;
    reader *rd = take(s, SCAN);
    if (sqlite3_prepare_v2(rd->db,
                           SELECT_EVENT
                           " WHERE (?1 IS NULL OR e.user_id = (SELECT id FROM dict WHERE s = ?1))"
                           " AND (?2 IS NULL OR e.provider = (SELECT id FROM dict WHERE s = ?2))"
                           " AND e.ts >= ?3 AND e.ts < ?4"
                           " ORDER BY e.ts DESC, e.seq DESC LIMIT ?5",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare scan");
        goto out;
    }
    bind_opt_text(st, 1, f ? f->user_id : NULL);
    bind_opt_text(st, 2, f ? f->provider : NULL);
    sqlite3_bind_int64(st, 3, f && f->since_us ? f->since_us : INT64_MIN);
    sqlite3_bind_int64(st, 4, f && f->until_us ? f->until_us : INT64_MAX);
    sqlite3_bind_int64(st, 5, f && f->limit ? (int64_t)f->limit : -1);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_event e;
        row_to_event(st, &e);
        if ((rc = fn(arg, &e)))
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = sqerr(rd->db, "scan");
out:
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

static int sq_reprice(tm_store *base, int64_t since, int64_t until,
                      int (*fn)(void *, tm_event *), void *arg, int64_t *examined,
                      int64_t *changed, __int128 *delta)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc, step = SQLITE_DONE;
    *examined = *changed = 0;
    *delta = 0;
    if ((rc = step_done(s->w, s->begin, "begin")))
        return rc;
    tm_cellset deltas = {0};
    int64_t llm = dict_lookup(s->w, "llm_call");
    if (sqlite3_prepare_v2(s->w, EVENT_COLS ", " FACT_COLS EVENT_FROM
                           " WHERE e.ts >= ?1 AND e.ts < ?2 AND e.cost_source != 2",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->w, "UPDATE events SET cost_pusd = ?1, cost_source = ?2 WHERE seq = ?3",
                           -1, &upd, NULL) != SQLITE_OK) {
        rc = sqerr(s->w, "prepare reprice");
        goto out;
    }
    sqlite3_bind_int64(sel, 1, since ? since : INT64_MIN);
    sqlite3_bind_int64(sel, 2, until ? until : INT64_MAX);
    while (rc == TM_OK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        tm_event e;
        row_to_event(sel, &e);
        int64_t old = e.cost_pusd;
        int old_source = e.cost_source;
        ++*examined;
        if ((rc = fn(arg, &e)))
            break;
        if (e.cost_pusd == old && e.cost_source == old_source)
            continue;
        sqlite3_bind_int64(upd, 1, e.cost_pusd);
        sqlite3_bind_int(upd, 2, e.cost_source);
        sqlite3_bind_int64(upd, 3, e.seq);
        rc = step_done(s->w, upd, "update cost");
        ++*changed;
        *delta += (__int128)e.cost_pusd - old;
        tm_fact f;
        fact_of_row(sel, EVENT_NCOLS, llm, &f);
        if (rc == TM_OK)
            rc = tm__rollup_add_cost_delta(&deltas, &f, old, old_source, e.cost_pusd, e.cost_source);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(s->w, "reprice scan");
    if (rc == TM_OK)
        rc = write_rollups(s->w, s->roll_up, s->uroll_up, &deltas, 0);
    if (rc == TM_OK) {
        if (sqlite3_step(s->commits) != SQLITE_ROW)
            rc = sqerr(s->w, "commit counter");
        sqlite3_reset(s->commits);
    }
out:
    tm__cellset_free(&deltas);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (rc == TM_OK)
        rc = step_done(s->w, s->commit, "commit");
    if (rc) {
        int keep = rc;
        rollback_quiet(s->w, s->rollback);
        rc = keep;
    }
    return rc;
}

static int cell_of_row(sqlite3_stmt *st, tm_cell *c);

static int sq_load_rollups(tm_store *base, int users, int (*fn)(void *, const tm_cell *, int64_t),
                           void *arg, int64_t *version)
{
    const char *where = users ? "" : " WHERE proj != 2"; /* TM_PROJ_USER */
    char sql[512];
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL, *vs = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    if ((rc = exec(rd->db, "BEGIN")))
        goto out;
    if (sqlite3_prepare_v2(rd->db, "SELECT value FROM meta WHERE key = 'commits'", -1, &vs, NULL) != SQLITE_OK ||
        sqlite3_step(vs) != SQLITE_ROW) {
        rc = sqerr(rd->db, "read commit counter");
        goto out;
    }
    *version = sqlite3_column_int64(vs, 0);
    int64_t rows = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM rollup%s", where);
    if ((rc = query_int(rd->db, sql, &rows)) || (rc = fn(arg, NULL, rows)))
        goto out;
    snprintf(sql, sizeof sql, "SELECT proj, hour, d0, d1, d2, d3, d4, d5, d6, " ROLL_COLS
                              " FROM rollup%s", where);
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare rollups");
        goto out;
    }
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_cell c;
        rc = cell_of_row(st, &c);
        if (rc == TM_OK)
            rc = fn(arg, &c, 0);
        tm__sketch_free(&c.sk);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "read rollups");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(vs);
    exec(rd->db, "COMMIT");
    give(rd);
    return rc;
}

/* A cell row: proj, hour, d0..d6, then ROLL_COLS. */
static int cell_of_row(sqlite3_stmt *st, tm_cell *c)
{
    memset(c, 0, sizeof *c);
    c->key.proj = sqlite3_column_int(st, 0);
    c->key.hour = sqlite3_column_int(st, 1);
    for (int d = 0; d < TM_NROLLDIM; d++)
        c->key.dim[d] = (uint32_t)sqlite3_column_int64(st, 2 + d);
    sums_of_row(st, 9, &c->s);
    return tm__sketch_read(&c->sk, sqlite3_column_blob(st, 23), (size_t)sqlite3_column_bytes(st, 23));
}

static int sq_scan_user_cells(tm_store *base, int proj, const uint32_t *users, size_t nusers,
                              int32_t h0, int32_t h1, int (*fn)(void *, const tm_cell *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    if (sqlite3_prepare_v2(rd->db, "SELECT proj, hour, d0, d1, d2, d3, d4, d5, d6, " ROLL_COLS
                                 " FROM urollup WHERE proj = ?1 AND hour = ?2 AND d2 = ?3",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare user cells");
        goto out;
    }
    /* One seek per user and day (cells are stored by day, then user). */
    for (size_t u = 0; u < nusers && rc == TM_OK; u++)
        for (int32_t day = h0; day < h1 && rc == TM_OK; day += 24) {
            sqlite3_bind_int(st, 1, proj);
            sqlite3_bind_int(st, 2, day);
            sqlite3_bind_int64(st, 3, users[u]);
            while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
                tm_cell c;
                rc = cell_of_row(st, &c);
                if (rc == TM_OK)
                    rc = fn(arg, &c);
                tm__sketch_free(&c.sk);
            }
            if (rc == TM_OK && step != SQLITE_DONE)
                rc = sqerr(rd->db, "read user cells");
            sqlite3_reset(st);
        }
out:
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out);

/* A counter of the meta table ('commits', 'events') on the short-lookup reader. */
static int meta_value(tm_store *base, const char *sql, int64_t *out)
{
    sqlite_store *s = (sqlite_store *)base;
    reader *rd = take(s, QUICK);
    int rc = query_int(rd->db, sql, out);
    give(rd);
    return rc;
}

static int sq_version(tm_store *base, int64_t *out)
{
    return meta_value(base, "SELECT value FROM meta WHERE key = 'commits'", out);
}

/* One user's facts are read through events_day_user: the days of [from,
 * to) listed, so each (day, user) is one seek to its first ts; a range of more days than
 * that is worth listing is read as a range of days. */
#define USER_DAYS_LISTED 1000
static int user_days(tm_buf *sql, int64_t from, int64_t to)
{
    if (to <= from)
        return TM_OK;
    int64_t first = from / EVENT_DAY_US, last = (to - 1) / EVENT_DAY_US;
    if (last - first >= USER_DAYS_LISTED) {
        tm__buf_printf(sql, "AND (e.ts / %lld) BETWEEN %lld AND %lld ", EVENT_DAY_US,
                       (long long)first, (long long)last);
    } else {
        tm__buf_printf(sql, "AND (e.ts / %lld) IN (", EVENT_DAY_US);
        for (int64_t d = first; d <= last; d++)
            tm__buf_printf(sql, "%s%lld", d > first ? "," : "", (long long)d);
        tm__buf_puts(sql, ") ");
    }
    return sql->data ? TM_OK : TM_ENOMEM;
}

static int sq_scan_facts(tm_store *base, int64_t from, int64_t to, const uint32_t *users,
                         size_t nusers, int (*fn)(void *, const tm_fact *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    tm_buf sql = TM_BUF_INIT;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    int64_t llm = dict_lookup(rd->db, "llm_call");
    if ((rc = tm__sql_scan_facts(&sql, "?1", "?2", users, nusers)) ||
        (nusers && (rc = user_days(&sql, from, to))))
        goto out;
    if (sqlite3_prepare_v2(rd->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare scan");
        goto out;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_fact f;
        fact_of_row(st, 0, llm, &f);
        rc = fn(arg, &f);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "scan events");
out:
    sqlite3_finalize(st);
    tm__buf_free(&sql);
    give(rd);
    return rc;
}

static int sq_dict_id(tm_store *base, const char *name, uint32_t *id)
{
    sqlite_store *s = (sqlite_store *)base;
    reader *rd = take(s, SCAN);
    *id = (uint32_t)dict_lookup(rd->db, name);
    give(rd);
    return TM_OK;
}

static int sq_dict_name(tm_store *base, uint32_t id, char *buf, size_t cap)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_ENOTFOUND;
    reader *rd = take(s, SCAN);
    if (sqlite3_prepare_v2(rd->db, "SELECT s FROM dict WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(buf, cap, "%s", col_text(st, 0));
            rc = TM_OK;
        }
    }
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

static int sq_key_put(tm_store *base, const tm_key_rec *k)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc;
    if (sqlite3_prepare_v2(s->w, "INSERT INTO keys(id, hash, scope, user_id, name, created)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL) != SQLITE_OK)
        return sqerr(s->w, "prepare key");
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, k->hash, sizeof k->hash, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->scope, -1, SQLITE_STATIC);
    bind_opt_text(st, 4, k->user[0] ? k->user : NULL);
    bind_opt_text(st, 5, k->name[0] ? k->name : NULL);
    sqlite3_bind_int64(st, 6, k->created_us);
    rc = step_done(s->w, st, "store key");
    sqlite3_finalize(st);
    return rc;
}

static void key_of_row(sqlite3_stmt *st, tm_key_rec *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", col_text(st, 0));
    if (sqlite3_column_bytes(st, 1) == (int)sizeof k->hash)
        memcpy(k->hash, sqlite3_column_blob(st, 1), sizeof k->hash);
    snprintf(k->scope, sizeof k->scope, "%s", col_text(st, 2));
    snprintf(k->user, sizeof k->user, "%s", col_text(st, 3) ? col_text(st, 3) : "");
    snprintf(k->name, sizeof k->name, "%s", col_text(st, 4) ? col_text(st, 4) : "");
    k->created_us = sqlite3_column_int64(st, 5);
    k->revoked_us = sqlite3_column_int64(st, 6);
}

static int sq_key_list(tm_store *base, const char *id, int (*fn)(void *, const tm_key_rec *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, QUICK);
    if (sqlite3_prepare_v2(rd->db, "SELECT id, hash, scope, user_id, name, created, revoked FROM keys"
                                 " WHERE ?1 IS NULL OR id = ?1 ORDER BY created", -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare keys");
        goto out;
    }
    bind_opt_text(st, 1, id);
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_key_rec k;
        key_of_row(st, &k);
        rc = fn(arg, &k);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "read keys");
out:
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

static int sq_key_revoke(tm_store *base, const char *id, int64_t now_us, int *found)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->w, "UPDATE keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return sqerr(s->w, "prepare revoke");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_us);
    int rc = step_done(s->w, st, "revoke key");
    *found = rc == TM_OK && sqlite3_changes(s->w) > 0;
    sqlite3_finalize(st);
    return rc;
}

static int sq_user_put(tm_store *base, const char *id, const char *tier, const char *overrides,
                       int64_t now_us)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->w, "INSERT OR REPLACE INTO users(id, tier, overrides, updated)"
                                 " VALUES(?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK)
        return sqerr(s->w, "prepare user");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bind_opt_text(st, 2, tier);
    bind_opt_text(st, 3, overrides);
    sqlite3_bind_int64(st, 4, now_us);
    int rc = step_done(s->w, st, "store user");
    sqlite3_finalize(st);
    return rc;
}

static int sq_user_get(tm_store *base, const char *id, char *tier, size_t tcap, char **overrides)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = TM_ENOTFOUND;
    *overrides = NULL;
    tier[0] = '\0';
    reader *rd = take(s, QUICK);
    if (!rd->user_get &&
        sqlite3_prepare_v2(rd->db, "SELECT tier, overrides FROM users WHERE id = ?1", -1, &rd->user_get,
                           NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare user");
    } else {
        sqlite3_stmt *st = rd->user_get;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(tier, tcap, "%s", col_text(st, 0) ? col_text(st, 0) : "");
            if (col_text(st, 1) && !(*overrides = strdup(col_text(st, 1))))
                rc = TM_ENOMEM;
            else
                rc = TM_OK;
        }
        sqlite3_reset(st);
    }
    give(rd);
    return rc;
}

/* Records n states in one transaction; for each whose state changed,
 * the transition with its notification body. Writer thread only. */
static int sq_alert_set(tm_store *base, const tm_alert_change *chs, size_t n, int64_t now_us)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *get = NULL, *put = NULL, *ev = NULL;
    int rc = step_done(s->w, s->begin, "begin");
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->w, "SELECT firing FROM alert_state WHERE rule = ?1 AND key = ?2", -1, &get, NULL) ||
        sqlite3_prepare_v2(s->w, "INSERT OR REPLACE INTO alert_state(rule, key, firing, value, since)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5)", -1, &put, NULL) ||
        sqlite3_prepare_v2(s->w, "INSERT INTO alert_events(ts, rule, key, state, value, threshold, body)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ev, NULL))
        rc = sqerr(s->w, "prepare alerts");
    for (size_t i = 0; rc == TM_OK && i < n; i++) {
        tm_alert_change *c = (tm_alert_change *)&chs[i];
        int was = 0;
        sqlite3_bind_text(get, 1, c->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 2, c->key, -1, SQLITE_STATIC);
        if (sqlite3_step(get) == SQLITE_ROW)
            was = sqlite3_column_int(get, 0);
        sqlite3_reset(get);
        c->changed = was != c->firing;
        if (!c->changed)
            continue;
        sqlite3_bind_text(put, 1, c->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(put, 2, c->key, -1, SQLITE_STATIC);
        sqlite3_bind_int(put, 3, c->firing);
        sqlite3_bind_text(put, 4, c->value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(put, 5, now_us);
        if ((rc = step_done(s->w, put, "alert state")))
            break;
        sqlite3_bind_int64(ev, 1, now_us);
        sqlite3_bind_text(ev, 2, c->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 3, c->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 4, c->firing ? "firing" : "resolved", -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 5, c->value, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 6, c->threshold, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 7, c->body, -1, SQLITE_STATIC);
        rc = step_done(s->w, ev, "alert event");
    }
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(ev);
    if (rc == TM_OK)
        rc = step_done(s->w, s->commit, "commit");
    if (rc) {
        int keep = rc;
        rollback_quiet(s->w, s->rollback);
        for (size_t i = 0; i < n; i++)
            ((tm_alert_change *)&chs[i])->changed = 0;
        return keep;
    }
    return TM_OK;
}

/* Calls fn for alert history (newest first; firing_only: the currently
 * firing alerts' last transition), at most limit. */
static int sq_alert_list(tm_store *base, int firing_only, size_t limit,
                         int (*fn)(void *, const tm_alert_entry *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    const char *sql = firing_only
        ? "SELECT e.ts, e.body, e.rule, e.key, e.state, e.value, e.threshold FROM alert_state a"
          " JOIN alert_events e ON e.seq ="
          " (SELECT MAX(seq) FROM alert_events WHERE rule = a.rule AND key = a.key)"
          " WHERE a.firing = 1 ORDER BY e.seq DESC LIMIT ?1"
        : "SELECT ts, body, rule, key, state, value, threshold FROM alert_events ORDER BY seq DESC LIMIT ?1";
    if (sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare alerts");
        goto out;
    }
    sqlite3_bind_int64(st, 1, limit ? (int64_t)limit : -1);
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_alert_entry e = {sqlite3_column_int64(st, 0), col_text(st, 2), col_text(st, 3),
                            col_text(st, 4), col_text(st, 1), col_text(st, 5), col_text(st, 6)};
        rc = fn(arg, &e);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "read alerts");
out:
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

/* Runs a one-value query on the reader; *out gets column 0 of the first row. */
/* ---- importers' file progress ---- */

static int sq_file_list(tm_store *base, const char *kind,
                        int (*fn)(void *, const tm_file_rec *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    if (sqlite3_prepare_v2(rd->db, "SELECT path, kind, state, dev, ino, size, mtime_ns, offset,"
                                 " head, tail FROM import_files WHERE kind = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "prepare import files");
        goto out;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tm_file_rec r = {col_text(st, 0), col_text(st, 1), col_text(st, 2),
                         sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                         sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6),
                         sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8),
                         sqlite3_column_int64(st, 9)};
        rc = fn(arg, &r);
    }
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "read import files");
out:
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

static int sq_file_put(tm_store *base, const tm_file_rec *recs, size_t n, int64_t now_us)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = step_done(s->w, s->begin, "begin");
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->w, "INSERT OR REPLACE INTO import_files(path, kind, state, dev, ino,"
                                 " size, mtime_ns, offset, head, tail, updated)"
                                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                           -1, &st, NULL) != SQLITE_OK)
        rc = sqerr(s->w, "prepare import files");
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        const tm_file_rec *r = &recs[i];
        const int64_t v[7] = {r->dev, r->ino, r->size, r->mtime_ns, r->offset, r->head, r->tail};
        sqlite3_bind_text(st, 1, r->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_STATIC);
        bind_opt_text(st, 3, r->state);
        for (int k = 0; k < 7; k++)
            sqlite3_bind_int64(st, 4 + k, v[k]);
        sqlite3_bind_int64(st, 11, now_us);
        rc = step_done(s->w, st, "write import file");
    }
    sqlite3_finalize(st);
    if (rc == TM_OK)
        rc = step_done(s->w, s->commit, "commit");
    if (rc)
        rollback_quiet(s->w, s->rollback);
    return rc;
}

static int sq_alert_put(tm_store *base, const tm_alert_entry *e)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *ev = NULL, *put = NULL;
    int rc = step_done(s->w, s->begin, "begin");
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->w, "INSERT INTO alert_events(ts, rule, key, state, value, threshold, body)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ev, NULL) ||
        sqlite3_prepare_v2(s->w, "INSERT OR REPLACE INTO alert_state(rule, key, firing, value, since)"
                                 " VALUES(?2, ?3, ?4 = 'firing', ?5, ?1)", -1, &put, NULL))
        rc = sqerr(s->w, "prepare alerts");
    sqlite3_stmt *sts[2] = {ev, put};
    for (int i = 0; i < 2 && rc == TM_OK; i++) {
        sqlite3_bind_int64(sts[i], 1, e->ts_us);
        sqlite3_bind_text(sts[i], 2, e->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(sts[i], 3, e->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(sts[i], 4, e->state, -1, SQLITE_STATIC);
        bind_opt_text(sts[i], 5, e->value);
        if (i == 0) {
            bind_opt_text(ev, 6, e->threshold);
            sqlite3_bind_text(ev, 7, e->body, -1, SQLITE_STATIC);
        }
        rc = step_done(s->w, sts[i], "copy alert");
    }
    sqlite3_finalize(ev);
    sqlite3_finalize(put);
    if (rc == TM_OK)
        return step_done(s->w, s->commit, "commit");
    step_done(s->w, s->rollback, "rollback");
    return rc;
}

static int sq_user_list(tm_store *base, int (*fn)(void *, const char *, const char *, const char *, int64_t),
                        void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = TM_OK, step = SQLITE_DONE;
    reader *rd = take(s, SCAN);
    if (sqlite3_prepare_v2(rd->db, "SELECT id, tier, overrides, updated FROM users ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        rc = sqerr(rd->db, "prepare users");
    while (rc == TM_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(arg, col_text(st, 0), col_text(st, 1), col_text(st, 2), sqlite3_column_int64(st, 3));
    if (rc == TM_OK && step != SQLITE_DONE)
        rc = sqerr(rd->db, "read users");
    sqlite3_finalize(st);
    give(rd);
    return rc;
}

/* Removes the events before before_us and their hours' rollup cells. */
static int sq_retain(tm_store *base, int64_t before_us, int64_t *deleted)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *del = NULL, *roll = NULL;
    *deleted = 0;
    int rc = step_done(s->w, s->begin, "begin");
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->w, "DELETE FROM events WHERE ts < ?1", -1, &del, NULL) ||
        sqlite3_prepare_v2(s->w, "DELETE FROM rollup WHERE hour < ?1;", -1, &roll, NULL))
        rc = sqerr(s->w, "prepare retention");
    if (rc == TM_OK) {
        sqlite3_bind_int64(del, 1, before_us);
        if ((rc = step_done(s->w, del, "delete events")) == TM_OK)
            *deleted = sqlite3_changes(s->w);
    }
    if (rc == TM_OK) {
        sqlite3_bind_int64(roll, 1, before_us / 3600000000LL);
        rc = step_done(s->w, roll, "delete rollups");
    }
    if (rc == TM_OK) { /* the per-user day cells: before_us is a day's first hour or later */
        char sql[96];
        snprintf(sql, sizeof sql, "DELETE FROM urollup WHERE hour < %lld", (long long)(before_us / 3600000000LL));
        rc = exec(s->w, sql);
    }
    if (rc == TM_OK) {
        sqlite3_bind_int64(s->bump, 1, -*deleted);
        rc = step_done(s->w, s->bump, "count");
    }
    if (rc == TM_OK)
        rc = step_done(s->w, s->commits, "commit counter");
    sqlite3_finalize(del);
    sqlite3_finalize(roll);
    if (rc == TM_OK)
        return step_done(s->w, s->commit, "commit");
    step_done(s->w, s->rollback, "rollback");
    *deleted = 0;
    return rc;
}

static int sq_set_cache(tm_store *base, size_t kib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%zu", kib);
    return exec(((sqlite_store *)base)->w, sql);
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = TM_OK;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqerr(db, "prepare");
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sqerr(db, "query");
    sqlite3_finalize(st);
    return rc;
}

static int sq_count(tm_store *base, int64_t *out)
{
    return meta_value(base, "SELECT value FROM meta WHERE key = 'events'", out);
}

static int sq_verify(tm_store *base, void (*fn)(void *, const char *), void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    char line[512];
    int rc = TM_OK, failed = 0;
    reader *rd = take(s, SCAN);

    /* 1. SQLite's own check of pages, records and every index. */
    if (sqlite3_prepare_v2(rd->db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        rc = sqerr(rd->db, "integrity_check");
        goto out;
    }
    int ok = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *m = col_text(st, 0);
        if (m && strcmp(m, "ok") == 0) {
            ok = 1;
        } else {
            snprintf(line, sizeof line, "FAIL integrity: %s", m ? m : "?");
            fn(arg, line);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    fn(arg, ok ? "ok   integrity: SQLite integrity_check passed" : "FAIL integrity: see above");
    failed |= !ok;

    static const struct { const char *sql, *ok, *fail; } checks[] = {
        {CHECK_IDS, CHECK_IDS_OK, CHECK_IDS_FAIL},
        {"SELECT COUNT(*) FROM events WHERE idh IS NOT NULL AND idh != tm_idh(id)",
         "ok   dedup: every client id is in the dedup index under its hash",
         "FAIL dedup: %lld events have a wrong id hash"},
        {"SELECT (SELECT COUNT(*) FROM events) - (SELECT value FROM meta WHERE key = 'events')",
         "ok   counts: the event counter equals the rows",
         "FAIL counts: rows and the event counter differ by %lld"},
        {CHECK_ROLLUPS, CHECK_ROLLUPS_OK, CHECK_ROLLUPS_FAIL},
        {CHECK_USER_ROLLUPS, CHECK_USER_ROLLUPS_OK, CHECK_USER_ROLLUPS_FAIL},
        {"SELECT COUNT(*) FROM events e WHERE"
         " total_tokens < input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
         " OR reasoning_tokens > output_tokens OR cache_write_1h_tokens > cache_write_tokens"
         " OR min(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
         "        value, cost_pusd) < 0",
         "ok   tokens: every event's buckets and total agree",
         "FAIL tokens: %lld events have inconsistent token counts"},
        {CHECK_NAMES, CHECK_NAMES_OK, CHECK_NAMES_FAIL},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int64_t v = 0;
        if ((rc = query_int(rd->db, checks[i].sql, &v)))
            goto out;
        if (v == 0) {
            fn(arg, checks[i].ok);
        } else {
            snprintf(line, sizeof line, checks[i].fail, (long long)v);
            fn(arg, line);
            failed = 1;
        }
    }
out:
    sqlite3_finalize(st);
    give(rd);
    if (rc == TM_OK && failed)
        rc = tm__fail(TM_ECORRUPT, "verify: the store failed a check");
    return rc;
}

const struct tm_store_ops tm__sqlite_ops = {
    .name = "sqlite", .open = sq_open, .close = sq_close, .append = sq_append,
    .load_rollups = sq_load_rollups, .scan_user_cells = sq_scan_user_cells,
    .version = sq_version, .scan_facts = sq_scan_facts,
    .dict_id = sq_dict_id, .dict_name = sq_dict_name, .scan = sq_scan, .count = sq_count,
    .reprice = sq_reprice, .verify = sq_verify, .set_cache = sq_set_cache, .retain = sq_retain,
};

const struct tm_meta_ops tm__sqlite_meta = {
    .key_put = sq_key_put, .key_list = sq_key_list, .key_revoke = sq_key_revoke,
    .user_put = sq_user_put, .user_get = sq_user_get, .alert_set = sq_alert_set,
    .alert_list = sq_alert_list, .file_list = sq_file_list, .file_put = sq_file_put,
    .user_list = sq_user_list, .alert_put = sq_alert_put,
};

/* SQLite keeps memory statistics by default, behind a global mutex taken
 * on every allocation; nothing here reads them. Must precede the first
 * sqlite3_initialize (a later call fails harmlessly). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_setup(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

int tm__store_is_postgres(const char *path)
{
    return strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0;
}

const char *tm__store_shown(const char *path, char *buf, size_t cap)
{
    tm_buf b = TM_BUF_INIT;
    const char *p = path;
    if (tm__store_is_postgres(path)) {
        const char *auth = strstr(path, "://") + 3, *end = auth + strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', (size_t)(end - auth));
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) { /* user:password@ */
            tm__buf_add(&b, path, (size_t)(colon + 1 - path));
            tm__buf_puts(&b, "***");
            p = at;
        }
        for (const char *q = strstr(p, "password="); q; q = strstr(q + 9, "password=")) {
            if (q[-1] != '?' && q[-1] != '&')
                continue;
            tm__buf_add(&b, p, (size_t)(q + 9 - p));
            tm__buf_puts(&b, "***");
            p = q + 9 + strcspn(q + 9, "&#");
        }
    }
    tm__buf_puts(&b, p);
    snprintf(buf, cap, "%s", b.data ? b.data : "");
    tm__buf_free(&b);
    return buf;
}

int tm__store_exists(const char *path, int *exists)
{
    struct stat st;
    if (tm__store_is_postgres(path))
        return tm__pg_store_exists(path, exists);
    *exists = stat(strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path, &st) == 0 || errno != ENOENT;
    return TM_OK;
}

int tm__store_open(const char *path, unsigned mode, tm_store **out)
{
    if (tm__store_is_postgres(path))
        return tm__postgres_ops.open(path, mode, out);
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    if (!*path) /* SQLite would open a temporary store, gone at close */
        return tm__fail(TM_EINVAL, "store: the path is empty");
    pthread_once(&sqlite_once, sqlite_setup);
    return tm__sqlite_ops.open(path, mode, out);
}
