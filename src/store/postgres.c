/*
 * postgres.c — the shared store: one PostgreSQL database (libpq) behind the
 * same two tables of functions as store/sqlite.c, so many stateless
 * daemons can write and read one set of events.
 *
 * Selected by a URL: postgres://... or postgresql://... (a libpq URI). One
 * extra query parameter is tokmeter's: schema=NAME puts every table in that
 * schema (created if missing), so several stores can share a database.
 *
 * Layout (schema version in tm_schema.version; docs/design.md):
 *
 *   tm_meta(key PK, value)     'epoch' (bumped by retention: every daemon
 *                              reloads its rollups), 'fold' (the fold
 *                              horizon, below)
 *   counts(writer PK, events)  the number of events: one row per writer
 *                              (its backend pid), summed when read, so no
 *                              two daemons' commits touch one counter row
 *   dict(id serial PK, s UNIQUE)   dimension strings, shared by all daemons
 *   events(seq, id, client, ts, dims..., sums...)  PARTITION BY RANGE (ts),
 *                              one partition a month (events_pYYYYMM),
 *                              created ahead by the daemons
 *   event_ids(id PK, ts)       every client id: the dedup key across
 *                              daemons and partitions (a unique index on a
 *                              partitioned table must hold the partition key)
 *   rollup_log(key, sums, sketch, xid)   what each commit added to the
 *                              rollup cells, one row per cell and commit,
 *                              with the committing transaction's id
 *   rollup, urollup            the folded cells (hourly; per-user days)
 *   keys, users, alert_state, alert_events, import_files   as in SQLite
 *
 * A cell's value is its folded row plus its rows in rollup_log; every
 * reader adds them up (sums added, sketches merged exactly, in C).
 *
 * Concurrency: an append inserts its events (claiming each client id in
 * event_ids: the same id sent to two daemons waits for the first
 * transaction, then is a duplicate or stored) and one rollup_log row per
 * touched cell, and adds its count to its own counts row: nothing two
 * daemons' appends both update, so they run side by side. They hold a
 * shared advisory lock that retention and repricing take exclusively.
 * Folding: every FOLD_EVERY commits (or FOLD_MAX log rows) the daemon's
 * fold thread, on its own connection, if it gets the fold lock (try,
 * never wait), moves up to FOLD_MAX log rows of transactions older than
 * its previous try's snapshot into rollup/urollup (merged in C, as SQLite
 * does, sums checked for overflow) and records that horizon.
 *
 * Freshness: the version is this handle's own counter, each value tied to
 * a PostgreSQL snapshot (pg_current_snapshot). version() asks which
 * commits' log rows are visible now that the latest snapshot did not see
 * (one statement: a skip scan of the xid index), and if any (or retention
 * or a fold ran) moves to a new value tied to the current snapshot,
 * remembering the step's commits: commits() names them by transaction id
 * (an append's *commit, pg_current_xact_id() read by its count update),
 * which is how a quota cache keeps the users no commit of the step named
 * (policy/quota.c). load_changes hands the rows committed between two
 * versions to the in-memory rollups, so a query reads only what changed
 * since its last one, its own commits included (append returns version
 * -1: the commit hook leaves the rollups to load_changes). A whole reload
 * happens only after retention (the epoch moved) or a fold past the
 * rollups' snapshot. Dictionary
 * strings are interned before the transaction, each chunk in its own short
 * transaction (an unused id left by a rolled-back batch is harmless);
 * readers keep every id and string they looked up (an id never changes
 * its string; a name not found is asked again, another daemon may add it).
 *
 * Durability: synchronous_commit is set on for every connection, so a
 * returned append is committed and flushed. Connections: the writer's
 * (writer thread only), the fold thread's, and NREAD readers, each under
 * its own mutex.
 */
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/err.h"
#include "../core/event.h"
#include "../core/strmap.h"
#include "sql.h"
#include "store.h"

#define SCHEMA_VERSION 2
/* Advisory lock keys: schema migration; partition creation; appends
 * (shared) against retention and repricing (exclusive); folding. */
#define LOCK_MIGRATE 7516109101001LL
#define LOCK_PART 7516109101002LL
#define LOCK_MAINT 7516109101003LL
#define LOCK_FOLD 7516109101004LL
#define MONTHS_AHEAD 2
#define FOLD_EVERY 128      /* commits of this handle between fold tries,  */
#define FOLD_MAX 50000      /* or log rows it wrote; rows a fold moves     */
#define FOLD_MAX_S "50000"
#define NSNAP 64            /* versions whose snapshots load_changes knows */
#define RETRIES 5           /* of an append that hit a deadlock            */

/* A rollup table's sums (value, cost and latency numeric: they may pass
 * 64 bits, as SQLite's wide sums do) and sketch. */
#define ROLL_COLUMNS                                                                           \
    " events bigint NOT NULL, requests bigint NOT NULL, value numeric NOT NULL,"               \
    " input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,"                            \
    " cache_read_tokens bigint NOT NULL, cache_write_tokens bigint NOT NULL,"                  \
    " reasoning_tokens bigint NOT NULL, total_tokens bigint NOT NULL,"                         \
    " cost_pusd numeric NOT NULL, unpriced bigint NOT NULL, errors bigint NOT NULL,"           \
    " lat_n bigint NOT NULL, lat_sum_ns numeric NOT NULL, sketch bytea,"

static const char *const migrations[] = {
    /* 0 → 1 */
    "CREATE TABLE tm_meta(key text PRIMARY KEY, value bigint NOT NULL);"
    "INSERT INTO tm_meta VALUES('events', 0), ('commits', 0);"
    "CREATE TABLE dict(id serial PRIMARY KEY, s text NOT NULL UNIQUE);"
    "CREATE SEQUENCE events_seq;"
    "CREATE TABLE events("
    " seq bigint NOT NULL, id text NOT NULL, client boolean NOT NULL,"
    " ts bigint NOT NULL, provider int, model int, endpoint int,"
    " operation int, user_id int, metric_type int NOT NULL,"
    " resource_type int, session_id text, resource_id text, value bigint NOT NULL,"
    " input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,"
    " cache_read_tokens bigint NOT NULL, cache_write_tokens bigint NOT NULL,"
    " cache_write_1h_tokens bigint NOT NULL, reasoning_tokens bigint NOT NULL,"
    " total_tokens bigint NOT NULL, latency_ns bigint, success smallint NOT NULL,"
    " status_code int, error text, cache_hit smallint NOT NULL,"
    " cost_pusd bigint NOT NULL, cost_source smallint NOT NULL, metadata text, project int,"
    " PRIMARY KEY(ts, seq)) PARTITION BY RANGE (ts);"
    "CREATE INDEX events_user_ts ON events(user_id, ts);"
    "CREATE INDEX events_id ON events(id);"
    "CREATE TABLE event_ids(id text PRIMARY KEY, ts bigint NOT NULL);"
    "CREATE TABLE rollup(proj int NOT NULL, hour int NOT NULL,"
    " d0 bigint NOT NULL, d1 bigint NOT NULL, d2 bigint NOT NULL, d3 bigint NOT NULL,"
    " d4 bigint NOT NULL, d5 bigint NOT NULL, d6 bigint NOT NULL,"
    ROLL_COLUMNS " PRIMARY KEY(proj, hour, d0, d1, d2, d3, d4, d5, d6));"
    "CREATE TABLE urollup(proj int NOT NULL, hour int NOT NULL,"
    " d0 bigint NOT NULL, d1 bigint NOT NULL, d2 bigint NOT NULL, d3 bigint NOT NULL,"
    " d4 bigint NOT NULL, d5 bigint NOT NULL, d6 bigint NOT NULL,"
    ROLL_COLUMNS " PRIMARY KEY(proj, hour, d2, d0, d1, d3, d4, d5, d6));"
    "CREATE TABLE keys(id text PRIMARY KEY, hash bytea NOT NULL, scope text NOT NULL,"
    " user_id text, name text, created bigint NOT NULL, revoked bigint);"
    "CREATE TABLE users(id text PRIMARY KEY, tier text, overrides text, updated bigint NOT NULL);"
    "CREATE TABLE alert_state(rule text NOT NULL, key text NOT NULL, firing int NOT NULL,"
    " value text, since bigint NOT NULL, PRIMARY KEY(rule, key));"
    "CREATE TABLE alert_events(seq bigserial PRIMARY KEY, ts bigint NOT NULL, rule text NOT NULL,"
    " key text NOT NULL, state text NOT NULL, value text, threshold text, body text NOT NULL);"
    "CREATE INDEX alert_events_rk ON alert_events(rule, key, seq);"
    "CREATE TABLE import_files(path text PRIMARY KEY, kind text NOT NULL, dev bigint NOT NULL,"
    " ino bigint NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,"
    " \"offset\" bigint NOT NULL, head bigint NOT NULL, tail bigint NOT NULL, state text,"
    " updated bigint NOT NULL);",
    /* 1 → 2: the rollup log and the per-writer counts replace the commit
     * and event counters that every append updated. */
    "CREATE TABLE rollup_log(proj int NOT NULL, hour int NOT NULL,"
    " d0 bigint NOT NULL, d1 bigint NOT NULL, d2 bigint NOT NULL, d3 bigint NOT NULL,"
    " d4 bigint NOT NULL, d5 bigint NOT NULL, d6 bigint NOT NULL,"
    ROLL_COLUMNS " xid xid8 NOT NULL DEFAULT pg_current_xact_id());"
    "CREATE INDEX rollup_log_xid ON rollup_log(xid);"
    "CREATE INDEX rollup_log_user ON rollup_log(d2, hour) WHERE proj >= 3;"
    "ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq');"
    "CREATE TABLE counts(writer bigint PRIMARY KEY, events bigint NOT NULL);"
    "INSERT INTO counts SELECT 0, value FROM tm_meta WHERE key = 'events';"
    "DELETE FROM tm_meta WHERE key IN ('events', 'commits');"
    "INSERT INTO tm_meta VALUES('epoch', 0), ('fold', 0);",
};

#define ROLL_KEY "proj, hour, d0, d1, d2, d3, d4, d5, d6"


/* The insert's columns and values: $1 id, $2 client, $3 ts, $4..$10 and
 * $29 dict ids, then the rest in SQLite's order. */
#define INS_VCOLS "id, client, ts, provider, model, endpoint, operation, user_id, metric_type," \
    " resource_type, session_id, resource_id, value, input_tokens, output_tokens,"                 \
    " cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens,"             \
    " total_tokens, latency_ns, success, status_code, error, cache_hit, cost_pusd, cost_source,"   \
    " metadata, project"
#define INS_COLS "seq, " INS_VCOLS
#define NPARAM 29
#define NDIMS 8

/* Read connections: [0] for short lookups (key checks, users, the commit
 * counter), the others for scans, so a long read never holds up a check or
 * another scan (as in store/sqlite.c). */
#define NREAD 4
typedef struct pgreader {
    pthread_mutex_t mu;
    PGconn *c;
} pgreader;
enum { QUICK, SCAN };

typedef struct pg_store {
    struct tm_store base;
    char schema[64];            /* ?schema=, "" none (revive sets it again)  */
    PGconn *w;                  /* writer connection                        */
    pgreader rd[NREAD];
    unsigned rd_next;           /* where take() starts looking               */
    tm_strmap dict;             /* string → dict id (writer side)           */
    /* Dictionary entries the readers looked up (under nmu): an id never
     * changes its string, so each is asked of the server once. */
    pthread_mutex_t nmu;
    tm_strmap rdict;            /* string → id (only ids that exist)         */
    char **names;               /* id → string, or NULL                      */
    size_t capnames;
    int32_t *months;            /* months (since 1970) with a partition      */
    size_t nmonths, capmonths;
    unsigned commits;           /* this handle's commits since a fold try    */
    size_t logged;              /* and the log rows they wrote               */
    /* The fold thread and its connection; fold_due and fold_stop under fmu. */
    PGconn *fc;
    pthread_t fold_th;
    int fold_started, fold_due, fold_stop;
    pthread_mutex_t fmu;
    pthread_cond_t fcv;
    char *fold_next;            /* xmin (xid8 text) at the last fold try     */
    /* Versions and their snapshots (under vmu): version v's rollups hold
     * every log row visible in snap[v % NSNAP], with the epoch then, and
     * the step from v - 1 to v made the commits ids visible (known: 0
     * when they cannot be told). */
    pthread_mutex_t vmu;
    int64_t version;
    struct vsnap {
        int64_t version, epoch, xmin;
        char *snap;
        int known, nids;
        int64_t ids[TM_STEP_MAX];
    } snaps[NSNAP];
} pg_store;

static int revive(pg_store *s, PGconn *c);

/* A read connection, held until give(): QUICK reads get reader 0; a SCAN
 * the first free one of the others, or waits its turn at one of them. */
