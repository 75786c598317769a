/*
 * tokmeter.h — the public face of libtokmeter.
 *
 * A program records usage events (one per LLM call or other billable
 * operation) into a tokmeter store and reads them back. The library owns a
 * background writer that group-commits events to the store: tm_track()
 * queues and returns at once, tm_track_sync() returns after the event is on
 * disk (fsync'd), tm_flush() waits for everything queued so far.
 *
 *   tm *t = NULL;
 *   if (tm_open(&t, "usage.db", NULL) != TM_OK) { puts(tm_errmsg()); ... }
 *   tm_event ev;
 *   tm_event_init(&ev);
 *   ev.provider = "openai"; ev.model = "gpt-4o-mini";
 *   ev.input_tokens = 1200; ev.output_tokens = 300; ev.has |= TM_HAS_TOKENS;
 *   tm_track(t, &ev);
 *   tm_close(t);            // flushes
 *
 * Conventions
 * - Every function that can fail returns a tm_err: 0 is success, negative
 *   values are errors; tm_strerror() names them. The message of the last
 *   failure of the calling thread ("event 3: input_tokens: must be a
 *   non-negative integer") is in tm_errmsg().
 * - A handle is thread-safe: any number of threads may track and query
 *   through one tm at once.
 * - Strings passed in are only borrowed for the duration of the call; the
 *   library copies what it keeps. Results handed out are owned by the caller
 *   and freed with the matching _free function, which accepts NULL.
 * - Money is exact: prices and costs are integers in pico-USD (1e-12 USD),
 *   never floating point.
 */
#ifndef TOKMETER_H
#define TOKMETER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

typedef enum tm_err {
    TM_OK = 0,
    TM_EINVAL = -1,     /* bad input: the message names the field and why   */
    TM_ENOMEM = -2,     /* out of memory                                     */
    TM_EIO = -3,        /* the store could not be read or written            */
    TM_ECORRUPT = -4,   /* the store failed an integrity check               */
    TM_ETOOBIG = -5,    /* input over a configured limit                     */
    TM_ENOTFOUND = -6,  /* no such thing (file, event, route)                */
    TM_ECLOSED = -7,    /* the handle is closing                             */
    TM_EVERSION = -8,   /* the store was written by a newer tokmeter         */
    TM_EBUSY = -9,      /* the store is locked by another process too long   */
} tm_err;

/* A short fixed description of an error code ("invalid input"). Never NULL. */
const char *tm_strerror(int err);

/* The message of the last failed call made by the calling thread, or "" if
 * none. Valid until the thread's next tokmeter call. */
const char *tm_errmsg(void);

/* ---- units ------------------------------------------------------------- */

#define TM_PUSD_PER_USD 1000000000000LL /* money: pico-USD                */
#define TM_VALUE_SCALE 1000000000LL     /* value: nano-units              */
#define TM_NS_PER_MS 1000000LL          /* latency: nanoseconds           */

/* ---- the event --------------------------------------------------------- */

/* Which optional fields of a tm_event were given (bits of tm_event.has).
 * A field whose bit is clear takes its default. */
enum {
    TM_HAS_TS = 1u << 0,         /* ts_us             (default: now)        */
    TM_HAS_VALUE = 1u << 1,      /* value_nano        (default: 1)          */
    TM_HAS_TOKENS = 1u << 2,     /* the token buckets (default: all 0)      */
    TM_HAS_TOTAL = 1u << 3,      /* total_tokens      (default: sum)        */
    TM_HAS_LATENCY = 1u << 4,    /* latency_ns        (default: none)       */
    TM_HAS_SUCCESS = 1u << 5,    /* success           (default: see below)  */
    TM_HAS_STATUS = 1u << 6,     /* status_code       (default: none)       */
    TM_HAS_CACHE_HIT = 1u << 7,  /* cache_hit         (default: false)      */
    TM_HAS_COST = 1u << 8,       /* cost_pusd, reported by the provider     */
};

