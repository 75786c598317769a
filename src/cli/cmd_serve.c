/*
 * cmd_serve.c — `tokmeter serve`: the daemon. Flags override the config
 * file, which overrides the defaults.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "cli.h"

static int run(cli_global *g, int argc, char **argv)
{
    const char *listen = NULL, *max_body = NULL, *log_format = NULL, *log_level = NULL;
    int quiet = 0;
    const cli_opt opts[] = {
        {"listen", "ADDR:PORT", "where to listen (default 127.0.0.1:8787; port 0 picks one)", &listen, NULL, NULL, NULL},
        {"max-body", "BYTES", "largest request body (default 8388608)", &max_body, NULL, NULL, NULL},
        {"log-format", "F", "logfmt (default) or json", &log_format, NULL, NULL, NULL},
        {"log-level", "L", "debug (a line per event), info (default), warn, error", &log_level, NULL, NULL, NULL},
        {"quiet", NULL, "no startup line", NULL, &quiet, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_serve, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_serve, opts,
                 "The web dashboard is at / (http://127.0.0.1:8787/ by default).\n"
                 "Routes (docs/api.md): POST /v1/events, GET /v1/usage, GET /v1/users/{id}/usage,\n"
                 "the seed guide's /api/usage/... routes, GET /metrics, /healthz, /readyz.\n"
                 "The gateway (docs/proxy.md): /openai/..., /anthropic/... and /proxy/{upstream}/...\n"
                 "forward to the config's \"upstreams\" and record one event per call.\n"
                 "With API keys (tokmeter keys create) every route but the health checks and the\n"
                 "dashboard's page and files needs Authorization: Bearer KEY; without any, it\n"
                 "serves only on a loopback address.\n"
                 "SIGINT or SIGTERM: finish in-flight requests, flush, exit 0. SIGHUP: reload the\n"
                 "config file and the prices.\n");
        return EXIT_OK;
    }
    if (npos != 0)
        return EXIT_USAGE;
    /* A query allocates and frees a few MB (rows, sketches, remembered
     * cells). glibc returned each block over 128 KiB to the kernel when
     * freed and trimmed the heap, so every query faulted its pages in
     * again: a quarter of the CPU of a top-users call at 10M events. The
     * daemon keeps up to 64 MiB of freed memory per malloc arena instead. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    const char *config = cli_config_path(g);
    if (cli_readable("config file", config))
        return EXIT_FAIL;
    tm_server_config cfg;
    tm__server_defaults(&cfg);
    if (config && tm__server_config_load(&cfg, config) != TM_OK) {
        cli_error("serve", TM_EINVAL);
        return EXIT_USAGE;
    }
    if (listen)
        snprintf(cfg.listen, sizeof cfg.listen, "%s", listen);
    if (tm__server_check_listen(cfg.listen) != TM_OK) { /* a usage error, before the store */
        cli_error("serve", TM_EINVAL);
        return EXIT_USAGE;
    }
    if (max_body && cli_parse_count("max-body", max_body, &cfg.max_body))
        return EXIT_USAGE;
    if (log_format) {
        if (strcmp(log_format, "json") && strcmp(log_format, "logfmt")) {
            fprintf(stderr, "tokmeter serve: --log-format must be logfmt or json\n");
            return EXIT_USAGE;
        }
        cfg.log_json = strcmp(log_format, "json") == 0;
    }
    if (log_level) {
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        cfg.log_level = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(log_level, levels[i]) == 0)
                cfg.log_level = i;
        if (cfg.log_level < 0) {
            fprintf(stderr, "tokmeter serve: --log-level must be debug, info, warn or error\n");
            return EXIT_USAGE;
        }
    }
    cfg.quiet = quiet;
    /* The store and prices: flags, then the config file, then the defaults
     * (cli_db_path reads the config's store, as for every command). */
    if (!g->prices && cfg.prices[0])
        g->prices = cfg.prices;
    snprintf(cfg.db, sizeof cfg.db, "%s", cli_db_path(g));
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    int rc = tm__server_run(t, &cfg, config);
    if (rc)
        cli_error("serve", rc);
    int crc = tm_close(t);
    if (crc && !rc)
        cli_error("serve: flush", crc);
    return rc || crc ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_serve = {"serve", "", "Run the HTTP API daemon on the store.", run};
