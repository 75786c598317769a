/*
 * cmd_serve.c — `tokmeter serve`: the daemon.
 */
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *listen = "127.0.0.1:8787", *max_body = NULL;
    int quiet = 0;
    const cli_opt opts[] = {
        {"listen", "ADDR:PORT", "where to listen (default 127.0.0.1:8787; port 0 picks one)", &listen, NULL, NULL, NULL},
        {"max-body", "BYTES", "largest request body (default 8388608)", &max_body, NULL, NULL, NULL},
        {"quiet", NULL, "no startup line", NULL, &quiet, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_serve, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_serve, opts,
                 "Routes: POST /v1/events (an event, a JSON array, or NDJSON; answers after the\n"
                 "events are on disk), GET /healthz, GET /readyz. See docs/api.md.\n"
                 "SIGINT or SIGTERM: finish in-flight requests, flush, exit 0.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    tm_server_config cfg = {listen, cli_db_path(g), 8u << 20, 0, quiet};
    if (max_body && cli_parse_count("max-body", max_body, &cfg.max_body))
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = tm_server_run(t, &cfg);
    if (rc)
        cli_error("serve", rc);
    int crc = tm_close(t);
    if (crc && !rc)
        cli_error("serve: flush", crc);
    return rc || crc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_serve = {"serve", "", "Run the HTTP API daemon on the store.", run};