static pgreader *take(pg_store *s, int kind)
{
    pgreader *rd = NULL;
    if (kind == QUICK) {
        rd = &s->rd[0];
        pthread_mutex_lock(&rd->mu);
    } else {
        unsigned start = __atomic_fetch_add(&s->rd_next, 1, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < NREAD - 1 && !rd; i++)
            if (pthread_mutex_trylock(&s->rd[1 + (start + i) % (NREAD - 1)].mu) == 0)
                rd = &s->rd[1 + (start + i) % (NREAD - 1)];
        if (!rd) {
            rd = &s->rd[1 + start % (NREAD - 1)];
            pthread_mutex_lock(&rd->mu);
        }
    }
    (void)revive(s, rd->c); /* still down: the reader's statement says so */
    return rd;
}

static void give(pgreader *rd) { pthread_mutex_unlock(&rd->mu); }

/* Text parameters for one statement; PARAMS(p, cap) declares one with
 * room for cap on the stack. */
typedef struct params {
    const char **v;
    char (*num)[24];
    int n;
} params;
#define PARAMS(name, cap) \
    const char *name##_v[cap]; char name##_num[cap][24]; params name = {name##_v, name##_num, 0}

static void p_i64(params *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}
static void p_text(params *p, const char *s) { p->v[p->n++] = s; }

static int pgfail(PGconn *c, const PGresult *res, const char *what)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(c);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", m && *m ? m : "no connection");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    /* A lost connection is worth retrying (503): the next operation
     * connects again (revive). */
    int err = state && strncmp(state, "22003", 5) == 0 ? TM_EINVAL
              : state && strncmp(state, "40", 2) == 0    ? TM_EBUSY
              : PQstatus(c) == CONNECTION_BAD            ? TM_EBUSY
                                                        : TM_EIO;
    return tm__fail(err, "store: %s: %s", what, msg);
}

/* Runs sql with text parameters; *out (if given) gets the result, owned by
 * the caller. */
static int run(PGconn *c, const char *what, const char *sql, const params *p, PGresult **out)
{
    PGresult *res = PQexecParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pgfail(c, res, what);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return TM_OK;
}

/* Several statements without parameters. */
static int exec(PGconn *c, const char *what, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? TM_OK : pgfail(c, res, what);
    PQclear(res);
    return rc;
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *txt(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* One int64 from a query: column 0 of row 0. */
static int query_int(PGconn *c, const char *sql, const params *p, int64_t *out)
{
    PGresult *res = NULL;
    int rc = run(c, "query", sql, p, &res);
    if (rc == TM_OK)
        *out = PQntuples(res) ? i64(res, 0, 0) : 0;
    PQclear(res);
    return rc;
}

static int end_txn(PGconn *c, int rc);

static void quiet(void *arg, const char *msg) { (void)arg, (void)msg; } /* library never prints */

/* Splits a tokmeter URL into libpq's conninfo and the schema. */
static int parse_url(const char *url, char *conninfo, size_t cap, char *schema, size_t scap)
{
    schema[0] = '\0';
    if (strlen(url) >= cap)
        return tm__fail(TM_EINVAL, "store: the PostgreSQL URL is longer than %zu bytes", cap - 1);
    snprintf(conninfo, cap, "%s", url);
    char *q = strchr(conninfo, '?');
    if (!q)
        return TM_OK;
    /* Rebuild the query without schema=. */
    char rest[4096] = "";
    size_t rl = 0;
    for (char *tok = strtok(q + 1, "&"); tok; tok = strtok(NULL, "&")) {
        if (strncmp(tok, "schema=", 7) == 0) {
            const char *v = tok + 7;
            size_t n = strlen(v);
            if (n == 0 || n >= scap || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != n ||
                (v[0] >= '0' && v[0] <= '9'))
                return tm__fail(TM_EINVAL, "store: schema must be 1 to %zu lower-case letters,"
                                           " digits or _, not starting with a digit", scap - 1);
            snprintf(schema, scap, "%s", v);
            continue;
        }
        rl += (size_t)snprintf(rest + rl, sizeof rest - rl, "%s%s", rl ? "&" : "", tok);
        if (rl >= sizeof rest)
            return tm__fail(TM_EINVAL, "store: the PostgreSQL URL is too long");
    }
    if (rl)
        snprintf(q, cap - (size_t)(q - conninfo), "?%s", rest);
    else
        *q = '\0';
    return TM_OK;
}

/* A new connection's session settings (set again after a reconnect). */
static int session(PGconn *c, const char *schema)
{
    int rc;
    PQsetNoticeProcessor(c, quiet, NULL);
    if ((rc = exec(c, "settings", "SET synchronous_commit = on; SET client_min_messages = warning;"
                                  " SET TIME ZONE 'UTC'")))
        return rc;
    if (schema[0]) {
        char sql[160];
        snprintf(sql, sizeof sql, "SET search_path = %s", schema);
        rc = exec(c, "search_path", sql);
    }
    return rc;
}

/* A connection to conninfo (*out set even when it failed: PQfinish it). */
static int connect_raw(const char *conninfo, PGconn **out)
{
    PGconn *c = *out = PQconnectdb(conninfo);
    if (!c)
        return TM_ENOMEM;
    return PQstatus(c) == CONNECTION_OK ? TM_OK : pgfail(c, NULL, "connect");
}

static int connect_one(const char *conninfo, const char *schema, PGconn **out)
{
    int rc = connect_raw(conninfo, out);
    return rc ? rc : session(*out, schema);
}

int tm__pg_store_exists(const char *url, int *exists)
{
    char conninfo[4096], schema[64];
    int64_t found = 0;
    *exists = 0;
    int rc = parse_url(url, conninfo, sizeof conninfo, schema, sizeof schema);
    if (rc)
        return rc;
    PGconn *c = NULL;
    if ((rc = connect_raw(conninfo, &c)) == TM_OK) {
        PARAMS(p, 2);
        p_text(&p, schema);
        rc = query_int(c, "SELECT CASE WHEN (CASE WHEN $1 = '' THEN to_regclass('tm_schema')"
                          " ELSE to_regclass(format('%I.tm_schema', $1)) END) IS NULL THEN 0 ELSE 1 END",
                       &p, &found);
    }
    PQfinish(c);
    *exists = rc == TM_OK && found;
    return rc;
}

/* A connection the server dropped (a restart, a failover) is opened again
 * at the start of its next operation, with its settings: never inside a
 * transaction (whose earlier statements the server has rolled back), so
 * each operation runs whole on one connection or fails. While the server
 * is down, each operation tries once and fails with the reason. */
static int revive(pg_store *s, PGconn *c)
{
    /* Between operations the server has nothing to say (no LISTEN here):
     * anything to read on an idle connection is its going away (a shutdown
     * notice, the end of the stream), seen at once, without waiting. */
    struct pollfd pfd = {PQsocket(c), POLLIN, 0};
    if (PQstatus(c) == CONNECTION_OK && poll(&pfd, 1, 0) == 0)
        return TM_OK;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK)
        return pgfail(c, NULL, "reconnect");
    return session(c, s->schema);
}

/* Months since 1970-01 of a time in µs, and the first µs of a month. */
static int32_t month_of(int64_t ts_us)
{
    time_t t = (time_t)(ts_us >= 0 ? ts_us / 1000000 : (ts_us - 999999) / 1000000);
    struct tm g;
    gmtime_r(&t, &g);
    return (int32_t)((g.tm_year - 70) * 12 + g.tm_mon);
}

static int64_t month_start(int32_t m)
{
    struct tm g = {.tm_year = 70 + (m >= 0 ? m / 12 : (m - 11) / 12), .tm_mday = 1};
    g.tm_mon = m - (g.tm_year - 70) * 12;
    return (int64_t)timegm(&g) * 1000000;
}

static void month_name(int32_t m, char *buf, size_t cap)
{
    int y = 1970 + (m >= 0 ? m / 12 : (m - 11) / 12);
    snprintf(buf, cap, "events_p%04d%02d", y, m - (y - 1970) * 12 + 1);
}

/* Creates the partition of month m unless this handle knows it exists
 * (its own short transaction, under the partition lock so that daemons
 * creating it together do not race). Writer connection, outside a txn. */
static int ensure_month(pg_store *s, int32_t m)
{
    for (size_t i = 0; i < s->nmonths; i++)
        if (s->months[i] == m)
            return TM_OK;
    char name[32], sql[512];
    month_name(m, name, sizeof name);
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%lld);"
             " CREATE TABLE IF NOT EXISTS %s PARTITION OF events FOR VALUES FROM (%lld) TO (%lld);"
             " COMMIT",
             LOCK_PART, name, (long long)month_start(m), (long long)month_start(m + 1));
    int rc = exec(s->w, "create partition", sql);
    if (rc) {
        exec(s->w, "rollback", "ROLLBACK");
        return rc;
    }
    int32_t *grown = tm__grow(s->months, s->nmonths, &s->capmonths, sizeof *s->months, 16);
    if (!grown)
        return TM_ENOMEM;
    s->months = grown;
    s->months[s->nmonths++] = m;
    return TM_OK;
}

/* Creates or migrates the schema: one transaction under a transaction-level
 * advisory lock (so it also works through PgBouncer in transaction mode),
 * so daemons starting together take turns and a failed step leaves the
 * schema as it was. */
static int migrate(pg_store *s, const char *schema)
{
    char sql[256];
    int64_t version = 0;
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", LOCK_MIGRATE);
    int rc = exec(s->w, "migration lock", sql);
    if (rc == TM_OK && schema[0]) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", schema);
        rc = exec(s->w, "create schema", sql);
    }
    if (rc == TM_OK)
        rc = exec(s->w, "schema table", "CREATE TABLE IF NOT EXISTS tm_schema(version int NOT NULL);"
                                        " INSERT INTO tm_schema SELECT 0 WHERE NOT EXISTS"
                                        " (SELECT 1 FROM tm_schema)");
    if (rc == TM_OK)
        rc = query_int(s->w, "SELECT version FROM tm_schema", NULL, &version);
    if (rc == TM_OK && version > SCHEMA_VERSION)
        rc = tm__fail(TM_EVERSION,
                      "store: schema version %lld is newer than this tokmeter understands (%d); "
                      "upgrade tokmeter",
                      (long long)version, SCHEMA_VERSION);
    for (int64_t v = version; v < SCHEMA_VERSION && rc == TM_OK; v++) {
        snprintf(sql, sizeof sql, "UPDATE tm_schema SET version = %lld", (long long)v + 1);
        if ((rc = exec(s->w, "migrate", migrations[v])) == TM_OK)
            rc = exec(s->w, "migrate", sql);
    }
    return end_txn(s->w, rc);
}

static void *fold_main(void *arg);

static void pg_close(tm_store *base)
{
    pg_store *s = (pg_store *)base;
    if (!s)
        return;
    if (s->fold_started) {
        pthread_mutex_lock(&s->fmu);
        s->fold_stop = 1;
        pthread_cond_signal(&s->fcv);
        pthread_mutex_unlock(&s->fmu);
        pthread_join(s->fold_th, NULL);
    }
    pthread_mutex_destroy(&s->fmu);
    pthread_cond_destroy(&s->fcv);
    PQfinish(s->fc);
    PQfinish(s->w);
    for (int i = 0; i < NREAD; i++) {
        PQfinish(s->rd[i].c);
        pthread_mutex_destroy(&s->rd[i].mu);
    }
    tm__strmap_clear(&s->dict);
    tm__strmap_clear(&s->rdict);
    for (size_t i = 0; i < s->capnames; i++)
        free(s->names[i]);
    free(s->names);
    pthread_mutex_destroy(&s->nmu);
    free(s->months);
    free(s->fold_next);
    for (int i = 0; i < NSNAP; i++)
        free(s->snaps[i].snap);
    pthread_mutex_destroy(&s->vmu);
    free(s);
}

/* Starts a new version tied to snapshot snap (text) and epoch, the step
 * to it having made the nids commits ids visible (known 0: not told).
 * vmu held. */
static int new_version(pg_store *s, const char *snap, int64_t epoch, int known,
                       const int64_t *ids, int nids)
{
    char *copy = strdup(snap);
    if (!copy)
        return TM_ENOMEM;
    struct vsnap *v = &s->snaps[(s->version + 1) % NSNAP];
    free(v->snap);
    *v = (struct vsnap){s->version + 1, epoch, strtoll(snap, NULL, 10), copy, known, 0, {0}};
    for (int i = 0; known && i < nids && i < TM_STEP_MAX; i++)
        v->ids[v->nids++] = ids[i];
    s->version++;
    return TM_OK;
}

/* Version v's snapshot, or NULL when it is no longer kept. vmu held. */
static const struct vsnap *snap_of(const pg_store *s, int64_t v)
{
    const struct vsnap *x = v > 0 ? &s->snaps[v % NSNAP] : NULL;
    return x && x->version == v ? x : NULL;
}

/* A snapshot's text (xmin:xmax:xip,xip...) as three parameters of p: its
 * xmin, its xmax and its in-progress ids as an array literal (in xip,
 * which has room for strlen(snap) + 3). The log rows not visible in it are
 * those with xid >= xmax or among the in-progress ones: two index look-ups
 * where "NOT pg_visible_in_snapshot(xid, snap)" would read every row. */
static void snap_params(const char *snap, char *xmin, char *xmax, char *xip, params *p)
{
    int a = 0, b = 0;
    sscanf(snap, "%23[0-9]:%23[0-9]:%n", xmin, xmax, &a);
    b = snprintf(xip, strlen(snap) + 3, "{%s}", a ? snap + a : "");
    (void)b;
    p_text(p, xmin);
    p_text(p, xmax);
    p_text(p, xip);
}

