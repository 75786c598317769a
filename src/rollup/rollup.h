/*
 * rollup.h — rollup cells: per UTC hour and per combination of a
 * projection's dimensions, the sums of every report metric and a latency
 * sketch. Cells are written in the same transaction as their events (so
 * they can never disagree) and mirrored in memory for fast queries.
 *
 *   cell key:  proj | hour | dim[8]   (dict ids; 0 = absent; success 1/2)
 *   cell:      key | tm_sums | tm_sketch
 */
#ifndef TM_QUERY_ROLLUP_H
#define TM_QUERY_ROLLUP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/dec.h"
#include "sketch.h"
#include "tokmeter.h"

/* Query dimensions, in the order of tm_cell_key.dim. The first
 * TM_NROLLDIM are the stored rollup table's columns d0..d6; dimensions
 * after them (project) are in no projection and are read from the events. */
enum {
    TM_D_PROVIDER, TM_D_MODEL, TM_D_USER, TM_D_ENDPOINT, TM_D_OPERATION, TM_D_METRIC,
    TM_D_SUCCESS, TM_D_PROJECT, TM_NDIM
};
#define TM_NROLLDIM 7
extern const char *const tm__dim_names[TM_NDIM];

/* Projections kept as rollups: which dimensions each one keeps.
 *   model, endpoint   hourly cells, in memory; each also has day cells there
 *                     (slot proj + TM_DAY, keyed by the day's first UTC hour)
 *                     for UTC queries over whole days;
 *   user              {user_id, metric_type} per UTC day (keyed by the day's
 *                     first hour), in memory: top users, one user's days,
 *                     quota use; each also has week cells there (slot
 *                     TM_USER_WEEK, keyed by the first hour of the UTC week
 *                     from Monday) for long ranges;
 *   user_model,       {user_id, provider, model, metric_type} and
 *   user_endpoint     {user_id, endpoint, metric_type} per UTC day, only in
 *                     the store (table urollup, keyed by user first) and read
 *                     a user at a time: their number grows with users × days
 *                     × models, which memory must not. */
enum {
    TM_PROJ_MODEL, TM_PROJ_ENDPOINT, TM_PROJ_USER, TM_NPROJ, /* in memory */
    TM_PROJ_USER_MODEL = TM_NPROJ, TM_PROJ_USER_ENDPOINT, TM_NPROJ_ALL
};
#define TM_DAY TM_NPROJ_ALL         /* in-memory slot of proj's day cells */
#define TM_NSLOT (TM_NPROJ_ALL + TM_NPROJ)
#define TM_USER_WEEK (TM_PROJ_USER + TM_DAY) /* user cells have no day slot: weeks */
extern const unsigned tm__proj_dims[TM_NPROJ_ALL];

/* Cells of projection p are per UTC day (else per hour). */
static inline int tm__proj_daily(int p) { return p >= TM_PROJ_USER; }

/* The first hour of the UTC day, and of the UTC week from Monday, that
 * holds hour h (hours since 1970; 1970-01-01 was a Thursday). */
static inline int64_t tm__day_hour(int64_t h) { return h - ((h % 24) + 24) % 24; }
static inline int64_t tm__week_hour(int64_t h)
{
    int64_t d = tm__day_hour(h) / 24;
    return (d - ((d + 3) % 7 + 7) % 7) * 24;
}

typedef struct tm_cell_key {
    int32_t proj;
    int32_t hour;           /* hours since 1970 (UTC); for query rows unused */
    uint32_t dim[TM_NDIM];
} tm_cell_key;

typedef struct tm_sums {
    int64_t events, requests, input, output, cache_read, cache_write, reasoning, total;
    int64_t unpriced, errors, lat_n;
    tm_i128 value, cost, lat_sum;   /* nano-units, pUSD, ns */
} tm_sums;

/* One event, as the rollups and the raw query path see it. */
typedef struct tm_fact {
    int64_t ts_us;
    uint32_t dim[TM_NDIM];
    int64_t value, input, output, cache_read, cache_write, reasoning, total, cost, latency_ns;
    int cost_source, has_latency, llm_call, success;
} tm_fact;

/* Adds f to s (sign 1), or takes it away (sign -1). */
void tm__sums_add_fact(tm_sums *s, const tm_fact *f, int sign);
void tm__sums_add(tm_sums *into, const tm_sums *from);
/* Adds from (sign 1) or takes it away (sign -1). */
void tm__sums_add_signed(tm_sums *into, const tm_sums *from, int sign);

typedef struct tm_cell {
    tm_cell_key key;
    tm_sums s;
    tm_sketch sk;
} tm_cell;

/* A growable set of cells with a hash index on the key. */
typedef struct tm_cellset {
    tm_cell *cells;
    size_t n, cap;
    uint32_t *slots;        /* index+1 into cells, 0 empty; power of two     */
    size_t nslots;
} tm_cellset;

