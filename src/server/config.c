/*
 * config.c — the daemon's JSON config file. Every key is documented in
 * docs/config.md; an unknown key is an error, so a typo cannot silently
 * leave a limit at its default.
 *
 *   {"listen": "127.0.0.1:8787", "db": "...", "prices": "...",
 *    "threads": 32,
 *    "limits": {"max_body_bytes": 8388608, "max_events_per_request": 10000,
 *               "max_connections": 1024, "max_connections_per_ip": 64,
 *               "idle_timeout_s": 30, "request_timeout_s": 60,
 *               "max_header_bytes": 16384, "max_query_rows": 2000000},
 *    "log": {"format": "logfmt", "level": "info"},
 *    "tiers": ..., "rate_limits": ..., "alerts": ..., "sources": ...}
 *
 * The last four sections belong to later features and are accepted as they
 * are for now.
 */
#include <stdio.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "../core/err.h"
#include "../core/json.h"
#include "server.h"

void tm__server_defaults(tm_server_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8787");
    c->max_body = 8u << 20;
    c->max_events = 10000;
    c->max_connections = 1024;
    c->max_per_ip = 64;
    c->idle_timeout_s = 30;
    c->request_timeout_s = 60;
    c->max_header = 16384;
    c->max_query_rows = 2000000;
    c->threads = 32;
    c->log_level = 1;
}

static int num(const char *path, const char *key, const tm_jv *v, uint64_t lo, uint64_t hi,
               uint64_t *out)
{
    if (v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, hi, out) != TM_DEC_OK || *out < lo)
        return tm__fail(TM_EINVAL, "%s: %s: must be a whole number from %llu to %llu", path, key,
                        (unsigned long long)lo, (unsigned long long)hi);
    return TM_OK;
}

static int str(const char *path, const char *key, const tm_jv *v, char *out, size_t cap)
{
    if (v->type != TM_J_STRING || v->n >= cap)
        return tm__fail(TM_EINVAL, "%s: %s: must be a string (at most %zu bytes)", path, key, cap - 1);
    memcpy(out, v->s, v->n + 1);
    return TM_OK;
}

static int limits(tm_server_config *c, const char *path, const tm_jv *o)
{
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: limits: must be an object", path);
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        uint64_t v = 0;
        int rc;
        if (strcmp(k, "max_body_bytes") == 0) {
            if (!(rc = num(path, "limits.max_body_bytes", o->vals[i], 1024, 1u << 30, &v)))
                c->max_body = v;
        } else if (strcmp(k, "max_events_per_request") == 0) {
            if (!(rc = num(path, "limits.max_events_per_request", o->vals[i], 1, 10000000, &v)))
                c->max_events = v;
        } else if (strcmp(k, "max_connections") == 0) {
            if (!(rc = num(path, "limits.max_connections", o->vals[i], 1, 100000, &v)))
                c->max_connections = (unsigned)v;
        } else if (strcmp(k, "max_connections_per_ip") == 0) {
            if (!(rc = num(path, "limits.max_connections_per_ip", o->vals[i], 1, 100000, &v)))
                c->max_per_ip = (unsigned)v;
        } else if (strcmp(k, "idle_timeout_s") == 0) {
            if (!(rc = num(path, "limits.idle_timeout_s", o->vals[i], 1, 86400, &v)))
                c->idle_timeout_s = (unsigned)v;
        } else if (strcmp(k, "request_timeout_s") == 0) {
            if (!(rc = num(path, "limits.request_timeout_s", o->vals[i], 1, 86400, &v)))
                c->request_timeout_s = (unsigned)v;
        } else if (strcmp(k, "max_query_rows") == 0) {
            if (!(rc = num(path, "limits.max_query_rows", o->vals[i], 1000, 1ull << 40, &v)))
                c->max_query_rows = v;
        } else if (strcmp(k, "max_header_bytes") == 0) {
            if (!(rc = num(path, "limits.max_header_bytes", o->vals[i], 1024, 1u << 20, &v)))
                c->max_header = v;
        } else {
            rc = tm__fail(TM_EINVAL, "%s: limits.%s: unknown key", path, k);
        }
        if (rc)
            return rc;
    }
    return TM_OK;
}

static int logsec(tm_server_config *c, const char *path, const tm_jv *o)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    if (o->type != TM_J_OBJECT)
        return tm__fail(TM_EINVAL, "%s: log: must be an object", path);
    for (size_t i = 0; i < o->n; i++) {
        const tm_jv *v = o->vals[i];
        if (strcmp(o->keys[i], "format") == 0 && v->type == TM_J_STRING &&
            (strcmp(v->s, "logfmt") == 0 || strcmp(v->s, "json") == 0)) {
            c->log_json = strcmp(v->s, "json") == 0;
        } else if (strcmp(o->keys[i], "level") == 0 && v->type == TM_J_STRING) {
            int l = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(v->s, levels[k]) == 0)
                    l = k;
            if (l < 0)
                return tm__fail(TM_EINVAL, "%s: log.level: must be debug, info, warn or error", path);
            c->log_level = l;
        } else {
            return tm__fail(TM_EINVAL, "%s: log.%s: unknown key or bad value (format: logfmt|json, "
                                       "level: debug|info|warn|error)", path, o->keys[i]);
        }
    }
    return TM_OK;
}

int tm__server_config_load(tm_server_config *c, const char *path)
{
    tm_arena a = TM_ARENA_INIT;
    tm_jv *root = NULL;
    int rc = tm__json_load_file(&a, path, 4u << 20, &root);
    for (size_t i = 0; rc == TM_OK && i < root->n; i++) {
        const char *k = root->keys[i];
        const tm_jv *v = root->vals[i];
        uint64_t n;
        if (strcmp(k, "listen") == 0)
            rc = str(path, k, v, c->listen, sizeof c->listen);
        else if (strcmp(k, "db") == 0)
            rc = str(path, k, v, c->db, sizeof c->db);
        else if (strcmp(k, "prices") == 0)
            rc = str(path, k, v, c->prices, sizeof c->prices);
        else if (strcmp(k, "threads") == 0) {
            if (!(rc = num(path, k, v, 1, 1024, &n)))
                c->threads = (unsigned)n;
        } else if (strcmp(k, "limits") == 0)
            rc = limits(c, path, v);
        else if (strcmp(k, "log") == 0)
            rc = logsec(c, path, v);
        else if (strcmp(k, "tiers") && strcmp(k, "rate_limits") && strcmp(k, "default_tier") &&
                 strcmp(k, "alerts") && strcmp(k, "upstreams") && strcmp(k, "proxy") &&
                 strcmp(k, "sources") && strcmp(k, "_comment"))
            rc = tm__fail(TM_EINVAL, "%s: %s: unknown key (see docs/config.md)", path, k);
    }
    tm__arena_free(&a);
    return rc;
}