/* The statement that starts a version: the current snapshot, the epoch,
 * the fold horizon, and the commits whose log rows it sees that the latest
 * version's snapshot did not ($1 its xmin, $2 its xmax, $3 its in-progress
 * ids: snap_params; NULL before the first), at most TM_STEP_MAX + 1 of
 * them: a skip scan of the xid index (one probe a commit, however many
 * rows each wrote) and one probe an in-progress id. */
#define STEP_SQL                                                                                 \
    "SELECT pg_current_snapshot()::text, e.value, f.value, ARRAY("                               \
    " WITH RECURSIVE n(x) AS (SELECT (SELECT min(xid) FROM rollup_log"                            \
    "   WHERE xid >= $2::xid8 AND $1::xid8 IS NOT NULL)"                                         \
    "  UNION ALL SELECT (SELECT min(xid) FROM rollup_log WHERE xid > n.x) FROM n"                 \
    "   WHERE n.x IS NOT NULL)"                                                                   \
    " SELECT x FROM n WHERE x IS NOT NULL UNION ALL"                                              \
    " SELECT x FROM unnest($3::xid8[]) x WHERE EXISTS(SELECT 1 FROM rollup_log WHERE xid = x)"    \
    " LIMIT " STEP_LIMIT ")::text FROM tm_meta e, tm_meta f WHERE e.key = 'epoch' AND f.key = 'fold'"
#define STEP_LIMIT "65"
_Static_assert(TM_STEP_MAX == 64, "STEP_LIMIT is TM_STEP_MAX + 1");

/* Runs the step statement on c (the first of its transaction, in REPEATABLE
 * READ the snapshot every later read of it uses) and starts a new version
 * when always, or when the step is not empty: commits became visible,
 * retention ran, or a fold passed the latest snapshot (then the step's
 * commits are not known). *epoch and *fold (may be NULL) get the store's.
 * vmu held. */
static int step(pg_store *s, PGconn *c, int always, int64_t *epoch, int64_t *fold)
{
    PGresult *res = NULL;
    const struct vsnap *prev = snap_of(s, s->version);
    char xmin[24] = "0", xmax[24] = "0", *xip = prev ? malloc(strlen(prev->snap) + 3) : NULL;
    PARAMS(p, 4);
    if (prev && !xip)
        return TM_ENOMEM;
    if (prev) {
        snap_params(prev->snap, xmin, xmax, xip, &p);
    } else {
        p_text(&p, NULL);
        p_text(&p, NULL);
        p_text(&p, NULL);
    }
    int rc = run(c, "version", STEP_SQL, &p, &res);
    free(xip);
    if (rc == TM_OK && PQntuples(res) != 1)
        rc = tm__fail(TM_ECORRUPT, "store: tm_meta has no epoch or fold row");
    if (rc == TM_OK) {
        int64_t e = i64(res, 0, 1), f = i64(res, 0, 2), ids[TM_STEP_MAX + 1];
        int n = 0;
        for (const char *a = PQgetvalue(res, 0, 3); *a && n <= TM_STEP_MAX;) {
            char *end;
            long long x = strtoll(a + 1, &end, 10); /* after '{' or ',' */
            if (end == a + 1)
                break;
            ids[n++] = x;
            a = end;
        }
        int moved = !prev || n || e != prev->epoch || f > prev->xmin;
        if (epoch)
            *epoch = e;
        if (fold)
            *fold = f;
        if (always || moved)
            rc = new_version(s, PQgetvalue(res, 0, 0), e,
                             prev && e == prev->epoch && f <= prev->xmin && n <= TM_STEP_MAX, ids, n);
    }
    PQclear(res);
    return rc;
}

/* The current snapshot and epoch, as a new version: the first statement of
 * c's transaction. With from, also whether the rows committed since
 * version from's snapshot can be read from the log: not after retention
 * (the epoch moved) or a fold past it (*whole = 1). vmu held. */
static int take_version(pg_store *s, PGconn *c, const struct vsnap *from, int *whole)
{
    int64_t e = 0, f = 0, from_epoch = from ? from->epoch : 0, from_xmin = from ? from->xmin : 0;
    int rc = step(s, c, 1, &e, &f); /* may reuse from's slot */
    if (rc == TM_OK && whole)
        *whole = from && (e != from_epoch || f > from_xmin);
    return rc;
}