/* The cell for key, created empty if new; NULL when out of memory. */
tm_cell *tm__cellset_get(tm_cellset *cs, const tm_cell_key *key);
/* The cell for key, or NULL when there is none. */
const tm_cell *tm__cellset_find(const tm_cellset *cs, const tm_cell_key *key);
void tm__cellset_free(tm_cellset *cs);

/* Makes room for n cells without rehashing (before a bulk load). */
int tm__cellset_reserve(tm_cellset *cs, size_t n);

/* The fact of event e whose dimensions have the dict ids dim (TM_D_*
 * order). Both store backends build facts with it. */
void tm__fact_of_event(const tm_event *e, const uint32_t dim[TM_NDIM], tm_fact *f);

/* Adds to deltas, for each cell of f (an event being repriced), the change
 * of its cost from old_cost to new_cost and of its unpriced count. */
int tm__rollup_add_cost_delta(tm_cellset *deltas, const tm_fact *f, int64_t old_cost,
                              int old_source, int64_t new_cost, int new_source);

/* Adds one committed event to the batch's cells of every projection, or
 * with sign -1 takes a replaced one away (only facts without a latency:
 * sketches cannot forget). */
int tm__rollup_add_fact(tm_cellset *batch, const tm_fact *f, int sign);

/* In-memory rollups of every projection, with an index by hour. */
typedef struct tm_rollups {
    pthread_rwlock_t lock;
    tm_cellset cells;
    /* The hours that hold cells, ascending: sparse, so events years apart
     * cost two entries, not an entry for every hour between them. */
    struct hour_ix {
        int32_t hour;
        struct hour_list { uint32_t *ix; uint32_t n, cap; } slot[TM_NSLOT];
    } *hours;
    size_t nhours, caphours;
    int64_t version;        /* the store's commit counter this reflects; -1 */
    int loaded;             /* the hourly projections' cells                 */
    int users_loaded;       /* the user projection's, loaded on first use    */
    uint32_t metrics[32];   /* metric_type ids seen in user cells            */
    int nmetrics;           /* -1: more than 32 (look-ups by key impossible) */
    char *snapshot;         /* the store's snapshot file (owned), or NULL    */
    uint64_t ident[4];      /* the store file's as opened (see tm__rollups_save) */
    void *map;              /* the snapshot read back, mapped: the restored  */
    size_t maplen;          /* cells' sketch bins are lent from it; or NULL  */
} tm_rollups;

void tm__rollups_init(tm_rollups *r);
void tm__rollups_clear(tm_rollups *r);   /* frees the cells and the map; not the lock */
void tm__rollups_destroy(tm_rollups *r);

/* Merges a cell (from the store or a committed batch) into r: an hour
 * cell also into its day cell; a user cell also into its week cell, if
 * user cells are loaded; cells of projections kept only in the store are skipped. Caller
 * holds the write lock. */
int tm__rollups_merge(tm_rollups *r, const tm_cell *c);

/* The snapshot: the loaded rollups in a file (r->snapshot), written at a
 * clean close, so that a restart reads them back in one pass instead of
 * rebuilding them from the store's rows (2 s at 10M events, most of it
 * merging hours into days and sketches). It holds the commit counter it
 * reflects and the store file's identity; a restore checks both, and the
 * file is removed once read, so a snapshot is used at most once and never
 * after a commit it has not seen. The identity is the store file's device,
 * inode, modification time and size, taken after the store is closed (its
 * WAL checkpointed into it) and before it is next opened (r->ident): a new
 * store that took a removed one's inode, a store copied over, or a write
 * by any process between the two changes it.
 *
 * Save writes r (current at store version `version`, the store file's
 * identity now `ident`; caller holds a lock or is alone) through a
 * temporary file, synced and renamed: the file is whole or absent.
 * Restore (caller holds the write lock; r empty) loads it when it is for
 * `version` and holds user cells if `users`; 1 when restored, 0 when not
 * (no file, stale, another store, malformed, or no memory: r stays empty
 * and the caller loads from the store). The cells and their hash come
 * back in two reads; the sketch bins, most of the file, stay in the file,
 * mapped read-only (r->map) and lent to the cells (sketch.h) until
 * tm__rollups_clear: the unlinked file's disk space is held until then.
 * Neither reports an error: the snapshot is a cache. */
void tm__rollups_save(const tm_rollups *r, int64_t version, const uint64_t ident[4]);
int tm__rollups_restore(tm_rollups *r, int64_t version, int users);

/* Before loading n stored cells (each also feeds a day cell). */
int tm__rollups_reserve(tm_rollups *r, size_t n);

/* Calls fn for each cell of slot proj (a projection, or a projection +
 * TM_DAY for day cells) with h0 ≤ hour < h1. Caller holds the read lock. */
int tm__rollups_each(const tm_rollups *r, int proj, int32_t h0, int32_t h1,
                     int (*fn)(void *arg, const tm_cell *c), void *arg);

#endif