/* How an event's cost was arrived at. */
typedef enum tm_cost_source {
    TM_COST_UNPRICED = 0, /* no price known: cost 0, counted as unpriced     */
    TM_COST_COMPUTED = 1, /* computed by tokmeter from the price catalog     */
    TM_COST_REPORTED = 2, /* cost_usd given with the event, kept exactly     */
} tm_cost_source;

/* One usage event. Names follow the JSON field names (docs/events.md).
 * String fields may be NULL (absent). Token fields are only read when
 * TM_HAS_TOKENS is set. After validation (inside tm_track and friends) a
 * stored event has every default filled in:
 *   metric_type "llm_call", value 1, total_tokens = sum of the buckets,
 *   success = !(status_code >= 400 || error given), ts = arrival time. */
typedef struct tm_event {
    const char *id;            /* ≤128 bytes; NULL: generated (no dedup)    */
    int64_t ts_us;             /* UTC microseconds since 1970               */
    const char *provider;      /* ≤128 bytes, like the other dimensions     */
    const char *model;
    const char *endpoint;
    const char *operation;
    const char *user_id;
    const char *session_id;
    const char *project;       /* the project or workspace (agent imports)  */
    const char *metric_type;   /* [a-z0-9_.]{1,64}                          */
    int64_t value_nano;        /* value × 1e9, ≥ 0                           */
    const char *resource_type;
    const char *resource_id;
    int64_t input_tokens;      /* non-overlapping buckets, each in [0,2^53] */
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    int64_t cache_write_1h_tokens; /* part of cache_write_tokens            */
    int64_t reasoning_tokens;      /* part of output_tokens                 */
    int64_t total_tokens;      /* ≥ the sum of the four buckets             */
    int64_t latency_ns;        /* latency_ms × 1e6, ≥ 0                      */
    int success;               /* 1 or 0                                     */
    int status_code;           /* 100..599                                   */
    const char *error;         /* ≤4096 bytes                                */
    int cache_hit;             /* 1: an application-level cache answered     */
    int64_t cost_pusd;         /* cost in pico-USD                           */
    int cost_source;           /* tm_cost_source, set by tokmeter            */
    const char *metadata;      /* a JSON object as text, ≤64 KiB             */
    unsigned has;              /* TM_HAS_* bits                              */
    int64_t seq;               /* store order, set when read back            */
} tm_event;

/* Zero every field: all strings absent, no optional field given. */
void tm_event_init(tm_event *ev);

/* ---- the handle -------------------------------------------------------- */

typedef struct tm_handle tm; /* not "struct tm": that is <time.h>'s */

typedef struct tm_options {
    const char *config;     /* a config file whose "tiers", "default_tier" and
                               "rate_limits" apply (docs/quotas.md); NULL: none */
    const char *prices;     /* a price file (docs/pricing.md) whose entries
                               are consulted before the built-in ones; NULL:
                               built-in prices only                         */
    size_t queue_max;       /* events queued before tm_track blocks; 0: 131072 */
    size_t batch_max;       /* events per commit at most; 0: 65536           */
    unsigned store_mode;    /* permission bits of a store this creates (and
                               its -wal, -shm); new parent directories get
                               them plus search where readable. 0: 0600,
                               owner only (directories 0700). The umask
                               still applies                                 */
} tm_options;

/* Opens (creating if needed, with its parent directory) the store at path,
 * loads the price catalog and starts the writer. opts may be NULL. On
 * success *out owns the handle, to be released with tm_close(). Errors:
 * TM_EIO, TM_EVERSION, TM_ENOMEM, TM_EINVAL (a bad price file: the message
 * names the file, entry and field), TM_ENOTFOUND (no such price file). */
int tm_open(tm **out, const char *path, const tm_options *opts);

/* Flushes queued events, stops the writer and frees the handle. Returns the
 * first error of an asynchronous write that was never reported, else TM_OK.
 * tm_close(NULL) is a no-op. */
int tm_close(tm *t);