static int pg_open(const char *url, unsigned mode, tm_store **out)
{
    (void)mode; /* file permissions: the server's */
    char conninfo[4096], schema[64];
    int rc;
    pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return TM_ENOMEM;
    s->base.ops = &tm__postgres_ops;
    s->base.meta = &tm__postgres_meta;
    for (int i = 0; i < NREAD; i++)
        pthread_mutex_init(&s->rd[i].mu, NULL);
    pthread_mutex_init(&s->vmu, NULL);
    pthread_mutex_init(&s->nmu, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_cond_init(&s->fcv, NULL);
    if ((rc = parse_url(url, conninfo, sizeof conninfo, schema, sizeof schema)))
        goto out;
    memcpy(s->schema, schema, sizeof schema);
    if ((rc = connect_one(conninfo, schema, &s->w)) || (rc = migrate(s, schema)))
        goto out;
    for (int i = 0; i < NREAD && rc == TM_OK; i++)
        rc = connect_one(conninfo, schema, &s->rd[i].c);
    if (rc)
        goto out;
    int32_t now = month_of((int64_t)time(NULL) * 1000000);
    for (int32_t m = now - 1; m <= now + MONTHS_AHEAD && rc == TM_OK; m++)
        rc = ensure_month(s, m);
    if (rc == TM_OK)
        rc = take_version(s, s->w, NULL, NULL);
    if (rc == TM_OK && (rc = connect_one(conninfo, schema, &s->fc)) == TM_OK) {
        if (pthread_create(&s->fold_th, NULL, fold_main, s) != 0)
            rc = tm__fail(TM_ENOMEM, "store: cannot start the fold thread");
        s->fold_started = rc == TM_OK;
    }
out:
    if (rc) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return TM_OK;
}

/* The dict id of str, interning it (autocommit; writer thread). */
static int intern(pg_store *s, const char *str, int64_t *id)
{
    if (tm__strmap_get(&s->dict, str, id))
        return TM_OK;
    PARAMS(p, 12);
    p_text(&p, str);
    int rc = run(s->w, "intern", "INSERT INTO dict(s) VALUES($1) ON CONFLICT (s) DO NOTHING", &p, NULL);
    if (rc == TM_OK)
        rc = query_int(s->w, "SELECT id FROM dict WHERE s = $1", &p, id);
    return rc ? rc : tm__strmap_put(&s->dict, str, *id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define INTERN_CHUNK 1000

/* Interns every name of evs not in the cache yet, in one short transaction
 * per INTERN_CHUNK names: one INSERT of the new names in sorted order (so
 * daemons inserting the same ones wait for each other in one order, never
 * in a cycle), committed without waiting for its flush (the append that
 * uses the ids commits synchronously after it, which flushes the log past
 * it), then one SELECT of their ids. Without it every new name (a user, a
 * session's model) cost a commit and a flush of its own. */
static int intern_batch(pg_store *s, tm_event *const *evs, size_t n)
{
    tm_strmap fresh = TM_STRMAP_INIT;
    const char **names = NULL;
    size_t nn = 0, cap = 0;
    int64_t one;
    int rc = TM_OK;
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        const tm_event *e = evs[i];
        const char *dims[NDIMS] = {e->provider, e->model, e->endpoint, e->operation,
                                   e->user_id, e->metric_type, e->resource_type, e->project};
        for (int d = 0; d < NDIMS && rc == TM_OK; d++) {
            if (!dims[d] || tm__strmap_get(&s->dict, dims[d], &one) || tm__strmap_get(&fresh, dims[d], &one))
                continue;
            const char **grown = tm__grow(names, nn, &cap, sizeof *names, 64);
            if (!grown || tm__strmap_put(&fresh, dims[d], 1) != TM_OK) {
                rc = TM_ENOMEM;
                break;
            }
            names = grown;
            names[nn++] = dims[d];
        }
    }
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    for (size_t from = 0; from < nn && rc == TM_OK; from += INTERN_CHUNK) {
        size_t k = nn - from < INTERN_CHUNK ? nn - from : INTERN_CHUNK;
        params p = {names + from, NULL, (int)k};
        tm_buf ins = TM_BUF_INIT, sel = TM_BUF_INIT;
        PGresult *res = NULL;
        tm__buf_puts(&ins, "INSERT INTO dict(s) VALUES");
        tm__buf_puts(&sel, "SELECT id, s FROM dict WHERE s IN (");
        for (size_t i = 0; i < k; i++) {
            tm__buf_printf(&ins, "%s($%zu)", i ? "," : "", i + 1);
            tm__buf_printf(&sel, "%s$%zu", i ? "," : "", i + 1);
        }
        tm__buf_puts(&ins, " ON CONFLICT (s) DO NOTHING");
        if (tm__buf_putc(&sel, ')') != TM_OK || !ins.data || !sel.data)
            rc = TM_ENOMEM;
        if (rc == TM_OK && (rc = exec(s->w, "intern", "BEGIN; SET LOCAL synchronous_commit = off")) == TM_OK) {
            rc = run(s->w, "intern", ins.data, &p, NULL);
            rc = end_txn(s->w, rc);
        }
        if (rc == TM_OK)
            rc = run(s->w, "intern", sel.data, &p, &res);
        for (int row = 0; rc == TM_OK && row < PQntuples(res); row++)
            rc = tm__strmap_put(&s->dict, PQgetvalue(res, row, 1), i64(res, row, 0));
        PQclear(res);
        tm__buf_free(&ins);
        tm__buf_free(&sel);
    }
    free(names);
    tm__strmap_clear(&fresh);
    return rc;
}

static int64_t dict_lookup(PGconn *c, const char *str)
{
    PARAMS(p, 12);
    int64_t id = 0;
    p_text(&p, str);
    if (query_int(c, "SELECT id FROM dict WHERE s = $1", &p, &id))
        id = 0;
    return id;
}

static void fact_of_row(const PGresult *r, int row, int c0, int64_t llm, tm_fact *f)
{
    memset(f, 0, sizeof *f);
    f->ts_us = i64(r, row, c0);
    for (int d = 0; d < TM_D_SUCCESS; d++)
        f->dim[d] = (uint32_t)i64(r, row, c0 + 1 + d);
    f->success = (int)i64(r, row, c0 + 7);
    f->dim[TM_D_SUCCESS] = f->success ? 2 : 1;
    f->llm_call = llm && i64(r, row, c0 + 6) == llm;
    f->value = i64(r, row, c0 + 8);
    f->input = i64(r, row, c0 + 9);
    f->output = i64(r, row, c0 + 10);
    f->cache_read = i64(r, row, c0 + 11);
    f->cache_write = i64(r, row, c0 + 12);
    f->reasoning = i64(r, row, c0 + 13);
    f->total = i64(r, row, c0 + 14);
    f->has_latency = !PQgetisnull(r, row, c0 + 15);
    f->latency_ns = i64(r, row, c0 + 15);
    f->cost = i64(r, row, c0 + 16);
    f->cost_source = (int)i64(r, row, c0 + 17);
    f->dim[TM_D_PROJECT] = (uint32_t)i64(r, row, c0 + 18);
}

/* A numeric column holding an integer of up to 128 bits. */
static tm_i128 wide(const PGresult *r, int row, int col)
{
    const char *p = PQgetvalue(r, row, col);
    int neg = *p == '-';
    unsigned __int128 u = 0;
    for (p += neg; *p >= '0' && *p <= '9'; p++)
        u = u * 10 + (unsigned)(*p - '0');
    return neg ? -(tm_i128)u : (tm_i128)u;
}

static void sums_of_row(const PGresult *r, int row, int c0, tm_sums *t)
{
    *t = (tm_sums){
        .events = i64(r, row, c0 + 0), .requests = i64(r, row, c0 + 1),
        .value = wide(r, row, c0 + 2), .input = i64(r, row, c0 + 3),
        .output = i64(r, row, c0 + 4), .cache_read = i64(r, row, c0 + 5),
        .cache_write = i64(r, row, c0 + 6), .reasoning = i64(r, row, c0 + 7),
        .total = i64(r, row, c0 + 8), .cost = wide(r, row, c0 + 9),
        .unpriced = i64(r, row, c0 + 10), .errors = i64(r, row, c0 + 11),
        .lat_n = i64(r, row, c0 + 12), .lat_sum = wide(r, row, c0 + 13),
    };
}

/* a += b as SQLite's tm_add and tm_add_wide do it: counts must stay within
 * 64 bits, value, cost and latency sums within 128. */
static int sums_add_checked(tm_sums *a, const tm_sums *b)
{
    int64_t *ca[11] = {&a->events, &a->requests, &a->input, &a->output, &a->cache_read,
                       &a->cache_write, &a->reasoning, &a->total, &a->unpriced, &a->errors, &a->lat_n};
    const int64_t cb[11] = {b->events, b->requests, b->input, b->output, b->cache_read,
                            b->cache_write, b->reasoning, b->total, b->unpriced, b->errors, b->lat_n};
    for (int i = 0; i < 11; i++)
        if (__builtin_add_overflow(*ca[i], cb[i], ca[i]))
            return tm__fail(TM_EINVAL, "rollup: a count or token sum exceeds 64 bits");
    if (__builtin_add_overflow(a->value, b->value, &a->value) ||
        __builtin_add_overflow(a->cost, b->cost, &a->cost) ||
        __builtin_add_overflow(a->lat_sum, b->lat_sum, &a->lat_sum))
        return tm__fail(TM_EINVAL, "rollup: a sum of value, cost or latency exceeds 128 bits");
    return TM_OK;
}

/* Reads a bytea column (text format) into a sketch, merging. */
static int sketch_of_col(const PGresult *r, int row, int col, tm_sketch *sk)
{
    if (PQgetisnull(r, row, col)) /* an empty sketch */
        return TM_OK;
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!raw)
        return TM_ENOMEM;
    int rc = tm__sketch_read(sk, raw, n);
    PQfreemem(raw);
    return rc;
}

static void key_of_row(const PGresult *r, int row, tm_cell_key *k)
{
    memset(k, 0, sizeof *k);
    k->proj = (int32_t)i64(r, row, 0);
    k->hour = (int32_t)i64(r, row, 1);
    for (int d = 0; d < TM_NROLLDIM; d++)
        k->dim[d] = (uint32_t)i64(r, row, 2 + d);
}

/* Appends cell c (ROLL_KEY, ROLL_COLS): as a VALUES row, or with copy as
 * a line of COPY's text format. The sums as decimal text, the sketch as
 * bytea (NULL when empty). */
static int put_cell(tm_buf *sql, const tm_cell *c, int first, int copy)
{
    const tm_sums *t = &c->s;
    const char *sep = copy ? "\t" : ",";
    tm__buf_printf(sql, "%s%d%s%d", copy ? "" : first ? "(" : ",(", c->key.proj, sep, c->key.hour);
    for (int d = 0; d < TM_NROLLDIM; d++)
        tm__buf_printf(sql, "%s%u", sep, c->key.dim[d]);
    const tm_i128 v[14] = {t->events, t->requests, t->value, t->input, t->output,
                           t->cache_read, t->cache_write, t->reasoning, t->total,
                           t->cost, t->unpriced, t->errors, t->lat_n, t->lat_sum};
    for (int k = 0; k < 14; k++) {
        char num[48];
        tm__dec_format(v[k], 0, num);
        tm__buf_printf(sql, "%s%s", sep, num);
    }
    if (c->sk.n == 0 && c->sk.zeros == 0)
        return tm__buf_puts(sql, copy ? "\t\\N\n" : ",NULL)");
    size_t n = tm__sketch_size(&c->sk);
    unsigned char *blob = malloc(n);
    if (!blob)
        return TM_ENOMEM;
    tm__sketch_write(&c->sk, blob);
    tm__buf_puts(sql, copy ? "\t\\\\x" : ",'\\x");
    for (size_t b = 0; b < n; b++)
        tm__buf_printf(sql, "%02x", blob[b]);
    free(blob);
    return tm__buf_puts(sql, copy ? "\n" : "'::bytea)");
}

/* Adds row `row` of res (ROLL_KEY, ROLL_COLS) to its cell in cs: sums
 * checked for overflow, sketches merged. */
static int add_row_checked(tm_cellset *cs, const PGresult *res, int row)
{
    tm_cell_key k;
    tm_sums t;
    key_of_row(res, row, &k);
    tm_cell *o = tm__cellset_get(cs, &k);
    if (!o)
        return TM_ENOMEM;
    sums_of_row(res, row, 9, &t);
    int rc = sums_add_checked(&o->s, &t);
    return rc ? rc : sketch_of_col(res, row, 23, &o->sk);
}

/* Merges each cell of cs[from, to) with lo ≤ proj < hi into its folded row in table:
 * the stored rows are read in one statement (locked), added to in C
 * (overflow checked, sketches merged as the SQLite backend does) and
 * written back in one upsert. Folding only (under the fold lock). */
static int write_cells_in(PGconn *c, const tm_cellset *cs, size_t from, size_t to, const char *table,
                          int lo, int hi)
{
    tm_buf sql = TM_BUF_INIT;
    tm_cellset olds = {0};
    PGresult *res = NULL;
    int rc = TM_OK, first = 1;
    /* The stored rows, locked: the keys as nine arrays joined on the
     * primary key (an IN list of row values is planned as a scan). */
    tm_buf key[2 + TM_NROLLDIM];
    for (int a = 0; a < 2 + TM_NROLLDIM; a++) {
        key[a] = (tm_buf)TM_BUF_INIT;
        tm__buf_putc(&key[a], '{');
    }
    for (size_t i = from; i < to; i++) {
        const tm_cell_key *k = &cs->cells[i].key;
        if (k->proj < lo || k->proj >= hi)
            continue;
        tm__buf_printf(&key[0], "%s%d", first ? "" : ",", k->proj);
        tm__buf_printf(&key[1], "%s%d", first ? "" : ",", k->hour);
        for (int d = 0; d < TM_NROLLDIM; d++)
            tm__buf_printf(&key[2 + d], "%s%u", first ? "" : ",", k->dim[d]);
        first = 0;
    }
    const char *kv[2 + TM_NROLLDIM];
    for (int a = 0; a < 2 + TM_NROLLDIM; a++) {
        if (tm__buf_putc(&key[a], '}') != TM_OK)
            rc = TM_ENOMEM;
        kv[a] = key[a].data;
    }
    params kp = {kv, NULL, 2 + TM_NROLLDIM};
    tm__buf_printf(&sql, "SELECT " ROLL_KEY ", " ROLL_COLS " FROM %s JOIN unnest($1::int[], $2::int[],"
                   " $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],"
                   " $9::bigint[]) AS k(" ROLL_KEY ") USING (" ROLL_KEY ") FOR UPDATE OF %s", table, table);
    if (rc == TM_OK && !sql.data)
        rc = TM_ENOMEM;
    if (rc == TM_OK)
        rc = run(c, "rollup read", sql.data, &kp, &res);
    for (int a = 0; a < 2 + TM_NROLLDIM; a++)
        tm__buf_free(&key[a]);
    if (rc)
        goto out;
    for (int row = 0; row < PQntuples(res) && rc == TM_OK; row++)
        rc = add_row_checked(&olds, res, row);
    tm__buf_reset(&sql);
    tm__buf_printf(&sql, "INSERT INTO %s(" ROLL_KEY ", " ROLL_COLS ") VALUES", table);
    first = 1;
    for (size_t i = from; i < to && rc == TM_OK; i++) {
        const tm_cell *cl = &cs->cells[i];
        if (cl->key.proj < lo || cl->key.proj >= hi)
            continue;
        tm_cell *o = tm__cellset_get(&olds, &cl->key);
        if (!o) {
            rc = TM_ENOMEM;
            break;
        }
        if ((rc = sums_add_checked(&o->s, &cl->s)) || (rc = tm__sketch_merge(&o->sk, &cl->sk)) ||
            (rc = put_cell(&sql, o, first, 0)))
            break;
        first = 0;
    }
    tm__buf_puts(&sql, " ON CONFLICT (" ROLL_KEY ") DO UPDATE SET events = EXCLUDED.events,"
                       " requests = EXCLUDED.requests, value = EXCLUDED.value,"
                       " input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,"
                       " cache_read_tokens = EXCLUDED.cache_read_tokens,"
                       " cache_write_tokens = EXCLUDED.cache_write_tokens,"
                       " reasoning_tokens = EXCLUDED.reasoning_tokens,"
                       " total_tokens = EXCLUDED.total_tokens, cost_pusd = EXCLUDED.cost_pusd,"
                       " unpriced = EXCLUDED.unpriced, errors = EXCLUDED.errors,"
                       " lat_n = EXCLUDED.lat_n, lat_sum_ns = EXCLUDED.lat_sum_ns,"
                       " sketch = EXCLUDED.sketch");
    if (rc == TM_OK && !sql.data)
        rc = TM_ENOMEM;
    if (rc == TM_OK)
        rc = run(c, "rollup write", sql.data, NULL, NULL);
out:
    PQclear(res);
    tm__buf_free(&sql);
    tm__cellset_free(&olds);
    return rc;
}

#define FOLD_CHUNK 1000 /* cells a statement */

/* write_cells_in for every cell of cs with lo <= proj < hi, FOLD_CHUNK cells a
 * statement. */
static int write_cells(PGconn *c, const tm_cellset *cs, const char *table, int lo, int hi)
{
    int rc = TM_OK;
    for (size_t from = 0; from < cs->n && rc == TM_OK;) {
        size_t to = from, mine = 0;
        for (; to < cs->n && mine < FOLD_CHUNK; to++)
            mine += cs->cells[to].key.proj >= lo && cs->cells[to].key.proj < hi;
        if (mine)
            rc = write_cells_in(c, cs, from, to, table, lo, hi);
        from = to;
    }
    return rc;
}

static int copy_in(PGconn *c, const char *sql, const tm_buf *data, const char *what);

/* Appends every cell of cs to rollup_log with one COPY (inside the open
 * transaction: the rows carry its id). Parsing a VALUES list of
 * thousands of rows cost seconds; COPY's lines cost microseconds. */
static int log_cells(PGconn *c, const tm_cellset *cs)
{
    tm_buf buf = TM_BUF_INIT;
    int rc = TM_OK;
    for (size_t i = 0; i < cs->n && rc == TM_OK; i++)
        rc = put_cell(&buf, &cs->cells[i], 0, 1);
    if (rc == TM_OK)
        rc = copy_in(c, "COPY rollup_log(" ROLL_KEY ", " ROLL_COLS ") FROM STDIN", &buf, "rollup log");
    tm__buf_free(&buf);
    return rc;
}

/* Begins a writing transaction holding the maintenance lock: shared for
 * appends, exclusive for retention and repricing. */
static int begin_maint(PGconn *c, int exclusive)
{
    char sql[96];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock%s(%lld)", exclusive ? "" : "_shared",
             LOCK_MAINT);
    return exec(c, "begin", sql);
}

/* Ends the transaction: COMMIT when rc is TM_OK, else ROLLBACK (keeping rc). */
/* The connection was lost while a COMMIT was on its way: the server may
 * have committed. Not a "try again" (503): events without an id would be
 * stored twice. */
static int commit_unknown(void)
{
    return tm__fail(TM_EIO, "store: the connection to PostgreSQL was lost during COMMIT, so "
                            "whether it committed is unknown (resending events that carry an "
                            "id is safe: they are stored once)");
}

