/*
 * conns.c — the daemon's connections, tracked from accept to close, so
 * that slow clients cannot hold them (issue 12, defect 3):
 *
 *  - a header deadline: once the request line is in, the headers must be in
 *    within min(idle_timeout_s, request_timeout_s) of the start of the
 *    request, however slowly they trickle in (libmicrohttpd's own timeout
 *    is reset by every byte); a connection without a whole request line
 *    is closed after max(idle_timeout_s, request_timeout_s) (the longer
 *    limit: while one request runs long, its thread does not read the
 *    other connections it serves, and an idle one is libmicrohttpd's to
 *    close);
 *  - a whole-request deadline enforced while the body is still arriving:
 *    past request_timeout_s the client gets 408 at once, not after its
 *    last byte;
 *  - limits that keep a normal client served: when the per-address or the
 *    global connection limit is reached, the connection from that address
 *    (or any) that has waited longest without a complete request is closed
 *    to make room, rather than the new one being refused.
 *
 * Each connection is in one state; its clock (t0) restarts at accept, when
 * an answer has been sent (CONN_IDLE) and when a request line is in (CONN_HEAD):
 *
 *   CONN_IDLE  no request yet           CONN_BODY  headers in, body arriving
 *   CONN_HEAD  request line in          CONN_BUSY  being handled or answered
 *   CONN_CUT   given up (a deadline or an eviction): closing
 *
 * A reaper thread checks the deadlines four times a second. Connections are
 * only ever shut down (shutdown(2)) from here, never closed: libmicrohttpd
 * owns the descriptor, sees the end and closes it, telling conn_notify
 * (under the lock) before it does, so a descriptor used here is never stale.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../core/tmtime.h"
#include "server_int.h"

struct conn {
    struct conn *prev, *next;
    int fd;
    int state;
    int shut;               /* both directions shut down                  */
    unsigned cut_status;    /* 408 when the reaper answered it             */
    int64_t t0, cut_us;
    struct sockaddr_storage addr;
};

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

static void cut(struct conn *k, int64_t now, int how)
{
    k->state = CONN_CUT;
    k->cut_us = now;
    shutdown(k->fd, how);
    k->shut = how == SHUT_RDWR;
}

/* Over a limit: close the connection of `match` (or any, when NULL) that
 * has waited longest without a complete request (never one being handled);
 * if there is none, the new connection k itself. Caller holds cmu. */
static void make_room(srv *s, struct conn *k, const struct sockaddr_storage *match, const char *why)
{
    struct conn *victim = NULL;
    for (struct conn *o = s->conns; o; o = o->next) {
        if (o == k || o->state > CONN_HEAD || (match && !same_addr(&o->addr, match)))
            continue;
        if (!victim || o->t0 < victim->t0)
            victim = o;
    }
    if (!victim)
        victim = k;
    cut(victim, tm__now_us(), SHUT_RDWR);
    const char *kv[] = {"limit", why, "closed", victim == k ? "the new connection" : "the longest waiting",
                        NULL};
    tm__log(s, 2, "connection limit reached", kv);
}

void tm__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    srv *s = cls;
    struct conn *k = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!k)
            return;
        pthread_mutex_lock(&s->cmu);
        if (k->prev)
            k->prev->next = k->next;
        else
            s->conns = k->next;
        if (k->next)
            k->next->prev = k->prev;
        pthread_mutex_unlock(&s->cmu);
        free(k);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!fd || !(k = calloc(1, sizeof *k)))
        return; /* untracked: libmicrohttpd's own idle timeout still applies */
    k->fd = fd->connect_fd;
    k->t0 = tm__now_us();
    if (ad && ad->client_addr)
        memcpy(&k->addr, ad->client_addr,
               ad->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    *socket_context = k;
    pthread_mutex_lock(&s->cmu);
    k->next = s->conns;
    if (s->conns)
        s->conns->prev = k;
    s->conns = k;
    unsigned all = 0, here = 0;
    for (struct conn *o = s->conns; o; o = o->next)
        if (o->state != CONN_CUT) {
            all++;
            here += same_addr(&o->addr, &k->addr);
        }
    if (here > s->cfg.max_per_ip)
        make_room(s, k, &k->addr, "max_connections_per_ip");
    else if (all > s->cfg.max_connections)
        make_room(s, k, NULL, "max_connections");
    pthread_mutex_unlock(&s->cmu);
}

int tm__conn_enter(srv *s, struct MHD_Connection *c, int state)
{
    struct conn *k = conn_of(c);
    int rc = 0;
    if (!k)
        return 0;
    pthread_mutex_lock(&s->cmu);
    if (k->state == CONN_CUT) {
        rc = k->cut_status ? (int)k->cut_status : 1;
    } else {
        k->state = state;
        if (state == CONN_IDLE || state == CONN_HEAD)
            k->t0 = tm__now_us();
    }
    pthread_mutex_unlock(&s->cmu);
    return rc;
}

/* The 408 for a body still arriving at the deadline, written straight to
 * the socket: libmicrohttpd 0.9.75 cannot queue a response before the body
 * is complete, and it writes nothing itself while it reads a body. */
static void answer_408(struct conn *k, unsigned limit)
{
    char body[160], msg[400];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"request_timeout\",\"message\":"
                     "\"the request took longer than %u s\"}}\n", limit);
    int m = snprintf(msg, sizeof msg,
                     "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", n, body);
    ssize_t w = send(k->fd, msg, (size_t)m, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* a client that cannot take 200 bytes is closed all the same */
}

void *tm__conn_reaper(void *arg)
{
    srv *s = arg;
    pthread_setname_np(pthread_self(), "tm-reaper");
    pthread_mutex_lock(&s->cmu);
    while (!s->cstop) {
        struct timespec until = tm__deadline(250000);
        pthread_cond_timedwait(&s->ccv, &s->cmu, &until);
        pthread_mutex_unlock(&s->cmu);
        tm__wake_lost(s); /* connects to the daemon: conn_notify takes cmu */
        pthread_mutex_lock(&s->cmu);
        if (s->cstop)
            break;
        unsigned req_s = __atomic_load_n(&s->cfg.request_timeout_s, __ATOMIC_RELAXED);
        unsigned idle_s = s->cfg.idle_timeout_s;
        int64_t head_us = (int64_t)(idle_s < req_s ? idle_s : req_s) * 1000000;
        int64_t line_us = (int64_t)(idle_s > req_s ? idle_s : req_s) * 1000000;
        int64_t now = tm__now_us();
        for (struct conn *k = s->conns; k; k = k->next) {
            int64_t age = now - k->t0;
            if ((k->state == CONN_HEAD && age > head_us) || (k->state == CONN_IDLE && age > line_us)) {
                cut(k, now, SHUT_RDWR);
            } else if (k->state == CONN_BODY && age > (int64_t)req_s * 1000000) {
                /* Answer, then stop sending; the read side stays open a
                 * moment so that closing does not reset the connection
                 * under the answer while the client is still sending. */
                answer_408(k, req_s);
                k->cut_status = 408;
                cut(k, now, SHUT_WR);
            } else if (k->state == CONN_CUT && !k->shut && now - k->cut_us > 1000000) {
                shutdown(k->fd, SHUT_RDWR);
                k->shut = 1;
            }
        }
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}
