/*
 * server.c — HTTP glue on libmicrohttpd: request bodies, routing, JSON
 * responses and errors, graceful shutdown.
 *
 * A request's body is gathered (capped at max_body; a declared length over
 * the cap is refused with 413 before anything is read), then the route
 * runs. POST /v1/events answers only after tm_track_json has the accepted
 * events on disk.
 *
 * Errors are always JSON: {"error": {"code": "...", "message": "..."}}.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/json.h"

typedef struct req {
    tm_buf body;
    int too_big;
} req;

typedef struct srv {
    tm *t;
    const tm_server_config *cfg;
} srv;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, tm_buf *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *code,
                                   const char *msg)
{
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    tm__json_str(&b, msg, strlen(msg));
    tm__buf_puts(&b, "}}\n");
    enum MHD_Result ok = reply(c, status, &b);
    tm__buf_free(&b);
    return ok;
}

static enum MHD_Result post_events(srv *s, struct MHD_Connection *c, req *r)
{
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    unsigned flags = ctype && strncmp(ctype, "application/x-ndjson", 20) == 0 ? TM_JSON_NDJSON : 0;
    if (r->body.len && memchr(r->body.data, '\0', r->body.len))
        return reply_error(c, 400, "invalid_body", "body: contains a NUL byte");
    tm_batch_result *res = NULL;
    int rc = tm_track_json(s->t, r->body.data ? r->body.data : "", r->body.len, flags, idem, &res);
    if (rc == TM_EINVAL)
        return reply_error(c, 400, "invalid_body", tm_errmsg());
    if (rc)
        return reply_error(c, rc == TM_EBUSY || rc == TM_ECLOSED ? 503 : 500, "store_error",
                           tm_errmsg());
    tm_buf b = TM_BUF_INIT;
    tm__buf_printf(&b, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":[", res->accepted,
                   res->duplicates);
    size_t k = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (res->items[i].status != TM_ITEM_REJECTED)
            continue;
        tm__buf_printf(&b, "%s{\"index\":%zu,\"error\":", k++ ? "," : "", res->items[i].index);
        tm__json_str(&b, res->items[i].error, strlen(res->items[i].error));
        tm__buf_putc(&b, '}');
    }
    tm__buf_puts(&b, "]}\n");
    tm_batch_result_free(res);
    enum MHD_Result ok = reply(c, 200, &b);
    tm__buf_free(&b);
    return ok;
}

static enum MHD_Result route(srv *s, struct MHD_Connection *c, const char *url,
                             const char *method, req *r)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/v1/events") == 0 || strcmp(url, "/api/usage/track") == 0) {
        if (strcmp(method, "POST") != 0)
            return reply_error(c, 405, "method_not_allowed", "use POST");
        return post_events(s, c, r);
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        if (!get)
            return reply_error(c, 405, "method_not_allowed", "use GET");
        int64_t n = 0;
        int rc = strcmp(url, "/readyz") == 0 ? tm_count(s->t, &n) : TM_OK;
        if (rc)
            return reply_error(c, 503, "not_ready", tm_errmsg());
        tm_buf b = TM_BUF_INIT;
        tm__buf_puts(&b, "{\"status\":\"ok\"}\n");
        enum MHD_Result ok = reply(c, 200, &b);
        tm__buf_free(&b);
        return ok;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "no route %s %.200s", method, url);
    return reply_error(c, 404, "not_found", msg);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    req *r = *con_cls;
    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->body.max = s->cfg->max_body;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->cfg->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "body: larger than the limit of %zu bytes", s->cfg->max_body);
            r->too_big = 1;
            return reply_error(c, 413, "body_too_large", msg);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big && tm__buf_add(&r->body, upload, *upload_size) != TM_OK) {
            r->too_big = 1; /* chunked body over the cap */
            tm__buf_free(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "body: larger than the limit of %zu bytes", s->cfg->max_body);
        return reply_error(c, 413, "body_too_large", msg);
    }
    return route(s, c, url, method, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    req *r = *con_cls;
    if (r) {
        tm__buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* Parses "HOST:PORT" ("[v6]:PORT"); fills a sockaddr; tells if loopback. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *loopback)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return tm__fail(TM_EINVAL, "listen: '%s' must be HOST:PORT, like 127.0.0.1:8787", s);
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || end == colon + 1)
        return tm__fail(TM_EINVAL, "listen: port '%s' must be a number from 0 to 65535", colon + 1);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        size_t n = strlen(host);
        if (host[n - 1] != ']')
            return tm__fail(TM_EINVAL, "listen: '%s': unbalanced [ ]", s);
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return tm__fail(TM_EINVAL, "listen: '%s' is not an IPv6 address", host + 1);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return TM_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return tm__fail(TM_EINVAL, "listen: '%s' is not an IPv4 address (or [IPv6])", host);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return TM_OK;
}

int tm_server_run(tm *t, const tm_server_config *cfg)
{
    struct sockaddr_storage ss;
    int loopback = 0, rc, sig = 0;
    srv s = {t, cfg};
    if ((rc = parse_listen(cfg->listen, &ss, &loopback)))
        return rc;
    if (!loopback)
        return tm__fail(TM_EINVAL, "listen: %s is not a loopback address; serving beyond this "
                                   "machine needs API keys, which this version does not have yet",
                        cfg->listen);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 2);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, handler, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        return tm__fail(TM_EIO, "listen: cannot listen on %s: %s", cfg->listen, strerror(errno));
    }
    if (!cfg->quiet) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        fprintf(stderr, "level=info msg=\"tokmeter serving\" listen=%.*s:%u store=%s\n",
                (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen,
                info ? info->port : 0, cfg->db_path);
        fflush(stderr);
    }
    sigwait(&set, &sig);
    if (!cfg->quiet)
        fprintf(stderr, "level=info msg=\"stopping\" signal=%d\n", sig);
    MHD_stop_daemon(d); /* waits for in-flight requests */
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return TM_OK;
}