static int end_txn(PGconn *c, int rc)
{
    if (rc == TM_OK && (rc = exec(c, "commit", "COMMIT")) && PQstatus(c) == CONNECTION_BAD)
        return commit_unknown();
    if (rc != TM_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK")); /* its own failure would hide rc's reason */
    return rc;
}

/* Adds DELTA to this writer's (PID's) row of counts. */
#define COUNT_SQL(pid, delta) \
    "INSERT INTO counts VALUES(" pid ", " delta ") ON CONFLICT (writer) DO UPDATE SET" \
    " events = counts.events + EXCLUDED.events"

/* Adds delta to this writer's row of counts (inside the transaction). */
static int add_count(PGconn *c, int64_t delta)
{
    if (delta == 0)
        return TM_OK;
    PARAMS(p, 4);
    p_i64(&p, PQbackendPID(c));
    p_i64(&p, delta);
    return run(c, "count", COUNT_SQL("$1::bigint", "$2::bigint"), &p, NULL);
}

/* add_count and end_txn in one round trip: the count's INSERT and COMMIT
 * sent as one query string (numbers only), the transaction's id read back
 * from the first statement. */
static int count_and_commit(PGconn *c, int64_t delta, int64_t *xid)
{
    char sql[300];
    int rc = TM_OK, results = 0;
    snprintf(sql, sizeof sql, COUNT_SQL("%d", "%lld") " RETURNING pg_current_xact_id()::text::bigint; COMMIT",
             PQbackendPID(c), (long long)delta);
    if (!PQsendQuery(c, sql))
        rc = pgfail(c, NULL, "commit");
    for (PGresult *res; rc == TM_OK && (res = PQgetResult(c)); results++) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK && results == 0 && PQntuples(res) == 1)
            *xid = i64(res, 0, 0);
        else if (st != PGRES_COMMAND_OK)
            rc = pgfail(c, res, results == 0 ? "count" : "commit");
        PQclear(res);
    }
    for (PGresult *res; (res = PQgetResult(c));) /* the rest, after an error */
        PQclear(res);
    if (rc == TM_OK && results != 2)
        rc = tm__fail(TM_EIO, "store: commit: %d results, wanted 2", results);
    if (rc && PQstatus(c) == CONNECTION_BAD) /* sent: the server may have run it all */
        return commit_unknown();
    if (rc && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

/* Moves up to FOLD_MAX log rows of the transactions before this handle's
 * previous try into rollup and urollup, if no other daemon is folding, and
 * records that horizon (on the fold thread, its own connection) (readers whose snapshot is older reload whole). Errors
 * leave the log as it was, which readers add up just the same. */
static int fold(pg_store *s)
{
    PGresult *res = NULL, *now = NULL;
    tm_cellset merged = {0};
    int64_t got = 0;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_xact_lock(%lld)::int", LOCK_FOLD);
    int rc = revive(s, s->fc);
    if (rc == TM_OK)
        rc = exec(s->fc, "fold", "BEGIN");
    if (rc == TM_OK)
        rc = query_int(s->fc, sql, NULL, &got);
    if (rc || !got)
        goto out;
    if ((rc = run(s->fc, "fold", "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", NULL, &now)))
        goto out;
    if (s->fold_next) {
        PARAMS(p, 4);
        p_text(&p, s->fold_next);
        rc = run(s->fc, "fold", "DELETE FROM rollup_log WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_log"
                 " WHERE xid < $1::xid8 LIMIT " FOLD_MAX_S ")) RETURNING " ROLL_KEY ", " ROLL_COLS, &p, &res);
        for (int row = 0; rc == TM_OK && row < PQntuples(res); row++)
            rc = add_row_checked(&merged, res, row);
        if (rc == TM_OK && PQntuples(res) > 0 && (rc = write_cells(s->fc, &merged, "rollup", 0, TM_NPROJ)) == TM_OK &&
            (rc = write_cells(s->fc, &merged, "urollup", TM_NPROJ, TM_NPROJ_ALL)) == TM_OK)
            rc = run(s->fc, "fold", "UPDATE tm_meta SET value = greatest(value, $1::bigint) WHERE key = 'fold'",
                     &p, NULL);
    }
    char *next = rc == TM_OK ? strdup(PQgetvalue(now, 0, 0)) : NULL;
    if (next) {
        free(s->fold_next);
        s->fold_next = next;
    }
out:
    rc = end_txn(s->fc, rc);
    PQclear(res);
    PQclear(now);
    tm__cellset_free(&merged);
    return rc;
}

/* The fold thread: folds when an append asks (fold_due), so no append
 * waits for a fold. */
static void *fold_main(void *arg)
{
    pg_store *s = arg;
    pthread_mutex_lock(&s->fmu);
    for (;;) {
        while (!s->fold_due && !s->fold_stop)
            pthread_cond_wait(&s->fcv, &s->fmu);
        if (s->fold_stop)
            break;
        s->fold_due = 0;
        pthread_mutex_unlock(&s->fmu);
        fold(s); /* best effort: an unfolded log reads the same */
        pthread_mutex_lock(&s->fmu);
    }
    pthread_mutex_unlock(&s->fmu);
    return NULL;
}

/* A repeat of a stored client id that asked to replace it: when e is the
 * larger copy, deletes the stored row, sets *old to its fact and *replace. */
static int try_replace(pg_store *s, const tm_event *e, tm_fact *old, int *replace)
{
    PARAMS(p, 12);
    PGresult *res = NULL;
    int64_t llm = 0;
    *replace = 0;
    if (!tm__strmap_get(&s->dict, "llm_call", &llm))
        llm = dict_lookup(s->w, "llm_call");
    p_text(&p, e->id);
    /* The id's row locked first: two daemons replacing one copy take turns,
     * and the second compares with the first's. */
    int rc = run(s->w, "replace lock", "SELECT 1 FROM event_ids WHERE id = $1 FOR UPDATE", &p, NULL);
    if (rc == TM_OK)
        rc = run(s->w, "replace lookup",
                 "SELECT " FACT_COLS ", e.seq FROM events e JOIN event_ids i ON i.id = e.id"
                 " AND i.ts = e.ts WHERE i.id = $1", &p, &res);
    if (rc == TM_OK && PQntuples(res) != 1)
        rc = tm__fail(TM_ECORRUPT, "store: event %s is in event_ids but not in events", e->id);
    if (rc == TM_OK)
        fact_of_row(res, 0, 0, llm, old);
    if (rc || old->has_latency || (e->has & TM_HAS_LATENCY) ||
        !tm__copy_larger(e->total_tokens, e->value_nano, old->total, old->value))
        goto out;
    p.n = 0;
    p_i64(&p, old->ts_us);
    p_i64(&p, i64(res, 0, 19));
    if ((rc = run(s->w, "replace event", "DELETE FROM events WHERE ts = $1 AND seq = $2", &p, NULL)))
        goto out;
    p.n = 0;
    p_text(&p, e->id);
    p_i64(&p, e->ts_us);
    if ((rc = run(s->w, "replace event", "UPDATE event_ids SET ts = $2 WHERE id = $1", &p, NULL)) == TM_OK)
        *replace = 1;
out:
    PQclear(res);
    return rc;
}

/* Binds e's NPARAM insert parameters (INS_VCOLS order) at the end of p. */
static void bind_event(params *p, const tm_event *e, const uint32_t ids[NDIMS])
{
    p_text(p, e->id);
    p_text(p, e->has & TM__HAS_GEN_ID ? "f" : "t");
    p_i64(p, e->ts_us);
    for (int d = 0; d < 7; d++) {
        if (ids[d])
            p_i64(p, ids[d]);
        else
            p_text(p, NULL);
    }
    p_text(p, e->session_id);
    p_text(p, e->resource_id);
    const int64_t v[8] = {e->value_nano, e->input_tokens, e->output_tokens, e->cache_read_tokens,
                          e->cache_write_tokens, e->cache_write_1h_tokens, e->reasoning_tokens,
                          e->total_tokens};
    for (int k = 0; k < 8; k++)
        p_i64(p, v[k]);
    if (e->has & TM_HAS_LATENCY)
        p_i64(p, e->latency_ns);
    else
        p_text(p, NULL);
    p_i64(p, e->success);
    if (e->has & TM_HAS_STATUS)
        p_i64(p, e->status_code);
    else
        p_text(p, NULL);
    p_text(p, e->error);
    p_i64(p, e->cache_hit);
    p_i64(p, e->cost_pusd);
    p_i64(p, e->cost_source);
    p_text(p, e->metadata);
    if (ids[7])
        p_i64(p, ids[7]);
    else
        p_text(p, NULL);
}

/* Events per chunk at most (a chunk also ends where a client id repeats). */
#define CHUNK 5000

/* Appends str to b as a field of COPY's text format (NULL: \N). */
static void copy_field(tm_buf *b, const char *str, int first)
{
    if (!first)
        tm__buf_putc(b, '\t');
    if (!str) {
        tm__buf_puts(b, "\\N");
        return;
    }
    for (; *str; str++) {
        const char *esc = *str == '\\' ? "\\\\" : *str == '\t' ? "\\t" : *str == '\n' ? "\\n"
                        : *str == '\r' ? "\\r" : NULL;
        if (esc)
            tm__buf_puts(b, esc);
        else
            tm__buf_putc(b, *str);
    }
}

/* Appends str to b as an element of an array literal: quoted, with " and
 * \ escaped. */
static void array_elem(tm_buf *b, const char *str, int first)
{
    tm__buf_puts(b, first ? "\"" : ",\"");
    for (; *str; str++) {
        if (*str == '"' || *str == '\\')
            tm__buf_putc(b, '\\');
        tm__buf_putc(b, *str);
    }
    tm__buf_putc(b, '"');
}

/* Sends data (lines of COPY's text format) with the COPY statement sql. */
static int copy_in(PGconn *c, const char *sql, const tm_buf *data, const char *what)
{
    if (!data->data)
        return data->len ? TM_ENOMEM : TM_OK;
    PGresult *res = PQexec(c, sql);
    int rc = PQresultStatus(res) == PGRES_COPY_IN ? TM_OK : pgfail(c, res, what);
    PQclear(res);
    if (rc)
        return rc;
    for (size_t off = 0; off < data->len && rc == TM_OK; off += 1 << 20) {
        size_t n = data->len - off < (1u << 20) ? data->len - off : 1u << 20;
        if (PQputCopyData(c, data->data + off, (int)n) != 1)
            rc = pgfail(c, NULL, what);
    }
    if (PQputCopyEnd(c, NULL) != 1 && rc == TM_OK)
        rc = pgfail(c, NULL, what);
    while ((res = PQgetResult(c))) {
        if (rc == TM_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pgfail(c, res, what);
        PQclear(res);
    }
    return rc;
}

/* Stores evs[from, to), whose client ids are all different: the client
 * ids are first claimed in event_ids in one statement, in order (a claim
 * of an id another daemon's open transaction claimed waits for it, then
 * is skipped; two daemons sending the same ids wait for each other in one
 * order, not in a cycle); the claimed ones and the generated ids are then
 * copied into events. dup[i] = 1 for the rest. */
static int insert_chunk(pg_store *s, tm_event *const *evs, uint32_t (*ids)[NDIMS], size_t from,
                        size_t to, unsigned char *dup)
{
    tm_buf aid = TM_BUF_INIT, ats = TM_BUF_INIT, rows = TM_BUF_INIT;
    tm_strmap stored = TM_STRMAP_INIT;
    PGresult *res = NULL;
    int rc = TM_OK, nclaim = 0;
    tm__buf_putc(&aid, '{');
    tm__buf_putc(&ats, '{');
    for (size_t i = from; i < to; i++)
        if (!(evs[i]->has & TM__HAS_GEN_ID)) {
            array_elem(&aid, evs[i]->id, nclaim == 0);
            tm__buf_printf(&ats, "%s%lld", nclaim++ ? "," : "", (long long)evs[i]->ts_us);
        }
    tm__buf_putc(&aid, '}');
    if (tm__buf_putc(&ats, '}') != TM_OK || !aid.data)
        rc = TM_ENOMEM;
    if (rc == TM_OK && nclaim) {
        params p = {(const char *[]){aid.data, ats.data}, NULL, 2};
        rc = run(s->w, "claim ids", "INSERT INTO event_ids(id, ts) SELECT * FROM unnest($1::text[],"
                 " $2::bigint[]) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING id", &p, &res);
    }
    for (int row = 0; rc == TM_OK && res && row < PQntuples(res); row++)
        rc = tm__strmap_put(&stored, PQgetvalue(res, row, 0), 1);
    for (size_t i = from; rc == TM_OK && i < to; i++) {
        int64_t one;
        dup[i] = !(evs[i]->has & TM__HAS_GEN_ID) && !tm__strmap_get(&stored, evs[i]->id, &one);
        if (dup[i])
            continue;
        PARAMS(p, NPARAM);
        bind_event(&p, evs[i], ids[i]);
        for (int c = 0; c < NPARAM; c++)
            copy_field(&rows, p.v[c], c == 0);
        rc = tm__buf_putc(&rows, '\n');
    }
    if (rc == TM_OK)
        rc = copy_in(s->w, "COPY events(" INS_VCOLS ") FROM STDIN", &rows, "insert events");
    PQclear(res);
    tm__strmap_clear(&stored);
    tm__buf_free(&aid);
    tm__buf_free(&ats);
    tm__buf_free(&rows);
    return rc;
}

/* Stores evs[from, to) (see insert_chunk), then replaces each stored
 * smaller copy that a repeat asked to replace; adds every stored fact (and
 * takes each replaced one away) to cells. */
static int store_chunk(pg_store *s, tm_event *const *evs, uint32_t (*ids)[NDIMS], size_t from,
                       size_t to, unsigned char *dup, tm_cellset *cells, int64_t *added)
{
    int rc = insert_chunk(s, evs, ids, from, to, dup);
    for (size_t i = from; i < to && rc == TM_OK; i++) {
        const tm_event *e = evs[i];
        tm_fact f, old;
        int replace = 0;
        if (dup[i] && (e->has & TM__HAS_REPLACE) &&
            (rc = try_replace(s, e, &old, &replace)) == TM_OK && replace) {
            PARAMS(p, NPARAM);
            bind_event(&p, e, ids[i]);
            rc = run(s->w, "insert event", "INSERT INTO events(" INS_COLS ") SELECT"
                     " nextval('events_seq'), $1, $2::boolean, $3::bigint, $4::int, $5::int,"
                     " $6::int, $7::int, $8::int, $9::int, $10::int, $11, $12, $13::bigint,"
                     " $14::bigint, $15::bigint, $16::bigint, $17::bigint, $18::bigint,"
                     " $19::bigint, $20::bigint, $21::bigint, $22::smallint, $23::int, $24,"
                     " $25::smallint, $26::bigint, $27::smallint, $28, $29::int", &p, NULL);
            dup[i] = 2;
        }
        if (rc || dup[i] == 1)
            continue;
        uint32_t fd[TM_NDIM] = {ids[i][0], ids[i][1], ids[i][4], ids[i][2], ids[i][3], ids[i][5],
                                e->success ? 2u : 1u, ids[i][7]};
        tm__fact_of_event(e, fd, &f);
        *added += dup[i] == 0;
        rc = tm__rollup_add_fact(cells, &f, 1);
        if (rc == TM_OK && dup[i] == 2)
            rc = tm__rollup_add_fact(cells, &old, -1);
    }
    return rc;
}

/* One try at storing evs (ids: their dict ids) in one transaction. */
static int append_txn(pg_store *s, tm_event *const *evs, size_t n, uint32_t (*ids)[NDIMS],
                      unsigned char *dup, tm_cellset *cells, int64_t *commit)
{
    int64_t added = 0;
    int rc = begin_maint(s->w, 0);
    /* Chunks end where a client id repeats, so the repeat sees the first. */
    tm_strmap seen = TM_STRMAP_INIT;
    size_t from = 0;
    for (size_t i = 0; i <= n && rc == TM_OK; i++) {
        int64_t one;
        int client = i < n && !(evs[i]->has & TM__HAS_GEN_ID);
        if (i == n || i - from == CHUNK || (client && tm__strmap_get(&seen, evs[i]->id, &one))) {
            if (i > from)
                rc = store_chunk(s, evs, ids, from, i, dup, cells, &added);
            tm__strmap_clear(&seen);
            from = i;
        }
        if (rc == TM_OK && client)
            rc = tm__strmap_put(&seen, evs[i]->id, 1);
    }
    tm__strmap_clear(&seen);
    if (rc == TM_OK)
        rc = log_cells(s->w, cells);
    return rc || added == 0 ? (*commit = 0, end_txn(s->w, rc)) : count_and_commit(s->w, added, commit);
}

static int pg_append(tm_store *base, tm_event *const *evs, size_t n, unsigned char *dup,
                     tm_cellset *cells, int64_t *version, int64_t *commit)
{
    pg_store *s = (pg_store *)base;
    int rc = TM_OK;
    *version = -1; /* the rollups read this commit through load_changes */
    *commit = 0;
    if ((rc = revive(s, s->w)))
        return rc;
    uint32_t(*ids)[NDIMS] = calloc(n ? n : 1, sizeof *ids);
    if (!ids)
        return TM_ENOMEM;
    /* Before the transaction: names and partitions. */
    rc = intern_batch(s, evs, n);
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        const tm_event *e = evs[i];
        const char *dims[NDIMS] = {e->provider, e->model, e->endpoint, e->operation,
                                   e->user_id, e->metric_type, e->resource_type, e->project};
        for (int d = 0; d < NDIMS && rc == TM_OK; d++) {
            int64_t id = 0;
            if (dims[d] && (rc = intern(s, dims[d], &id)) == TM_OK)
                ids[i][d] = (uint32_t)id;
        }
        if (rc == TM_OK)
            rc = ensure_month(s, month_of(e->ts_us));
    }
    /* A deadlock or serialization failure (TM_EBUSY) rolled it all back:
     * try again from scratch. */
    for (int attempt = 0; rc == TM_OK; attempt++) {
        rc = append_txn(s, evs, n, ids, dup, cells, commit);
        if (rc != TM_EBUSY || attempt == RETRIES)
            break;
        memset(dup, 0, n);
        tm__cellset_free(cells);
        *commit = 0;
        rc = TM_OK;
    }
    free(ids);
    if (rc == TM_OK && (++s->commits >= FOLD_EVERY || (s->logged += cells->n) >= FOLD_MAX)) {
        s->commits = 0;
        s->logged = 0;
        pthread_mutex_lock(&s->fmu);
        s->fold_due = 1;
        pthread_cond_signal(&s->fcv);
        pthread_mutex_unlock(&s->fmu);
    }
    return rc;
}

/* ---- reading ---- */


static void row_to_event(const PGresult *r, int row, tm_event *e)
{
    tm_event_init(e);
    e->seq = i64(r, row, 0);
    e->id = txt(r, row, 1);
    e->ts_us = i64(r, row, 2);
    e->provider = txt(r, row, 3);
    e->model = txt(r, row, 4);
    e->endpoint = txt(r, row, 5);
    e->operation = txt(r, row, 6);
    e->user_id = txt(r, row, 7);
    e->session_id = txt(r, row, 8);
    e->metric_type = txt(r, row, 9);
    e->value_nano = i64(r, row, 10);
    e->resource_type = txt(r, row, 11);
    e->resource_id = txt(r, row, 12);
    e->input_tokens = i64(r, row, 13);
    e->output_tokens = i64(r, row, 14);
    e->cache_read_tokens = i64(r, row, 15);
    e->cache_write_tokens = i64(r, row, 16);
    e->cache_write_1h_tokens = i64(r, row, 17);
    e->reasoning_tokens = i64(r, row, 18);
    e->total_tokens = i64(r, row, 19);
    e->has = TM_HAS_TS | TM_HAS_VALUE | TM_HAS_TOKENS | TM_HAS_TOTAL | TM_HAS_SUCCESS |
             TM_HAS_CACHE_HIT;
    if (!PQgetisnull(r, row, 20)) {
        e->latency_ns = i64(r, row, 20);
        e->has |= TM_HAS_LATENCY;
    }
    e->success = (int)i64(r, row, 21);
    if (!PQgetisnull(r, row, 22)) {
        e->status_code = (int)i64(r, row, 22);
        e->has |= TM_HAS_STATUS;
    }
    e->error = txt(r, row, 23);
    e->cache_hit = (int)i64(r, row, 24);
    e->cost_pusd = i64(r, row, 25);
    e->cost_source = (int)i64(r, row, 26);
    if (e->cost_source == TM_COST_REPORTED)
        e->has |= TM_HAS_COST;
    e->metadata = txt(r, row, 27);
    e->project = txt(r, row, 28);
}

/* Calls fn(arg, cell, 0) for each row of res (ROLL_KEY, then ROLL_COLS). */
static int each_cell(const PGresult *res, int (*fn)(void *, const tm_cell *, int64_t), void *arg)
{
    int rc = TM_OK;
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++) {
        tm_cell c;
        memset(&c, 0, sizeof c);
        key_of_row(res, row, &c.key);
        sums_of_row(res, row, 9, &c.s);
        rc = sketch_of_col(res, row, 23, &c.sk);
        if (rc == TM_OK)
            rc = fn(arg, &c, 0);
        tm__sketch_free(&c.sk);
    }
    return rc;
}

