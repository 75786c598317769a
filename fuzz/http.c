/*
 * http.c — fuzzes the daemon's HTTP request path in process: the input is
 * the raw bytes a client sends (request line, path, query string, headers,
 * body; several requests when it pipelines them), fed through a socketpair
 * to a real libmicrohttpd daemon running the daemon's own request handler,
 * routes, auth, limits and replies over a real store.
 *
 * The handler and its completion callback are static in src/server/http.c,
 * reached only through a listening socket, so this file includes that
 * source whole: the library's copy of http.o is then never linked in (the
 * archive member is not needed), and no hook is added to the library.
 * The daemon here has no listen socket and no thread of its own; each
 * input is one connection added with MHD_add_connection and driven with
 * MHD_run until no more bytes come back, then closed.
 *
 * Checked beyond the sanitizers: the connection is released once the
 * client closes it, and no input gets a 500. A request that stores events
 * is suspended while the writer thread commits them; the loops wait for
 * it (up to 30 s) rather than count those rounds as quiet. The gateway (proxy.c) is not
 * started: it forwards to upstreams over the network, which a fuzz run has
 * not; its paths then answer as a daemon without a gateway does.
 */
#include "../src/server/http.c"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

static struct MHD_Daemon *daemon_;
static srv *srv_;

static void start(void)
{
    signal(SIGPIPE, SIG_IGN);
    srv_ = calloc(1, sizeof *srv_);
    if (!srv_)
        abort();
    srv_->t = fz_store(NULL, NULL);
    tm__server_defaults(&srv_->cfg);
    srv_->cfg.quiet = 1;
    srv_->cfg.log_level = 9; /* nothing is logged */
    srv_->cfg.max_body = 1 << 20;
    pthread_mutex_init(&srv_->amu, NULL);
    pthread_cond_init(&srv_->acv, NULL);
    pthread_mutex_init(&srv_->cmu, NULL);
    pthread_cond_init(&srv_->ccv, NULL);
    pthread_mutex_init(&srv_->wmu, NULL);
    pthread_cond_init(&srv_->wcv, NULL);
    if (tm__alerts_load(&srv_->alerts, NULL) != TM_OK)
        abort();
    tm__set_event_hook(srv_->t, event_log, srv_);
    /* tm_server_run's options, less the listen socket and the threads. */
    daemon_ = MHD_start_daemon(
        MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handler, srv_,
        MHD_OPTION_NOTIFY_COMPLETED, completed, srv_, MHD_OPTION_NOTIFY_CONNECTION, tm__conn_notify,
        srv_, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, srv_, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        srv_->cfg.max_header + 16384 + TM_MAX_QUERY_ARGS * 64, MHD_OPTION_CONNECTION_TIMEOUT, 5u,
        MHD_OPTION_END);
    if (!daemon_) {
        fprintf(stderr, "http: MHD_start_daemon failed\n");
        abort();
    }
}

static unsigned open_connections(void)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/* Storing requests not yet completed: suspended while the writer thread
 * commits their events (route_events.c), so a quiet round is not the end. */
static unsigned storing(void)
{
    pthread_mutex_lock(&srv_->wmu);
    unsigned n = srv_->nwaiting;
    pthread_mutex_unlock(&srv_->wmu);
    return n;
}

/* Waits a moment for a commit; aborts when one takes over 30 s. */
static void wait_commit(int *waited_ms)
{
    if (++*waited_ms > 30000) {
        fprintf(stderr, "http: a storing request stayed suspended for 30 s\n");
        abort();
    }
    usleep(1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    if (!daemon_)
        start();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(daemon_, sv[0], (struct sockaddr *)&peer, sizeof peer) != MHD_YES)
        abort();
    size_t sent = 0, got = 0;
    int waited_ms = 0;
    char head[16] = {0}, sink[8192];
    for (int quiet = 0, round = 0; quiet < 3 && round < 10000; round++) {
        int progress = 0;
        if (sent < size) {
            ssize_t w = write(sv[1], data + sent, size - sent);
            if (w > 0)
                sent += (size_t)w, progress = 1;
        }
        MHD_run(daemon_);
        ssize_t r;
        while ((r = read(sv[1], sink, sizeof sink)) > 0) {
            if (got < sizeof head - 1)
                memcpy(head + got, sink, (size_t)r < sizeof head - 1 - got ? (size_t)r : sizeof head - 1 - got);
            got += (size_t)r, progress = 1;
        }
        if (r == 0)
            break; /* the daemon closed the connection */
        if (!progress && storing()) {
            wait_commit(&waited_ms);
            progress = 1;
            round--;
        }
        quiet = progress ? 0 : quiet + 1;
    }
    close(sv[1]);
    for (int round = 0; open_connections() > 0; round++) {
        if (storing()) {
            wait_commit(&waited_ms);
            round = 0;
        }
        if (round == 1000) {
            fprintf(stderr, "http: the connection stayed open after the client closed it\n");
            abort();
        }
        MHD_run(daemon_);
    }
    if (strncmp(head, "HTTP/1.1 500", 12) == 0) {
        fprintf(stderr, "http: the daemon answered 500\n");
        abort();
    }
    return 0;
}
