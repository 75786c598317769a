/*
 * lib.h — what the CLI and the daemon use of a tm handle beyond the public
 * API: running report queries with the handle's store and rollups.
 */
#ifndef TM_LIB_LIB_H
#define TM_LIB_LIB_H

#include "../query/query.h"
#include "tokmeter.h"

/* Runs q on t's store and rollups (see query.h). */
int tm__run_query(tm *t, const tm_query_spec *q, tm_qresult **out);

/* The seed lesson's per-user dashboard shape for user in `period`
 * (YYYY-MM; NULL: the current month in tz), appended to b. */
int tm__user_usage_json(tm *t, const char *user, const char *period, const char *tz, tm_buf *b);

#endif
