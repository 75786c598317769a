/*
 * server_int.h — what the daemon's files share: the request, the routes,
 * replies, metrics and logging. (server.h is the face; this is inside.)
 */
#ifndef TM_SERVER_INT_H
#define TM_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../lib/lib.h"
#include "server.h"
#include "web.h"

enum { SC_OPEN, SC_INGEST, SC_READ, SC_METRICS }; /* what a route needs */

typedef struct srv srv;
typedef struct req req;

typedef struct route {
    const char *method;
    const char *path;       /* exact, or a prefix when it ends in '/'         */
    const char *suffix;     /* for a prefix: what follows the one segment     */
    const char *name;       /* the metrics label                              */
    int scope;
    enum MHD_Result (*fn)(req *r);
} route;

#define NSTATUS 14
/* The query arguments a request may carry; more get 414 (see uri_seen). */
#define TM_MAX_QUERY_ARGS 256
#define NBUCKETS 11

struct srv {
    tm *t;
    tm_server_config cfg;   /* limits may change on SIGHUP                   */
    tm_server_config file_cfg; /* what the config file itself said (no
                               command-line flags): a reload compares with it */
    uint64_t requests[32][NSTATUS];     /* per route (last: unknown) × status */
    uint64_t dur_le[32][NBUCKETS], dur_count[32];
    uint64_t dur_sum_us[32];
    uint64_t events[3];     /* accepted, duplicates, rejected                 */
    int64_t nokeys_until_us;/* "no key exists" is trusted until then (1 s)    */
    int keys_required;      /* set once, never cleared: see authorize()       */
    struct tm_alerts *alerts;       /* rules; swapped on SIGHUP under amu       */
    pthread_mutex_t amu;
    pthread_cond_t acv;
    int astop;
    int adirty;             /* events arrived: evaluate soon (at most 1/s)     */
    char *outbox[64];       /* notifications for the evaluator to deliver      */
    int noutbox;
    struct tm_proxy *proxy; /* the gateway (proxy.c)                           */
    struct conn *conns;     /* every open connection (conns.c), under cmu      */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    int cstop;
    /* Requests whose connection is suspended while their events commit
     * (route_events.c), counted from suspend to completion, under wmu; at
     * shutdown wstop makes new ones wait on their thread instead, and the
     * stop waits for the count to reach 0 before libmicrohttpd stops. */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    unsigned nwaiting;
    int wstop;
    struct sockaddr_storage self; /* where the daemon listens (tm__resume)    */
    unsigned selflen;       /* 0: not listening (the fuzz harness)            */
    unsigned nunsignalled;  /* resumes whose signal failed, not yet taken (wmu) */
    int64_t plain_until_us; /* a resume signal failed: requests wait on their
                             * thread until then instead of suspending (wmu) */
};

struct req {
    srv *s;
    struct MHD_Connection *c;
    const char *url, *method;
    const route *rt;        /* NULL: no such route                            */
    int route_ix;
    tm_buf body;
    int too_big, too_slow;
    size_t nargs;           /* query arguments, when over TM_MAX_QUERY_ARGS   */
    int64_t start_us;
    tm_key_rec key;         /* the caller's key, when one was given           */
    int has_key;
    unsigned status;
    size_t nevents;
    struct px_call *px;     /* a proxied call (proxy.c), or NULL              */
    int proxied;
    char allow[32];         /* a 405's Allow header: the route's methods       */
    struct tm_track_job *job; /* events committing while the connection is
                               suspended (route_events.c)                    */
    int waiting;            /* counted in srv.nwaiting until completed          */
    int unsignalled;        /* counted in srv.nunsignalled until resumed        */
};

extern const route tm__routes[];
extern const unsigned tm__statuses[NSTATUS]; /* the metrics' status labels; last: other */
extern const size_t tm__nroutes;

/* Queues status with len bytes of data as Content-Type type, plus the
 * header pairs in extra (name, value, ..., NULL; extra may be NULL);
 * persistent: data outlives the response and is not copied. */
enum MHD_Result tm__reply_as(req *r, unsigned status, const void *data, size_t len,
                             int persistent, const char *type, const char *const *extra);
