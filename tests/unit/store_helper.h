/*
 * store_helper.h — which store a unit test opens: one test list, two
 * backends. Unset TOKMETER_TEST_STORE: a SQLite file in the test's
 * directory. Set to a postgres:// URL (the Makefile's unit-pg target):
 * a fresh schema in that database for every call.
 */
#ifndef TM_TEST_STORE_HELPER_H
#define TM_TEST_STORE_HELPER_H

#include <stddef.h>

/* 1 when the tests run against PostgreSQL. */
int tst_pg(void);

/* Writes into buf (cap bytes) the store to open: dir/name for SQLite, a
 * new schema's URL for PostgreSQL. Returns buf. */
char *tst_store_path(const char *dir, const char *name, char *buf, size_t cap);

/* Runs sql directly on the store at path, beside tokmeter (tampering
 * tests): sqlite_sql on a SQLite file, pg_sql on PostgreSQL. 0 on success. */
int tst_store_exec(const char *path, const char *sqlite_sql, const char *pg_sql);

#endif