/* Rows come in pages so a large scan holds one page in memory. */
#define PAGE 5000

static int pg_scan(tm_store *base, const tm_event_filter *f, int (*fn)(void *, const tm_event *),
                   void *arg)
{
    pg_store *s = (pg_store *)base;
    int rc = TM_OK;
    int64_t until = f && f->until_us ? f->until_us : INT64_MAX, last_seq = INT64_MIN;
    int64_t left = f && f->limit ? (int64_t)f->limit : INT64_MAX;
    pgreader *rd = take(s, SCAN);
    /* Keyset pages, newest first: (ts, seq) below the last row seen (at
     * first below (until, -inf), i.e. ts < until). */
    while (rc == TM_OK && left > 0) {
        PARAMS(p, 12);
        PGresult *res = NULL;
        p_text(&p, f ? f->user_id : NULL);
        p_text(&p, f ? f->provider : NULL);
        p_i64(&p, f && f->since_us ? f->since_us : INT64_MIN);
        p_i64(&p, until);
        p_i64(&p, last_seq);
        p_i64(&p, left < PAGE ? left : PAGE);
        rc = run(rd->c, "scan",
                 EVENT_COLS EVENT_FROM
                 " WHERE ($1::text IS NULL OR e.user_id = (SELECT id FROM dict WHERE s = $1))"
                 " AND ($2::text IS NULL OR e.provider = (SELECT id FROM dict WHERE s = $2))"
                 " AND e.ts >= $3::bigint AND (e.ts, e.seq) < ($4::bigint, $5::bigint)"
                 " ORDER BY e.ts DESC, e.seq DESC LIMIT $6::bigint",
                 &p, &res);
        int rows = rc == TM_OK ? PQntuples(res) : 0;
        for (int i = 0; i < rows && rc == TM_OK; i++) {
            tm_event e;
            row_to_event(res, i, &e);
            rc = fn(arg, &e);
        }
        if (rows) {
            until = i64(res, rows - 1, 2);
            last_seq = i64(res, rows - 1, 0);
        }
        left -= rows;
        PQclear(res);
        if (rows < PAGE)
            break;
    }
    give(rd);
    return rc;
}

static int pg_reprice(tm_store *base, int64_t since, int64_t until, int (*fn)(void *, tm_event *),
                      void *arg, int64_t *examined, int64_t *changed, __int128 *delta)
{
    pg_store *s = (pg_store *)base;
    PGresult *sel = NULL;
    tm_cellset deltas = {0};
    *examined = *changed = 0;
    *delta = 0;
    int rc = revive(s, s->w);
    if (rc == TM_OK)
        rc = begin_maint(s->w, 1);
    int64_t llm = dict_lookup(s->w, "llm_call");
    PARAMS(p, 12);
    p_i64(&p, since ? since : INT64_MIN);
    p_i64(&p, until ? until : INT64_MAX);
    if (rc == TM_OK)
        rc = run(s->w, "reprice scan", EVENT_COLS ", " FACT_COLS EVENT_FROM
                 " WHERE e.ts >= $1::bigint AND e.ts < $2::bigint AND e.cost_source != 2", &p, &sel);
    for (int row = 0; rc == TM_OK && row < PQntuples(sel); row++) {
        tm_event e;
        row_to_event(sel, row, &e);
        int64_t old = e.cost_pusd;
        int old_source = e.cost_source;
        ++*examined;
        if ((rc = fn(arg, &e)))
            break;
        if (e.cost_pusd == old && e.cost_source == old_source)
            continue;
        PARAMS(u, 12);
        p_i64(&u, e.cost_pusd);
        p_i64(&u, e.cost_source);
        p_i64(&u, e.ts_us);
        p_i64(&u, e.seq);
        rc = run(s->w, "update cost", "UPDATE events SET cost_pusd = $1::bigint, cost_source ="
                 " $2::smallint WHERE ts = $3::bigint AND seq = $4::bigint", &u, NULL);
        ++*changed;
        *delta += (__int128)e.cost_pusd - old;
        tm_fact f;
        fact_of_row(sel, row, EVENT_NCOLS, llm, &f);
        if (rc == TM_OK)
            rc = tm__rollup_add_cost_delta(&deltas, &f, old, old_source, e.cost_pusd, e.cost_source);
    }
    if (rc == TM_OK)
        rc = log_cells(s->w, &deltas);
    rc = end_txn(s->w, rc);
    tm__cellset_free(&deltas);
    PQclear(sel);
    return rc;
}

/* The in-memory projections' cells: proj < TM_NPROJ, the user
 * projection's only with users. */
#define MEM_CELLS(users) ((users) ? " WHERE proj < 3" : " WHERE proj < 3 AND proj != 2")

/* Reads the cells for the in-memory rollups in one REPEATABLE READ
 * snapshot, taken as a new version: with from, only the log rows
 * committed since version from's snapshot (TM_ENOTFOUND when they cannot
 * be told: that snapshot is no longer kept, retention ran or a fold passed
 * it); else every folded and logged cell, fn first told their number. */
static int read_cells(pg_store *s, int64_t since, int users, int (*fn)(void *, const tm_cell *, int64_t),
                      void *arg, int64_t *version)
{
    PGresult *res = NULL;
    char *from = NULL, *xip = NULL;
    int whole = 0;
    tm_buf sql = TM_BUF_INIT;
    pgreader *rd = take(s, SCAN);
    int rc = exec(rd->c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc == TM_OK) {
        pthread_mutex_lock(&s->vmu);
        const struct vsnap *v = since ? snap_of(s, since) : NULL;
        if (since && !v)
            rc = TM_ENOTFOUND;
        else if (since && !(from = strdup(v->snap)))
            rc = TM_ENOMEM;
        if (rc == TM_OK)
            rc = take_version(s, rd->c, v, &whole);
        *version = s->version;
        pthread_mutex_unlock(&s->vmu);
    }
    if (rc == TM_OK && whole)
        rc = TM_ENOTFOUND;
    if (rc)
        goto out;
    PARAMS(p, 4);
    char xmin[24] = "0", xmax[24] = "0";
    if (from) {
        xip = malloc(strlen(from) + 3);
        if (!xip || (rc = exec(rd->c, "index only", "SET LOCAL enable_seqscan = off"))) {
            rc = rc ? rc : TM_ENOMEM;
            goto out;
        }
        snap_params(from, xmin, xmax, xip, &p);
        tm__buf_printf(&sql, "SELECT " ROLL_KEY ", " ROLL_COLS " FROM rollup_log%s AND"
                       " $1::bigint >= 0 AND (xid >= $2::xid8 OR xid = ANY($3::xid8[]))", MEM_CELLS(users));
    } else {
        tm__buf_printf(&sql, "SELECT " ROLL_KEY ", " ROLL_COLS " FROM rollup%s UNION ALL"
                       " SELECT " ROLL_KEY ", " ROLL_COLS " FROM rollup_log%s", MEM_CELLS(users),
                       MEM_CELLS(users));
    }
    if (!sql.data)
        rc = TM_ENOMEM;
    if (rc == TM_OK)
        rc = run(rd->c, "read rollups", sql.data, &p, &res);
    if (rc == TM_OK && !from)
        rc = fn(arg, NULL, PQntuples(res));
    if (rc == TM_OK)
        rc = each_cell(res, fn, arg);
out:
    PQclear(res);
    PQclear(PQexec(rd->c, "COMMIT")); /* read only: its failure would hide rc's reason */
    give(rd);
    free(from);
    free(xip);
    tm__buf_free(&sql);
    return rc;
}

