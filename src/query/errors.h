/*
 * errors.h — the top errors by message over the newest events of a range
 * (errors.c; GET /v1/errors).
 */
#ifndef TM_QUERY_ERRORS_H
#define TM_QUERY_ERRORS_H

#include "query.h"

/* The most events GET /v1/errors reads: ~2.4 µs each here (SQLite), 12 ms. */
#define TM_ERRORS_SCAN 5000

/* Failed calls with one status code (0: none given) and error text. */
typedef struct tm_error_group {
    int status;
    const char *error;              /* "" when the event gave none           */
    const char *provider, *model;   /* the group's most frequent pair        */
    int64_t top_count;              /* its failures                          */
    int64_t count;                  /* the group's failures                  */
    int64_t last;                   /* the newest, UTC µs                    */
} tm_error_group;

typedef struct tm_top_errors {
    int64_t from, to;               /* the range, UTC µs                     */
    int64_t scanned, failed;        /* events read; failed ones that passed  */
    int64_t oldest;                 /* the oldest event read (from: all)     */
    int complete;                   /* every event of the range was read     */
    tm_error_group *groups;         /* most failures first, ≤ q->limit       */
    size_t ngroups, capgroups;
    tm_arena arena;
} tm_top_errors;

/* Reads the newest events of q's range (from, to, tz, where; limit: groups
 * kept, 0 all), at most scan_max, and groups the failed ones. Free *out with
 * tm__top_errors_free (done on error). */
int tm__top_errors(tm_store *s, const tm_query_spec *q, int64_t now_us, size_t scan_max,
                   tm_top_errors *out);
void tm__top_errors_free(tm_top_errors *t);
int tm__top_errors_json(const tm_top_errors *t, tm_buf *b);

#endif
