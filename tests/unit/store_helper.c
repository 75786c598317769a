/*
 * store_helper.c — the unit tests' store: SQLite or PostgreSQL
 * (store_helper.h).
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_helper.h"

static const char *pg_url(void)
{
    const char *u = getenv("TOKMETER_TEST_STORE");
    return u && *u ? u : NULL;
}

int tst_pg(void) { return pg_url() != NULL; }

char *tst_store_path(const char *dir, const char *name, char *buf, size_t cap)
{
    static unsigned n;
    const char *u = pg_url();
    if (!u) {
        snprintf(buf, cap, "%s/%s", dir, name);
        return buf;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%s%sschema=t_%d_%lx_%u", u, strchr(u, '?') ? "&" : "?", (int)getpid(),
             (unsigned long)ts.tv_nsec, n++);
    return buf;
}

int tst_store_exec(const char *path, const char *sqlite_sql, const char *pg_sql)
{
    if (strncmp(path, "postgres", 8) != 0) {
        sqlite3 *db = NULL;
        int rc = sqlite3_open(path, &db) == SQLITE_OK &&
                 sqlite3_exec(db, sqlite_sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
        sqlite3_close(db);
        return rc;
    }
    /* The URL without tokmeter's schema= parameter, then search_path. */
    char conn[1024], sql[2048];
    snprintf(conn, sizeof conn, "%s", path);
    char *s = strstr(conn, "schema=");
    if (!s)
        return -1;
    snprintf(sql, sizeof sql, "SET search_path = %s; %s", s + 7, pg_sql);
    s[-1] = '\0';
    PGconn *c = PQconnectdb(conn);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        fprintf(stderr, "tst_store_exec: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}
