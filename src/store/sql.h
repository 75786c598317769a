/*
 * sql.h — SQL text both store backends share (store/sqlite.c and
 * store/postgres.c run the same column lists and joins).
 */
#ifndef TM_STORE_SQL_H
#define TM_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "tokmeter.h"

/* The rollup row's columns after the key, as a tm_sums, then the sketch. */
#define ROLL_COLS "events, requests, value, input_tokens, output_tokens, cache_read_tokens," \
    " cache_write_tokens, reasoning_tokens, total_tokens, cost_pusd, unpriced, errors, lat_n,"  \
    " lat_sum_ns, sketch"

/* An event row as a fact (fact_of_row in each backend reads them from a
 * column c0 on). */
#define FACT_COLS "e.ts, e.provider, e.model, e.user_id, e.endpoint, e.operation, e.metric_type," \
    " e.success, e.value, e.input_tokens, e.output_tokens, e.cache_read_tokens,"                  \
    " e.cache_write_tokens, e.reasoning_tokens, e.total_tokens, e.latency_ns, e.cost_pusd,"       \
    " e.cost_source, e.project"

/* An event row with its names (row_to_event in each backend). */
#define EVENT_COLS                                                                      \
    "SELECT e.seq, e.id, e.ts, p.s, m.s, en.s, o.s, u.s, e.session_id, mt.s, e.value,"  \
    " rt.s, e.resource_id, e.input_tokens, e.output_tokens, e.cache_read_tokens,"       \
    " e.cache_write_tokens, e.cache_write_1h_tokens, e.reasoning_tokens,"               \
    " e.total_tokens, e.latency_ns, e.success, e.status_code, e.error, e.cache_hit,"    \
    " e.cost_pusd, e.cost_source, e.metadata, pj.s"
#define EVENT_NCOLS 29
#define EVENT_FROM                                                                      \
    " FROM events e LEFT JOIN dict p ON p.id = e.provider"                              \
    " LEFT JOIN dict m ON m.id = e.model LEFT JOIN dict en ON en.id = e.endpoint"       \
    " LEFT JOIN dict o ON o.id = e.operation LEFT JOIN dict u ON u.id = e.user_id"      \
    " LEFT JOIN dict mt ON mt.id = e.metric_type"                                       \
    " LEFT JOIN dict rt ON rt.id = e.resource_type LEFT JOIN dict pj ON pj.id = e.project"

/* The scan_facts statement: facts with ts between the two parameters
 * (p1, p2: "?1", "?2" or "$1::bigint", ...) and, with nusers, a user_id
 * among users (0: no user). Returns the buffer's status. */
static inline int tm__sql_scan_facts(tm_buf *sql, const char *p1, const char *p2,
                                     const uint32_t *users, size_t nusers)
{
    int null_user = 0;
    tm__buf_printf(sql, "SELECT " FACT_COLS " FROM events e WHERE e.ts >= %s AND e.ts < %s", p1, p2);
    if (nusers) {
        tm__buf_puts(sql, " AND (e.user_id IN (");
        for (size_t i = 0; i < nusers; i++) {
            null_user |= users[i] == 0;
            tm__buf_printf(sql, "%s%u", i ? "," : "", users[i]);
        }
        tm__buf_puts(sql, null_user ? ") OR e.user_id IS NULL)" : "))");
    }
    return sql->data ? tm__buf_putc(sql, ' ') : TM_ENOMEM;
}

/* verify's checks that read the same on both backends: each query gives
 * the number of faults. */
#define CHECK_IDS "SELECT COUNT(*) FROM (SELECT id FROM events GROUP BY id HAVING COUNT(*) > 1) x"
#define CHECK_IDS_OK "ok   ids: no id is stored twice"
#define CHECK_IDS_FAIL "FAIL ids: %lld ids are stored more than once"
#define CHECK_ROLLUPS CHECK_ROLLUPS_IN("rollup")
#define CHECK_ROLLUPS_IN(R)                                                                    \
    "SELECT (SELECT COUNT(*) FROM events) - (SELECT COALESCE(SUM(events), 0) FROM " R " WHERE proj = 0)" \
    " + (SELECT COALESCE(SUM(cost_pusd), 0) FROM events)"                                       \
    " - (SELECT COALESCE(SUM(cost_pusd), 0) FROM " R " WHERE proj = 0)"                         \
    " + (SELECT COALESCE(SUM(total_tokens), 0) FROM events)"                                    \
    " - (SELECT COALESCE(SUM(total_tokens), 0) FROM " R " WHERE proj = 1)"
#define CHECK_ROLLUPS_OK "ok   rollups: event, cost and token totals equal the rollups'"
#define CHECK_ROLLUPS_FAIL "FAIL rollups: the rollups differ from the events by %lld"
#define CHECK_USER_ROLLUPS CHECK_USER_ROLLUPS_IN("rollup", "urollup")
#define CHECK_USER_ROLLUPS_IN(R, U)                                                           \
    "SELECT abs((SELECT COUNT(*) FROM events)"                                                 \
    " - (SELECT COALESCE(SUM(events), 0) FROM " R " WHERE proj = 2))"                          \
    " + abs((SELECT COALESCE(SUM(cost_pusd), 0) FROM events)"                                  \
    " - (SELECT COALESCE(SUM(cost_pusd), 0) FROM " U " WHERE proj = 3))"                       \
    " + abs((SELECT COALESCE(SUM(total_tokens), 0) FROM events)"                               \
    " - (SELECT COALESCE(SUM(total_tokens), 0) FROM " U " WHERE proj = 4))"
#define CHECK_USER_ROLLUPS_OK "ok   user rollups: event, cost and token totals equal the per-user rollups'"
#define CHECK_USER_ROLLUPS_FAIL "FAIL user rollups: the per-user rollups differ from the events by %lld"
#define CHECK_NAMES                                                                             \
    "SELECT COUNT(*) FROM events e WHERE"                                                       \
    " (provider IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dict WHERE id = e.provider))"         \
    " OR (model IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dict WHERE id = e.model))"            \
    " OR (endpoint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dict WHERE id = e.endpoint))"      \
    " OR (operation IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dict WHERE id = e.operation))"    \
    " OR (user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dict WHERE id = e.user_id))"        \
    " OR NOT EXISTS (SELECT 1 FROM dict WHERE id = e.metric_type)"                              \
    " OR (resource_type IS NOT NULL AND NOT EXISTS"                                             \
    "     (SELECT 1 FROM dict WHERE id = e.resource_type))"
#define CHECK_NAMES_OK "ok   names: every dimension refers to a stored name"
#define CHECK_NAMES_FAIL "FAIL names: %lld events refer to a missing name"

#endif
