/*
 * server.h — the face of the daemon: configuration (docs/config.md) and
 * `tokmeter serve`'s loop.
 */
#ifndef TM_SERVER_SERVER_H
#define TM_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "tokmeter.h"

typedef struct tm_server_config {
    char listen[128];           /* "127.0.0.1:8787", "[::1]:8787"               */
    char db[4096];              /* the store ("" : the CLI's default)           */
    char prices[4096];          /* a price file, or ""                          */
    size_t max_body;            /* bytes; larger bodies get 413 unread          */
    size_t max_events;          /* events per request                           */
    unsigned max_connections;   /* in total                                     */
    unsigned max_per_ip;        /* connections from one address                 */
    unsigned idle_timeout_s;    /* a connection silent this long is closed      */
    unsigned request_timeout_s; /* a request body must arrive within this       */
    size_t max_header;          /* bytes of request line and headers            */
    uint64_t max_query_rows;    /* rows one read may read (events, cells)       */
    unsigned threads;           /* request threads (each may wait on a commit)  */
    int log_json;               /* 0 logfmt, 1 JSON lines                       */
    int log_level;              /* 0 debug, 1 info, 2 warn, 3 error             */
    int quiet;                  /* no startup line                              */
} tm_server_config;

/* The defaults: loopback, 8 MiB bodies, 10,000 events, 1024 connections,
 * 64 per address, 30 s idle, 60 s per request, 16 KiB headers, 32 threads,
 * 2,000,000 rows read per query. */
void tm__server_defaults(tm_server_config *cfg);

/* Reads a JSON config file over cfg (keys it names replace the defaults).
 * Errors: TM_EINVAL naming the file and the key, TM_ENOTFOUND. */
int tm__server_config_load(tm_server_config *cfg, const char *path);

/* Checks a listen address ("HOST:PORT", "[::1]:PORT"): TM_OK, or TM_EINVAL
 * with tm_errmsg() saying what is wrong. */
int tm__server_check_listen(const char *listen);

/* Serves the HTTP API over t until SIGINT or SIGTERM, then stops accepting,
 * lets in-flight requests finish and returns TM_OK. SIGHUP reloads the
 * config file (if any: limits, log level) and the prices. Errors (bad
 * listen address, port in use, no keys on a public address) return before
 * serving, with tm_errmsg() set. */
int tm__server_run(tm *t, tm_server_config *cfg, const char *config_path);

/* API keys (keys.c): what the daemon's auth checks and `tokmeter keys`
 * manages. Create writes the new key (shown once) into key[cap ≥ 52] and
 * its record into *rec. Check returns TM_ENOTFOUND for an unknown,
 * malformed or revoked key. */
int tm__key_create(tm *t, const char *scope, const char *user, const char *name, char *key,
                   size_t cap, tm_key_rec *rec);
int tm__key_revoke(tm *t, const char *id);
int tm__key_list(tm *t, int (*fn)(void *arg, const tm_key_rec *k), void *arg);
int tm__key_check(tm *t, const char *presented, tm_key_rec *out);
/* Keys not revoked, and keys ever created (revoked ones included). */
int tm__keys_count(tm *t, int *active, int *ever);

#endif
