/*
 * query.h — the face of the query subsystem: one query spec, used by the
 * CLI (`tokmeter report`), the daemon (GET /v1/usage) and the C API, and
 * its execution over the rollups and the stored events.
 *
 * A spec is built from text parameters (the same names everywhere):
 *   from, to        half-open range; RFC 3339, a date (midnight in tz), epoch ms
 *   interval        hour | day | week | month | none
 *   tz              IANA zone name; days, weeks (from Monday), months cut there
 *   group_by        dimensions, comma-separated
 *   where           DIM=V[,V...] or DIM:V (repeatable; values OR'd, dims AND'd)
 *   order_by        a metric, descending; METRIC:asc for ascending
 *   limit           top N rows after ordering
 *   fill            zero: every period of the range gets a row for each
 *                   group seen (zero when nothing happened); none (default)
 *   metrics         the metrics each row carries in JSON and CSV, comma-
 *                   separated (default: all); without a latency quantile
 *                   (and not ordered by one) no latency sketch is built
 */
#ifndef TM_QUERY_QUERY_H
#define TM_QUERY_QUERY_H

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/tz.h"
#include "../store/store.h"
#include "../rollup/rollup.h"

enum { TM_I_NONE, TM_I_HOUR, TM_I_DAY, TM_I_WEEK, TM_I_MONTH };

enum {
    TM_M_EVENTS, TM_M_REQUESTS, TM_M_VALUE, TM_M_INPUT, TM_M_OUTPUT, TM_M_CACHE_READ,
    TM_M_CACHE_WRITE, TM_M_REASONING, TM_M_TOTAL, TM_M_COST, TM_M_UNPRICED, TM_M_ERRORS,
    TM_M_ERROR_RATE, TM_M_P50, TM_M_P95, TM_M_P99, TM_M_AVG, TM_NMETRIC
};
extern const char *const tm__metric_names[TM_NMETRIC];

typedef struct tm_query_spec {
    const char *from, *to;      /* as given; resolved against tz when run     */
    int interval;
    const char *tz;             /* NULL: UTC                                   */
    int group[TM_NDIM];         /* dimensions, in the order given             */
    int ngroup;
    const char **where[TM_NDIM];/* accepted values per dimension              */
    size_t nwhere[TM_NDIM];
    int order_by;               /* a TM_M_*, or -1: period then dimensions    */
    int order_asc;
    size_t limit;               /* 0: all                                     */
    uint64_t max_rows;          /* rows read (events, rollup cells) before the
                                 * run stops with TM_ETOOBIG; 0: no limit      */
    int fill;                   /* 1: empty periods as zero rows (fill.c)     */
    uint32_t metrics;           /* bit 1 << TM_M_*: the metrics shown; 0: all */
    tm_arena arena;
} tm_query_spec;

void tm__query_init(tm_query_spec *q);
void tm__query_free(tm_query_spec *q);

/* Sets one parameter from text. Errors: TM_EINVAL with "key: reason". */
int tm__query_set(tm_query_spec *q, const char *key, const char *value);

/* Sets from and to to the UTC instants from_us and to_us (exact to the µs),
 * for callers that hold times rather than text. */
int tm__query_span(tm_query_spec *q, int64_t from_us, int64_t to_us);

/* q's zone (*tz, freed with tm__tz_free, also after an error) and range,
 * UTC µs: dates are midnight in the zone; by default the 30 days up to now. */
int tm__query_range(const tm_query_spec *q, int64_t now_us, tm_tz **tz, int64_t *from,
                    int64_t *to);

typedef struct tm_qrow {
    int64_t period;             /* UTC µs of the period's start                */
    const char *dim[TM_NDIM];   /* values of the grouped dimensions            */
    tm_sums s;
    tm_sketch_acc sk;
    uint32_t cell;              /* internal: the row's cell while unnamed      */
} tm_qrow;

/* The days a by-user query plans one by one at most (3 MB, 358 years);
 * a longer range is read from the events. */
#define TM_PLAN_DAYS_MAX (1 << 17)

typedef struct tm_qresult {
    int64_t from, to;           /* resolved range, UTC µs                     */
    int interval;
    tm_tz *tz;
    int group[TM_NDIM], ngroup;
    tm_qrow *rows;
    size_t nrows;
    tm_qrow totals;             /* over the whole range, before limit        */
    const char *plan;           /* "rollups", "events", "rollups+events"      */
    uint32_t metrics;           /* bit 1 << TM_M_*: the metrics JSON and CSV show */
    tm_arena arena;             /* dimension names                           */
} tm_qresult;

/* Runs q over store s, using (and loading or refreshing) the in-memory
 * rollups r. *out is freed with tm__qresult_free. */
int tm__query_run(tm_store *s, tm_rollups *r, const tm_query_spec *q, int64_t now_us,
                  tm_qresult **out);
void tm__qresult_free(tm_qresult *res);

/* The UTC µs start of the period (of res->interval, in res->tz) holding
 * t_us; res->from when the interval is none. */
int64_t tm__period_start(const tm_qresult *res, int64_t t_us);

/* Gives every (group, period of the range) a row, zero when it had none,
 * before the rows are sorted (fill.c). At most TM_FILL_MAX rows: more is
 * TM_EINVAL naming fill. */
#define TM_FILL_MAX 100000
int tm__qresult_fill(tm_qresult *res);

/* "2026-10-01T13:00", "2026-10-01", "2026-10" (local to the query's zone). */
void tm__period_label(const tm_qresult *res, int64_t period, char *buf, size_t cap);

/* A metric as JSON text: integers, exact decimals, "null" for latencies of
 * rows without any. */
void tm__metric_text(const tm_sums *s, const tm_sketch_acc *sk, int metric, char *buf, size_t cap);

/* The report shapes. */
int tm__qresult_json(const tm_qresult *res, tm_buf *b);
int tm__qresult_csv(const tm_qresult *res, tm_buf *b);
int tm__qresult_table(const tm_qresult *res, tm_buf *b);

#endif