static int pg_load_rollups(tm_store *base, int users, int (*fn)(void *, const tm_cell *, int64_t),
                           void *arg, int64_t *version)
{
    return read_cells((pg_store *)base, 0, users, fn, arg, version);
}

static int pg_load_changes(tm_store *base, int64_t since, int users,
                           int (*fn)(void *, const tm_cell *, int64_t), void *arg, int64_t *version)
{
    return since > 0 ? read_cells((pg_store *)base, since, users, fn, arg, version) : TM_ENOTFOUND;
}

static int cell_to_fn(void *arg, const tm_cell *c, int64_t count)
{
    int (**fn)(void *, const tm_cell *) = ((void **)arg)[0];
    (void)count;
    return (*fn)(((void **)arg)[1], c);
}

static int pg_scan_user_cells(tm_store *base, int proj, const uint32_t *users, size_t nusers,
                              int32_t h0, int32_t h1, int (*fn)(void *, const tm_cell *), void *arg)
{
    pg_store *s = (pg_store *)base;
    tm_buf sql = TM_BUF_INIT;
    PGresult *res = NULL;
    int rc = TM_OK;
    if (!nusers)
        return TM_OK;
    /* The folded rows and the logged ones, in one statement's snapshot. */
    for (int t = 0; t < 2; t++) {
        tm__buf_printf(&sql, "%sSELECT " ROLL_KEY ", " ROLL_COLS " FROM %s WHERE proj = %d AND hour >= %d"
                             " AND hour < %d AND d2 IN (", t ? " UNION ALL " : "", t ? "rollup_log" : "urollup",
                       proj, (int)h0, (int)h1);
        for (size_t i = 0; i < nusers; i++)
            tm__buf_printf(&sql, "%s%u", i ? "," : "", users[i]);
        tm__buf_putc(&sql, ')');
    }
    if (!sql.data) {
        tm__buf_free(&sql);
        return TM_ENOMEM;
    }
    void *pair[2] = {&fn, arg};
    pgreader *rd = take(s, SCAN);
    rc = run(rd->c, "read user cells", sql.data, NULL, &res);
    if (rc == TM_OK)
        rc = each_cell(res, cell_to_fn, pair);
    PQclear(res);
    give(rd);
    tm__buf_free(&sql);
    return rc;
}

/* One number on the short-lookup reader. */
static int meta_value(tm_store *base, const char *sql, int64_t *out)
{
    pg_store *s = (pg_store *)base;
    pgreader *rd = take(s, QUICK);
    int rc = query_int(rd->c, sql, NULL, out);
    give(rd);
    return rc;
}

/* The current version: a new one when a log row was committed since the
 * last one's snapshot, or retention or a fold ran (one indexed query,
 * which also tells the step's commits: pg_commits). */
static int pg_version(tm_store *base, int64_t *out)
{
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->vmu);
    pgreader *rd = take(s, QUICK);
    int rc = step(s, rd->c, 0, NULL, NULL);
    give(rd);
    *out = s->version;
    pthread_mutex_unlock(&s->vmu);
    return rc;
}

static int pg_commits(tm_store *base, int64_t v, int64_t *ids, size_t *n, int64_t *horizon)
{
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->vmu);
    const struct vsnap *x = snap_of(s, v);
    int rc = x && x->known ? TM_OK : TM_ENOTFOUND;
    *n = 0;
    *horizon = x ? x->xmin : 0;
    for (int i = 0; rc == TM_OK && i < x->nids; i++)
        ids[(*n)++] = x->ids[i];
    pthread_mutex_unlock(&s->vmu);
    return rc;
}

static int pg_scan_facts(tm_store *base, int64_t from, int64_t to, const uint32_t *users,
                         size_t nusers, int (*fn)(void *, const tm_fact *), void *arg)
{
    pg_store *s = (pg_store *)base;
    tm_buf sql = TM_BUF_INIT;
    PGresult *res = NULL;
    int rc = TM_OK;
    pgreader *rd = take(s, SCAN);
    int64_t llm = dict_lookup(rd->c, "llm_call");
    if ((rc = tm__sql_scan_facts(&sql, "$1::bigint", "$2::bigint", users, nusers)))
        goto out;
    PARAMS(p, 12);
    p_i64(&p, from);
    p_i64(&p, to);
    if ((rc = run(rd->c, "scan events", sql.data, &p, &res)))
        goto out;
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++) {
        tm_fact f;
        fact_of_row(res, row, 0, llm, &f);
        rc = fn(arg, &f);
    }
out:
    PQclear(res);
    tm__buf_free(&sql);
    give(rd);
    return rc;
}

/* Keeps id's name in the readers' dictionary cache (best effort). nmu held. */
static void remember(pg_store *s, uint32_t id, const char *name)
{
    if (id >= s->capnames) {
        size_t cap = s->capnames ? s->capnames : 256;
        while (cap <= id)
            cap *= 2;
        char **more = realloc(s->names, cap * sizeof *more);
        if (!more)
            return;
        memset(more + s->capnames, 0, (cap - s->capnames) * sizeof *more);
        s->names = more;
        s->capnames = cap;
    }
    if (!s->names[id] && (s->names[id] = strdup(name)) && tm__strmap_put(&s->rdict, name, id)) {
        free(s->names[id]);
        s->names[id] = NULL;
    }
}

static int pg_dict_id(tm_store *base, const char *name, uint32_t *id)
{
    pg_store *s = (pg_store *)base;
    int64_t got = 0;
    pthread_mutex_lock(&s->nmu);
    int hit = tm__strmap_get(&s->rdict, name, &got);
    pthread_mutex_unlock(&s->nmu);
    if (!hit) { /* 0 (never stored) is asked again: another daemon may store it */
        pgreader *rd = take(s, QUICK);
        got = dict_lookup(rd->c, name);
        give(rd);
        pthread_mutex_lock(&s->nmu);
        if (got > 0)
            remember(s, (uint32_t)got, name);
        pthread_mutex_unlock(&s->nmu);
    }
    *id = (uint32_t)got;
    return TM_OK;
}

static int pg_dict_name(tm_store *base, uint32_t id, char *buf, size_t cap)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    int rc = TM_OK;
    pthread_mutex_lock(&s->nmu);
    int hit = id < s->capnames && s->names[id];
    if (hit)
        snprintf(buf, cap, "%s", s->names[id]);
    pthread_mutex_unlock(&s->nmu);
    if (hit)
        return TM_OK;
    PARAMS(p, 12);
    p_i64(&p, id);
    pgreader *rd = take(s, QUICK);
    rc = run(rd->c, "dict", "SELECT s FROM dict WHERE id = $1::int", &p, &res);
    give(rd);
    if (rc == TM_OK && PQntuples(res) == 1) {
        snprintf(buf, cap, "%s", PQgetvalue(res, 0, 0));
        pthread_mutex_lock(&s->nmu);
        remember(s, id, PQgetvalue(res, 0, 0));
        pthread_mutex_unlock(&s->nmu);
    } else if (rc == TM_OK) {
        rc = TM_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

static int pg_count(tm_store *base, int64_t *out)
{
    return meta_value(base, "SELECT COALESCE(SUM(events), 0) FROM counts", out);
}

/* A rollup table's cells with the logged ones (verify's sums). */
#define PG_CELLS(t) "(SELECT proj, events, cost_pusd, total_tokens FROM " t \
    " UNION ALL SELECT proj, events, cost_pusd, total_tokens FROM rollup_log) c"

static int pg_verify(tm_store *base, void (*fn)(void *, const char *), void *arg)
{
    pg_store *s = (pg_store *)base;
    char line[512];
    int rc = TM_OK, failed = 0;
    static const struct { const char *sql, *ok, *fail; } checks[] = {
        {CHECK_IDS, CHECK_IDS_OK, CHECK_IDS_FAIL},
        {"SELECT (SELECT COUNT(*) FROM events e WHERE client AND NOT EXISTS"
         " (SELECT 1 FROM event_ids i WHERE i.id = e.id AND i.ts = e.ts))"
         " + (SELECT COUNT(*) FROM event_ids i WHERE NOT EXISTS"
         " (SELECT 1 FROM events e WHERE e.id = i.id AND e.ts = i.ts))",
         "ok   dedup: every client id is in the dedup table with its event",
         "FAIL dedup: %lld client ids and dedup entries disagree"},
        {"SELECT (SELECT COUNT(*) FROM events) - (SELECT COALESCE(SUM(events), 0) FROM counts)",
         "ok   counts: the event counter equals the rows",
         "FAIL counts: rows and the event counter differ by %lld"},
        {CHECK_ROLLUPS_IN(PG_CELLS("rollup")), CHECK_ROLLUPS_OK, CHECK_ROLLUPS_FAIL},
        {CHECK_USER_ROLLUPS_IN(PG_CELLS("rollup"), PG_CELLS("urollup")), CHECK_USER_ROLLUPS_OK,
         CHECK_USER_ROLLUPS_FAIL},
        {"SELECT COUNT(*) FROM events e WHERE"
         " total_tokens < input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
         " OR reasoning_tokens > output_tokens OR cache_write_1h_tokens > cache_write_tokens"
         " OR least(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
         "        value, cost_pusd) < 0",
         "ok   tokens: every event's buckets and total agree",
         "FAIL tokens: %lld events have inconsistent token counts"},
        {CHECK_NAMES, CHECK_NAMES_OK, CHECK_NAMES_FAIL},
    };
    pgreader *rd = take(s, SCAN);
    /* One snapshot for all the checks: other daemons may be writing. */
    if ((rc = exec(rd->c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")))
        goto out;
    int64_t v = 0;
    if ((rc = query_int(rd->c, "SELECT version FROM tm_schema", NULL, &v)))
        goto out;
    snprintf(line, sizeof line, "ok   schema: PostgreSQL store at schema version %lld", (long long)v);
    fn(arg, line);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if ((rc = query_int(rd->c, checks[i].sql, NULL, &v)))
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
    PQclear(PQexec(rd->c, "COMMIT")); /* read only: its failure would hide rc's reason */
    give(rd);
    if (rc == TM_OK && failed)
        rc = tm__fail(TM_ECORRUPT, "verify: the store failed a check");
    return rc;
}

static int pg_alert_put(tm_store *base, const tm_alert_entry *e)
{
    pg_store *s = (pg_store *)base;
    int rc = revive(s, s->w);
    if (rc)
        return rc;
    PARAMS(p, 8);
    p_i64(&p, e->ts_us);
    p_text(&p, e->rule);
    p_text(&p, e->key);
    p_text(&p, e->state);
    p_text(&p, e->value);
    p_text(&p, e->threshold);
    p_text(&p, e->body);
    rc = exec(s->w, "begin", "BEGIN");
    if (rc == TM_OK)
        rc = run(s->w, "copy alert", "INSERT INTO alert_events(ts, rule, key, state, value, threshold, body)"
                 " VALUES($1::bigint, $2, $3, $4, $5, $6, $7)", &p, NULL);
    p.n = 5;
    if (rc == TM_OK)
        rc = run(s->w, "copy alert", "INSERT INTO alert_state(rule, key, firing, value, since)"
                 " VALUES($2, $3, ($4 = 'firing')::int, $5, $1::bigint) ON CONFLICT (rule, key) DO UPDATE"
                 " SET firing = EXCLUDED.firing, value = EXCLUDED.value, since = EXCLUDED.since", &p, NULL);
    return end_txn(s->w, rc);
}

static int pg_user_list(tm_store *base, int (*fn)(void *, const char *, const char *, const char *, int64_t),
                        void *arg)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    pgreader *rd = take(s, SCAN);
    int rc = run(rd->c, "read users", "SELECT id, tier, overrides, updated FROM users ORDER BY id", NULL, &res);
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++)
        rc = fn(arg, txt(res, row, 0), txt(res, row, 1), txt(res, row, 2), i64(res, row, 3));
    PQclear(res);
    give(rd);
    return rc;
}

/* Drops the month partitions wholly before before_us, deletes the rest of
 * the older events, their dedup entries and their hours' rollup cells. */
static int pg_retain(tm_store *base, int64_t before_us, int64_t *deleted)
{
    pg_store *s = (pg_store *)base;
    PGresult *parts = NULL;
    PARAMS(p, 4);
    p_i64(&p, before_us);
    *deleted = 0;
    char fl[64];
    snprintf(fl, sizeof fl, "SELECT pg_advisory_xact_lock(%lld)", LOCK_FOLD);
    int rc = revive(s, s->w);
    if (rc == TM_OK)
        rc = begin_maint(s->w, 1);
    if (rc == TM_OK)
        rc = exec(s->w, "fold lock", fl);
    if (rc == TM_OK)
        rc = query_int(s->w, "SELECT COUNT(*) FROM events WHERE ts < $1::bigint", &p, deleted);
    if (rc == TM_OK)
        rc = run(s->w, "partitions", "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                 " WHERE i.inhparent = 'events'::regclass", NULL, &parts);
    for (int row = 0; rc == TM_OK && row < PQntuples(parts); row++) {
        int y = 0, mo = 0;
        const char *name = PQgetvalue(parts, row, 0);
        if (sscanf(name, "events_p%4d%2d", &y, &mo) != 2)
            continue;
        int32_t m = (int32_t)((y - 1970) * 12 + mo - 1);
        if (month_start(m + 1) > before_us)
            continue;
        char sql[96];
        snprintf(sql, sizeof sql, "DROP TABLE %s", name);
        rc = exec(s->w, "drop partition", sql);
    }
    if (rc == TM_OK)
        rc = run(s->w, "delete events", "DELETE FROM events WHERE ts < $1::bigint", &p, NULL);
    if (rc == TM_OK)
        rc = run(s->w, "delete ids", "DELETE FROM event_ids WHERE ts < $1::bigint", &p, NULL);
    p.n = 0;
    p_i64(&p, before_us / 3600000000LL);
    if (rc == TM_OK)
        rc = run(s->w, "delete rollups", "DELETE FROM rollup WHERE hour < $1::bigint", &p, NULL);
    if (rc == TM_OK) /* the per-user day cells: the cut is a day's first hour or later */
        rc = run(s->w, "delete rollups", "DELETE FROM urollup WHERE hour < $1::bigint", &p, NULL);
    if (rc == TM_OK)
        rc = run(s->w, "delete rollups", "DELETE FROM rollup_log WHERE hour < $1::bigint", &p, NULL);
    if (rc == TM_OK)
        rc = add_count(s->w, -*deleted);
    if (rc == TM_OK) /* every daemon's rollups reload */
        rc = exec(s->w, "epoch", "UPDATE tm_meta SET value = value + 1 WHERE key = 'epoch'");
    rc = end_txn(s->w, rc);
    PQclear(parts);
    s->nmonths = 0; /* a later event for a dropped month recreates it */
    if (rc)
        *deleted = 0;
    return rc;
}

static int pg_set_cache(tm_store *base, size_t kib)
{
    (void)base, (void)kib; /* the server's shared_buffers decide */
    return TM_OK;
}

/* ---- metadata ---- */

static int pg_key_put(tm_store *base, const tm_key_rec *k)
{
    pg_store *s = (pg_store *)base;
    int rc = revive(s, s->w);
    if (rc)
        return rc;
    char hex[2 * sizeof k->hash + 3] = "\\x";
    for (size_t i = 0; i < sizeof k->hash; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", k->hash[i]);
    PARAMS(p, 12);
    p_text(&p, k->id);
    p_text(&p, hex);
    p_text(&p, k->scope);
    p_text(&p, k->user[0] ? k->user : NULL);
    p_text(&p, k->name[0] ? k->name : NULL);
    p_i64(&p, k->created_us);
    return run(s->w, "store key", "INSERT INTO keys(id, hash, scope, user_id, name, created)"
                                  " VALUES($1, $2::bytea, $3, $4, $5, $6::bigint)", &p, NULL);
}

static int pg_key_list(tm_store *base, const char *id, int (*fn)(void *, const tm_key_rec *), void *arg)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    PARAMS(p, 12);
    p_text(&p, id);
    pgreader *rd = take(s, QUICK);
    int rc = run(rd->c, "read keys", "SELECT id, hash, scope, user_id, name, created, revoked FROM keys"
                                    " WHERE $1::text IS NULL OR id = $1 ORDER BY created", &p, &res);
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++) {
        tm_key_rec k;
        memset(&k, 0, sizeof k);
        snprintf(k.id, sizeof k.id, "%s", PQgetvalue(res, row, 0));
        size_t n = 0;
        unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 1), &n);
        if (h && n == sizeof k.hash)
            memcpy(k.hash, h, sizeof k.hash);
        PQfreemem(h);
        snprintf(k.scope, sizeof k.scope, "%s", PQgetvalue(res, row, 2));
        snprintf(k.user, sizeof k.user, "%s", PQgetvalue(res, row, 3));
        snprintf(k.name, sizeof k.name, "%s", PQgetvalue(res, row, 4));
        k.created_us = i64(res, row, 5);
        k.revoked_us = i64(res, row, 6);
        rc = fn(arg, &k);
    }
    PQclear(res);
    give(rd);
    return rc;
}