enum MHD_Result tm__reply(req *r, unsigned status, const tm_buf *b);
enum MHD_Result tm__reply_error(req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The one mapping of a library error to an answer, with tm_errmsg():
 * TM_EINVAL 400 with `invalid` (the route's code for bad input: invalid_body,
 * invalid_query), TM_ETOOBIG 413 too_large, TM_ENOTFOUND 404 not_found,
 * TM_EBUSY, TM_ECLOSED and TM_ENOMEM 503 store_error (try again), anything
 * else 500 store_error. Routes that give TM_ETOOBIG another meaning answer
 * it before calling this. */
enum MHD_Result tm__reply_rc(req *r, int rc, const char *invalid);
/* A query-string argument, or NULL. */
const char *tm__arg(req *r, const char *key);
/* 1 (after replying 403) when a user-bound key asks for data that is not
 * its user's; user NULL means an aggregate over users. */
int tm__forbid_user(req *r, const char *user, enum MHD_Result *ret);

void tm__log(const srv *s, int level, const char *msg, const char *const *kv);

/* May a request without a key go on? 1 yes, 0 no (a key is required, and
 * stays required once the store has held one), -1 the store failed
 * (tm_errmsg). For every way in: the API's routes and the gateway. */
int tm__anonymous_ok(srv *s);

/* Connections (conns.c): the states a connection goes through. */
enum { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_BUSY, CONN_CUT };
/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection; at accept, makes
 * room when a connection limit is reached. */
void tm__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
/* Moves c's connection to state (CONN_IDLE, CONN_HEAD restart its clock). Returns 0, or
 * when the connection was already given up, the status it was answered
 * with (408) or 1 when it was closed without one: the caller stops. */
int tm__conn_enter(srv *s, struct MHD_Connection *c, int state);
/* The thread that enforces the header and request deadlines, until cstop. */
void *tm__conn_reaper(void *srv);

/* Events were stored: let the evaluator run the alert rules soon. */
void tm__alerts_nudge(srv *s);
/* Logs a new failure of the rate limits' Redis once, and its recovery. */
void tm__redis_log(const srv *s);
/* The change notifier's log hook (tm__notify_log; arg: the srv). */
void tm__notify_logged(void *arg, int up, const char *why);

/* A soft quota limit was passed at a check: record the alert (once per
 * user and limit until the period resets) and queue its notification. */
void tm__soft_limit_alert(srv *s, const char *user, const char *warning, int64_t reset_us);
void tm__metrics_render(srv *s, tm_buf *b);

/* MHD_resume_connection, from any thread. libmicrohttpd wakes the
 * connection's thread with a write to its inter-thread channel; should that
 * write fail (fault injection makes every write(2) fail), the thread would
 * sleep until some other event, so tm__resume wakes them all with a
 * connection to the daemon's own listening socket instead. */
void tm__resume(req *r);
/* The resume of r has been taken (its handler runs again, or it closed). */
void tm__resumed(req *r);
/* The reaper's tick: while a resume's signal is lost, wake the threads again. */
void tm__wake_lost(srv *s);
/* A request that stores events is over (completed, shutdown): frees its
 * job if the answer never went out, and ends its count in nwaiting. */
void tm__events_completed(req *r);
/* Shutdown: no request suspends from now on; waits (up to max_s) for the
 * suspended ones to be answered. */
void tm__events_drain(srv *s, unsigned max_s);

/* GET /v1/export (route_export.c). */
enum MHD_Result tm__get_export(req *r);
/* GET / and GET /assets/NAME: the dashboard's files (route_web.c). */
enum MHD_Result tm__get_web(req *r);


/* The route handlers (route_*.c), for the table in routes.c. */
enum MHD_Result tm__route_post_events(req *r);
enum MHD_Result tm__route_get_usage(req *r);
enum MHD_Result tm__route_get_errors(req *r);
enum MHD_Result tm__route_get_user_usage(req *r);
enum MHD_Result tm__route_get_user_quota(req *r);
enum MHD_Result tm__route_put_user(req *r);
enum MHD_Result tm__route_post_check(req *r);
enum MHD_Result tm__route_seed_realtime(req *r);
enum MHD_Result tm__route_seed_aggregates(req *r);
enum MHD_Result tm__route_seed_costs(req *r);
enum MHD_Result tm__route_seed_latency(req *r);
enum MHD_Result tm__route_seed_user(req *r);
enum MHD_Result tm__route_get_alerts(req *r);
enum MHD_Result tm__route_get_me(req *r);
enum MHD_Result tm__route_healthz(req *r);
enum MHD_Result tm__route_readyz(req *r);
enum MHD_Result tm__route_metrics(req *r);
enum MHD_Result tm__route_openapi(req *r);
/* Shared by the read routes (route_usage.c): runs q bounded by the
 * daemon's row limit; on failure replies and returns 1. */
int tm__route_query(req *r, tm_query_spec *q, tm_qresult **res, enum MHD_Result *ret);
/* The user id in url between prefix and suffix, unescaped, into buf; NULL
 * when the url is not that shape. */
const char *tm__path_user(const char *url, const char *prefix, const char *suffix, char *buf, size_t cap);
/* One user's month as the seed lesson's object (envelope: in the seed's
 * {"success": true, "data": ...}). */
enum MHD_Result tm__user_usage_reply(req *r, const char *user, int envelope);

#endif
