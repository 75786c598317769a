/*
 * server.h — the face of the daemon: `tokmeter serve` runs tm_server_run.
 */
#ifndef TM_SERVER_SERVER_H
#define TM_SERVER_SERVER_H

#include <stddef.h>

#include "tokmeter.h"

typedef struct tm_server_config {
    const char *listen;     /* "127.0.0.1:8787", "[::1]:8787"              */
    const char *db_path;    /* for messages only                           */
    size_t max_body;        /* bytes; larger bodies get 413 unread         */
    unsigned threads;       /* request threads; 0: cores                   */
    int quiet;              /* no startup line                             */
} tm_server_config;

/* Serves the HTTP API over t until SIGINT or SIGTERM, then stops accepting,
 * lets in-flight requests finish and returns TM_OK. Errors (bad listen
 * address, port in use) return before serving, with tm_errmsg() set. */
int tm_server_run(tm *t, const tm_server_config *cfg);

#endif