static int pg_key_revoke(tm_store *base, const char *id, int64_t now_us, int *found)
{
    pg_store *s = (pg_store *)base;
    *found = 0;
    int rc = revive(s, s->w);
    if (rc)
        return rc;
    PGresult *res = NULL;
    PARAMS(p, 12);
    p_text(&p, id);
    p_i64(&p, now_us);
    rc = run(s->w, "revoke key", "UPDATE keys SET revoked = $2::bigint WHERE id = $1 AND revoked IS NULL",
                 &p, &res);
    *found = rc == TM_OK && atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    return rc;
}

static int pg_user_put(tm_store *base, const char *id, const char *tier, const char *overrides,
                       int64_t now_us)
{
    pg_store *s = (pg_store *)base;
    int rc = revive(s, s->w);
    if (rc)
        return rc;
    PARAMS(p, 12);
    p_text(&p, id);
    p_text(&p, tier);
    p_text(&p, overrides);
    p_i64(&p, now_us);
    return run(s->w, "store user", "INSERT INTO users(id, tier, overrides, updated) VALUES($1, $2, $3,"
               " $4::bigint) ON CONFLICT (id) DO UPDATE SET tier = EXCLUDED.tier,"
               " overrides = EXCLUDED.overrides, updated = EXCLUDED.updated", &p, NULL);
}

static int pg_user_get(tm_store *base, const char *id, char *tier, size_t tcap, char **overrides)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    PARAMS(p, 12);
    p_text(&p, id);
    *overrides = NULL;
    tier[0] = '\0';
    pgreader *rd = take(s, QUICK);
    int rc = run(rd->c, "read user", "SELECT tier, overrides FROM users WHERE id = $1", &p, &res);
    if (rc == TM_OK && PQntuples(res) == 0)
        rc = TM_ENOTFOUND;
    if (rc == TM_OK) {
        snprintf(tier, tcap, "%s", PQgetvalue(res, 0, 0));
        if (txt(res, 0, 1) && !(*overrides = strdup(txt(res, 0, 1))))
            rc = TM_ENOMEM;
    }
    PQclear(res);
    give(rd);
    return rc;
}

static int pg_alert_set(tm_store *base, const tm_alert_change *chs, size_t n, int64_t now_us)
{
    pg_store *s = (pg_store *)base;
    int rc = revive(s, s->w);
    if (rc == TM_OK)
        rc = exec(s->w, "begin", "BEGIN");
    for (size_t i = 0; rc == TM_OK && i < n; i++) {
        tm_alert_change *c = (tm_alert_change *)&chs[i];
        PARAMS(p, 12);
        int64_t was = 0;
        p_text(&p, c->rule);
        p_text(&p, c->key);
        /* FOR UPDATE: two daemons evaluating together record one transition. */
        if ((rc = query_int(s->w, "SELECT firing FROM alert_state WHERE rule = $1 AND key = $2 FOR UPDATE",
                            &p, &was)))
            break;
        c->changed = was != c->firing;
        if (!c->changed)
            continue;
        p_i64(&p, c->firing);
        p_text(&p, c->value);
        p_i64(&p, now_us);
        if ((rc = run(s->w, "alert state", "INSERT INTO alert_state(rule, key, firing, value, since)"
                      " VALUES($1, $2, $3::int, $4, $5::bigint) ON CONFLICT (rule, key) DO UPDATE SET"
                      " firing = EXCLUDED.firing, value = EXCLUDED.value, since = EXCLUDED.since",
                      &p, NULL)))
            break;
        PARAMS(e, 12);
        p_i64(&e, now_us);
        p_text(&e, c->rule);
        p_text(&e, c->key);
        p_text(&e, c->firing ? "firing" : "resolved");
        p_text(&e, c->value);
        p_text(&e, c->threshold);
        p_text(&e, c->body);
        rc = run(s->w, "alert event", "INSERT INTO alert_events(ts, rule, key, state, value, threshold, body)"
                 " VALUES($1::bigint, $2, $3, $4, $5, $6, $7)", &e, NULL);
    }
    rc = end_txn(s->w, rc);
    if (rc)
        for (size_t i = 0; i < n; i++)
            ((tm_alert_change *)&chs[i])->changed = 0;
    return rc;
}

static int pg_alert_list(tm_store *base, int firing_only, size_t limit,
                         int (*fn)(void *, const tm_alert_entry *), void *arg)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    PARAMS(p, 12);
    if (limit)
        p_i64(&p, (int64_t)limit);
    else
        p_text(&p, NULL);
    const char *sql = firing_only
        ? "SELECT e.ts, e.body, e.rule, e.key, e.state, e.value, e.threshold FROM alert_state a"
          " JOIN alert_events e ON e.seq ="
          " (SELECT MAX(seq) FROM alert_events WHERE rule = a.rule AND key = a.key)"
          " WHERE a.firing = 1 ORDER BY e.seq DESC LIMIT $1::bigint"
        : "SELECT ts, body, rule, key, state, value, threshold FROM alert_events ORDER BY seq DESC"
          " LIMIT $1::bigint";
    pgreader *rd = take(s, SCAN);
    int rc = run(rd->c, "read alerts", sql, &p, &res);
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++) {
        tm_alert_entry e = {i64(res, row, 0), txt(res, row, 2), txt(res, row, 3), txt(res, row, 4),
                            txt(res, row, 1), txt(res, row, 5), txt(res, row, 6)};
        rc = fn(arg, &e);
    }
    PQclear(res);
    give(rd);
    return rc;
}

static int pg_file_list(tm_store *base, const char *kind, int (*fn)(void *, const tm_file_rec *),
                        void *arg)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    PARAMS(p, 12);
    p_text(&p, kind);
    pgreader *rd = take(s, SCAN);
    int rc = run(rd->c, "read import files", "SELECT path, kind, state, dev, ino, size, mtime_ns,"
                 " \"offset\", head, tail FROM import_files WHERE kind = $1", &p, &res);
    for (int row = 0; rc == TM_OK && row < PQntuples(res); row++) {
        tm_file_rec r = {txt(res, row, 0), txt(res, row, 1), txt(res, row, 2), i64(res, row, 3),
                         i64(res, row, 4), i64(res, row, 5), i64(res, row, 6), i64(res, row, 7),
                         i64(res, row, 8), i64(res, row, 9)};
        rc = fn(arg, &r);
    }
    PQclear(res);
    give(rd);
    return rc;
}

static int pg_file_put(tm_store *base, const tm_file_rec *recs, size_t n, int64_t now_us)
{
    pg_store *s = (pg_store *)base;
    int rc = revive(s, s->w);
    if (rc == TM_OK)
        rc = exec(s->w, "begin", "BEGIN");
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        const tm_file_rec *r = &recs[i];
        const int64_t v[7] = {r->dev, r->ino, r->size, r->mtime_ns, r->offset, r->head, r->tail};
        PARAMS(p, 12);
        p_text(&p, r->path);
        p_text(&p, r->kind);
        p_text(&p, r->state);
        for (int k = 0; k < 7; k++)
            p_i64(&p, v[k]);
        p_i64(&p, now_us);
        rc = run(s->w, "write import file",
                 "INSERT INTO import_files(path, kind, state, dev, ino, size, mtime_ns, \"offset\","
                 " head, tail, updated) VALUES($1, $2, $3, $4::bigint, $5::bigint, $6::bigint,"
                 " $7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::bigint)"
                 " ON CONFLICT (path) DO UPDATE SET kind = EXCLUDED.kind, state = EXCLUDED.state,"
                 " dev = EXCLUDED.dev, ino = EXCLUDED.ino, size = EXCLUDED.size,"
                 " mtime_ns = EXCLUDED.mtime_ns, \"offset\" = EXCLUDED.\"offset\","
                 " head = EXCLUDED.head, tail = EXCLUDED.tail, updated = EXCLUDED.updated",
                 &p, NULL);
    }
    return end_txn(s->w, rc);
}

const struct tm_store_ops tm__postgres_ops = {
    .name = "postgres", .open = pg_open, .close = pg_close, .append = pg_append,
    .load_rollups = pg_load_rollups, .scan_user_cells = pg_scan_user_cells,
    .version = pg_version, .commits = pg_commits, .load_changes = pg_load_changes, .scan_facts = pg_scan_facts,
    .dict_id = pg_dict_id, .dict_name = pg_dict_name, .scan = pg_scan, .count = pg_count,
    .reprice = pg_reprice, .verify = pg_verify, .set_cache = pg_set_cache, .retain = pg_retain,
};

const struct tm_meta_ops tm__postgres_meta = {
    .key_put = pg_key_put, .key_list = pg_key_list, .key_revoke = pg_key_revoke,
    .user_put = pg_user_put, .user_get = pg_user_get, .alert_set = pg_alert_set,
    .alert_list = pg_alert_list, .file_list = pg_file_list, .file_put = pg_file_put,
    .user_list = pg_user_list, .alert_put = pg_alert_put,
};