/* Validates ev and queues a copy; returns without waiting for the disk.
 * Blocks only while the queue is full. Errors: TM_EINVAL (nothing queued),
 * TM_ECLOSED. A write failure later is reported by tm_flush/tm_close. */
int tm_track(tm *t, const tm_event *ev);

/* Validates ev, stores it, and returns once it is durable. *duplicate (if
 * not NULL) is set to 1 when an event with the same id was already stored
 * (nothing new written), else 0. TM_OK means the event is on disk. */
int tm_track_sync(tm *t, const tm_event *ev, int *duplicate);

/* Waits until every event queued before the call is durable. Returns the
 * first asynchronous write error since the last tm_flush, else TM_OK. */
int tm_flush(tm *t);

/* The outcome of tm_track_json for one event of the input. */
typedef enum tm_item_status {
    TM_ITEM_ACCEPTED = 0,
    TM_ITEM_DUPLICATE = 1,
    TM_ITEM_REJECTED = 2,
} tm_item_status;

typedef struct tm_item_result {
    size_t index;           /* 0-based position of the event in the input    */
    size_t line;            /* 1-based line where the event starts           */
    tm_item_status status;
    const char *error;      /* "field: reason" when rejected, else NULL      */
} tm_item_result;

typedef struct tm_batch_result {
    size_t accepted, duplicates, rejected;
    size_t n;               /* number of items                               */
    tm_item_result *items;  /* one per event of the input, in order          */
} tm_batch_result;

/* Flags for tm_track_json. */
enum {
    TM_JSON_NDJSON = 1u << 0,   /* the input is NDJSON, one event per line  */
};

/* Decodes json (one event object, a JSON array of them, or NDJSON), then
 * validates and stores every valid event durably before returning. A bad
 * event is rejected alone; its neighbours are still stored. *out receives
 * the per-event results (free with tm_batch_result_free). Returns TM_OK
 * when the input was readable at all (even if every event was rejected),
 * TM_EINVAL when it was empty or not JSON, TM_EIO when the store failed
 * (then nothing from this call is acknowledged). `id_default`, if not NULL,
 * is the id of a single event that has none (an Idempotency-Key). */
int tm_track_json(tm *t, const char *json, size_t len, unsigned flags,
                  const char *id_default, tm_batch_result **out);

void tm_batch_result_free(tm_batch_result *r);

/* ---- reading events ---------------------------------------------------- */

typedef struct tm_event_filter {
    const char *user_id;    /* NULL: any                                     */
    const char *provider;   /* NULL: any                                     */
    int64_t since_us;       /* events with ts ≥ since; 0: no bound           */
    int64_t until_us;       /* events with ts < until; 0: no bound           */
    size_t limit;           /* 0: no limit                                   */
} tm_event_filter;

/* Calls fn for each stored event matching f, newest first (by timestamp,
 * then store order). The event and its strings are valid only during the
 * call. fn returns 0 to go on, anything else to stop (returned as is). */
int tm_events(tm *t, const tm_event_filter *f,
              int (*fn)(void *arg, const tm_event *ev), void *arg);

/* Writes ev as one JSON object (the field names of the API) into buf of
 * size cap, NUL-terminated. Returns the length it needs (excluding the NUL);
 * a value ≥ cap means buf was too small and holds a truncated prefix. */
size_t tm_event_to_json(const tm_event *ev, char *buf, size_t cap);

/* ---- reports ----------------------------------------------------------- */

typedef struct tm_report tm_report;

/* Runs a report query. params is a NULL-terminated array of key, value
 * strings with the names of GET /v1/usage and `tokmeter report`: from, to,
 * interval (hour|day|week|month|none), tz, group_by (provider, model,
 * user_id, endpoint, operation, metric_type, success, project; comma-separated),
 * where (DIM=V[,V]; repeatable), order_by (a metric, :asc for ascending),
 * limit. Errors: TM_EINVAL naming the parameter. Free with tm_report_free. */
int tm_report_run(tm *t, const char *const *params, tm_report **out);

