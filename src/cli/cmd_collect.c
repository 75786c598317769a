/*
 * cmd_collect.c — `tokmeter collect`: pull every configured source (or
 * one), normalise, store and check, then the seed's summary line:
 * "Collected usage from 3 sources. Total tokens: 15,420. Cost: $0.52".
 * A failing source is reported and the others still run; the exit status
 * is 1 when any failed.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/json.h"
#include "../ingest/ingest.h"
#include "cli.h"

static void log_line(void *arg, const char *line)
{
    if (!*(int *)arg)
        fprintf(stderr, "%s\n", line);
}

static void result_json(tm_buf *b, const tm_collect_result *r)
{
    char cost[64];
    tm__dec_format(r->cost, 12, cost);
    tm__buf_puts(b, "{\"source\":");
    tm__json_str(b, r->source, strlen(r->source));
    tm__buf_printf(b, ",\"ok\":%s,\"records\":%lld,\"stored\":%lld,\"replaced\":%lld,"
                      "\"duplicates\":%lld,\"rejected\":%lld,\"total_tokens\":%lld,\"cost_usd\":%s,\"error\":",
                   r->ok ? "true" : "false", (long long)r->buckets, (long long)r->stored,
                   (long long)r->replaced, (long long)r->duplicates, (long long)r->rejected,
                   (long long)r->tokens, cost);
    if (r->ok)
        tm__buf_puts(b, "null");
    else
        tm__json_str(b, r->message, strlen(r->message));
    tm__buf_putc(b, '}');
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *only = NULL, *since = NULL, *until = NULL, *width = NULL, *tries = NULL,
               *timeout = NULL;
    int quiet = 0;
    const cli_opt opts[] = {
        {"source", "NAME", "collect only this source", &only, NULL, NULL, NULL},
        {"since", "DATE", "start of the window (RFC 3339, a date, or 7d back; default 30 days back)", &since, NULL, NULL, NULL},
        {"until", "DATE", "end of the window (default now)", &until, NULL, NULL, NULL},
        {"bucket-width", "W", "provider buckets: 1d (default) or 1h", &width, NULL, NULL, NULL},
        {"max-tries", "N", "tries per request while rate limited (429; default 5)", &tries, NULL, NULL, NULL},
        {"timeout", "SECONDS", "per request (default 30)", &timeout, NULL, NULL, NULL},
        {"quiet", NULL, "no progress or retry messages on stderr", NULL, &quiet, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_collect, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_collect, opts,
                 "Each source is pulled, normalised into events (one per usage bucket, or per\n"
                 "agent response), stored, and summed. Collecting a window again never counts\n"
                 "twice; a bucket still open last time is updated when it closes.\n"
                 "A rejected key (401/403) says how to reconfigure; 5xx, network errors and\n"
                 "timeouts are reported per source; 429 waits (Retry-After, else exponential\n"
                 "backoff with jitter) and tries again. Exit status 1 if any source failed.\n"
                 "Examples:\n"
                 "  tokmeter sources add openai --type openai-usage --key-env OPENAI_ADMIN_KEY\n"
                 "  tokmeter collect\n"
                 "  tokmeter collect --source openai --since 2026-11-01 --bucket-width 1h\n");
        return EXIT_OK;
    }
    if (npos != 0) {
        if (npos > 0)
            fprintf(stderr, "tokmeter collect: unexpected argument '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    tm_collect_opts o = {.log = log_line, .log_arg = &quiet, .bucket_width_hours = 24};
    size_t n_tries = 0;
    const char *names[2] = {"since", "until"}, *texts[2] = {since, until};
    int64_t *slots[2] = {&o.since_us, &o.until_us};
    for (int i = 0; i < 2; i++)
        if (texts[i] && cli_parse_time(names[i], texts[i], slots[i]) < 0) {
            return EXIT_USAGE;
        }
    if (width && strcmp(width, "1h") != 0 && strcmp(width, "1d") != 0) {
        fprintf(stderr, "tokmeter collect: --bucket-width: must be 1h or 1d, not '%s'\n", width);
        return EXIT_USAGE;
    }
    if (width && strcmp(width, "1h") == 0)
        o.bucket_width_hours = 1;
    if (tries && (cli_parse_count("max-tries", tries, &n_tries) != 0 || n_tries == 0 || n_tries > 20)) {
        if (n_tries == 0 || n_tries > 20)
            fprintf(stderr, "tokmeter collect: --max-tries: must be 1 to 20\n");
        return EXIT_USAGE;
    }
    o.max_tries = (int)n_tries;
    size_t n_timeout = 0;
    if (timeout && (cli_parse_count("timeout", timeout, &n_timeout) != 0 || n_timeout == 0 || n_timeout > 3600)) {
        if (n_timeout == 0 || n_timeout > 3600)
            fprintf(stderr, "tokmeter collect: --timeout: must be 1 to 3600 seconds\n");
        return EXIT_USAGE;
    }
    o.timeout_s = (double)n_timeout;
    const char *config = cli_config_target(g);
    tm_source *src = NULL;
    size_t n = 0;
    int rc = tm__sources_load(config, &src, &n);
    if (rc) {
        cli_error("collect", rc);
        return EXIT_FAIL;
    }
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += !only || strcmp(src[i].name, only) == 0;
    if (!want) {
        if (only)
            fprintf(stderr, "tokmeter collect: no source named '%s' in %s (see `tokmeter sources list`)\n", only, config);
        else
            fprintf(stderr, "tokmeter collect: no sources configured in %s; add one with\n"
                            "  tokmeter sources add openai --type openai-usage --key-env OPENAI_ADMIN_KEY\n"
                            "  tokmeter sources add claude --type claude-code\n", config);
        free(src);
        return EXIT_FAIL;
    }
    tm *t = cli_open(g);
    if (!t) {
        free(src);
        return EXIT_FAIL;
    }
    int64_t tokens = 0, ok = 0, failed = 0;
    tm_i128 cost = 0;
    tm_buf out = TM_BUF_INIT, failures = TM_BUF_INIT;
    if (g->json)
        tm__buf_puts(&out, "{\"sources\":[");
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        if (only && strcmp(src[i].name, only) != 0)
            continue;
        tm_collect_result r;
        rc = tm__collect(t, &src[i], &o, &r);
        if (rc)
            break;
        char a[32], b[32], c[32], d[32], e[32], usd[64];
        if (r.ok) {
            ok++;
            tokens += r.tokens;
            cost += r.cost;
            tm__dec_format_fixed(r.cost, 12, 2, usd);
            if (!g->json)
                tm__buf_printf(&out, "%s: %s records, %s tokens, $%s (%s new, %s updated, %s already stored)\n",
                               r.source, cli_count(r.buckets, a), cli_count(r.tokens, b), usd,
                               cli_count(r.stored, c), cli_count(r.replaced, d),
                               cli_count(r.duplicates, e));
            if (!g->json && r.rejected)
                tm__buf_printf(&out, "%s: %lld records refused, the first: %s\n", r.source,
                               (long long)r.rejected, r.first_reject);
        } else {
            failed++;
            tm__buf_printf(&failures, "%s%s", failures.len ? ", " : "", r.source);
            fprintf(stderr, "tokmeter collect: %s: %s\n", r.source, r.message);
        }
        if (g->json) {
            if (ok + failed > 1)
                tm__buf_putc(&out, ',');
            result_json(&out, &r);
        }
    }
    if (rc == TM_OK) {
        char a[32], usd[64];
        tm__dec_format_fixed(cost, 12, 2, usd);
        if (g->json) {
            char exact[64];
            tm__dec_format(cost, 12, exact);
            tm__buf_printf(&out, "],\"collected\":%lld,\"failed\":%lld,\"total_tokens\":%lld,\"cost_usd\":%s}\n",
                           (long long)ok, (long long)failed, (long long)tokens, exact);
        } else {
            tm__buf_printf(&out, "Collected usage from %lld source%s. Total tokens: %s. Cost: $%s\n",
                           (long long)ok, ok == 1 ? "" : "s", cli_count(tokens, a), usd);
            if (failed)
                tm__buf_printf(&out, "%lld source%s failed: %s (see the messages above).\n",
                               (long long)failed, failed == 1 ? "" : "s", failures.data);
        }
        if (out.data)
            fputs(out.data, stdout);
    }
    int rc2 = tm_close(t);
    if (rc == TM_OK)
        rc = rc2;
    if (rc)
        cli_error("collect", rc);
    tm__buf_free(&out);
    tm__buf_free(&failures);
    free(src);
    return rc ? EXIT_FAIL : failed ? EXIT_FAIL : EXIT_OK;
}

const cli_cmd cmd_collect = {"collect", "", "Pull usage from every configured source, store it, and sum it up.", run};