/* The report as JSON (docs/queries.md). Owned by the report. */
const char *tm_report_json(const tm_report *r);

void tm_report_free(tm_report *r);

/* One user's month as JSON, the seed lesson's dashboard shape:
 * {"user_id", "period", "current_period": {requests, tokens, cost, limit},
 *  "daily_breakdown": [{date, requests, tokens, cost}], "top_endpoints":
 *  [{endpoint, calls}]}. period is YYYY-MM (NULL: this month in tz); tz is
 * an IANA zone (NULL: UTC). *json is malloc'd; the caller frees it. */
int tm_user_usage(tm *t, const char *user_id, const char *period, const char *tz, char **json);

/* ---- quotas and rate limits -------------------------------------------- */

typedef struct tm_check_request {
    const char *user_id;        /* required                                   */
    const char *operation;      /* for per-operation rate limits; may be NULL */
    const char *provider, *model;
    int64_t estimated_tokens;   /* the call's expected total tokens           */
    int64_t estimated_cost_pusd;/* its expected cost                          */
} tm_check_request;

typedef struct tm_check_result {
    int allowed;                /* 0: a hard quota or a rate limit says no     */
    char reason[256];           /* why not                                     */
    double retry_after_s;       /* when a denied call may be tried again; -1:
                                   never (more at once than a rate limit's
                                   burst: split the call)                     */
    int soft_exceeded;          /* allowed, but over a soft limit              */
    char warning[256];
    int64_t reset_us;           /* when the current quota period ends          */
} tm_check_result;

/* Asks whether user_id may make a call now: the call's estimate is added
 * to each quota's use in the current period (a hard limit denies, a soft
 * one warns), and the rate limits are consulted (an allowed check counts as
 * one request against them). */
int tm_check(tm *t, const tm_check_request *rq, tm_check_result *out);

/* ---- pricing ----------------------------------------------------------- */

/* What tm_reprice did. */
typedef struct tm_reprice_result {
    int64_t examined;       /* events looked at (reported costs are kept)    */
    int64_t changed;        /* events whose cost or pricing state changed    */
    char delta_usd[48];     /* sum of new − old cost, exact decimal text     */
} tm_reprice_result;

/* Recomputes the stored cost of every event with since ≤ ts < until (0: no
 * bound) from the handle's current catalog, in one transaction. Reported
 * costs are kept. */
int tm_reprice(tm *t, int64_t since_us, int64_t until_us, tm_reprice_result *out);

/* ---- retention and copying -------------------------------------------- */

/* Removes every event with ts < before_us and the rollup cells of those
 * hours and days, in one transaction (PostgreSQL: drops the month
 * partitions wholly before it). before_us must be the start of a UTC day
 * (TM_EINVAL otherwise): the per-user cells are whole UTC days, and a cut
 * inside one would drop its later events' share of them.
 * *deleted gets the number of events removed. */
int tm_retain(tm *t, int64_t before_us, int64_t *deleted);

/* What tm_store_copy moved. */
typedef struct tm_copy_result {
    int64_t events, keys, users, alerts;
} tm_copy_result;

/* Copies every event, API key, user (tier and overrides) and alert
 * transition of the store at `from` into the store at `to` (paths or URLs
 * as for tm_open; `to` is created when missing and must hold no events,
 * keys, users or alerts: TM_EINVAL otherwise). Events keep their ids,
 * times, tokens and costs exactly, so every report totals the same. Not
 * while a daemon writes to `from`. */
int tm_store_copy(const char *from, const char *to, tm_copy_result *out);

/* ---- integrity --------------------------------------------------------- */

/* Checks the store: SQLite integrity, no id stored twice, counters equal to
 * the rows. Writes a human-readable report (one check a line) through fn.
 * Returns TM_OK when all hold, TM_ECORRUPT when one fails. */
int tm_verify(tm *t, void (*fn)(void *arg, const char *line), void *arg);

/* The number of events in the store. */
int tm_count(tm *t, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TOKMETER_H */
