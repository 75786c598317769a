/*
 * cmd_import.c — `tokmeter import claude-code|codex|opencode [PATH...]`:
 * coding-agent usage from the agent's local logs into the store. Reads only
 * what is new since the last run; prints what it found and what it skipped.
 */
#include <string.h>
#include <unistd.h>

#include "../core/tmtime.h"

#include "../core/buf.h"
#include "../core/dec.h"
#include "../ingest/ingest.h"
#include "../lib/lib.h"
#include "cli.h"

/* The summary, for people or (--json) for programs. */
static void print_stats(const char *kind, const tm_import_stats *s, const tm_sums *tot, int json)
{
    char cost[64], a[32], b[32], c[32], d[32], e[32], t0[32], t1[32];
    tm__dec_format(tot->cost, 12, cost);
    tm__time_format(s->first_us, t0);
    tm__time_format(s->last_us, t1);
    if (json) {
        printf("{\"source\":\"%s\",\"files\":%lld,\"files_unchanged\":%lld,\"files_resumed\":%lld,"
               "\"files_reread\":%lld,\"bytes\":%lld,\"lines\":%lld,\"records\":%lld,"
               "\"stored\":%lld,\"replaced\":%lld,\"duplicates\":%lld,\"skipped\":{\"no_usage\":%lld,"
               "\"synthetic\":%lld,\"malformed\":%lld,\"before_since\":%lld,\"rejected\":%lld,"
               "\"unreadable\":%lld},"
               "\"span\":{\"from\":%s%s%s,\"to\":%s%s%s,\"events\":%lld,\"total_tokens\":%lld,"
               "\"cost_usd\":%s,\"unpriced\":%lld},\"seconds\":%.3f}\n",
               kind, (long long)s->files, (long long)s->unchanged, (long long)s->resumed,
               (long long)s->reread, (long long)s->bytes, (long long)s->lines,
               (long long)s->records, (long long)s->stored, (long long)s->replaced,
               (long long)s->duplicates, (long long)s->no_usage, (long long)s->synthetic,
               (long long)s->malformed, (long long)s->before_since, (long long)s->rejected,
               (long long)s->unreadable, s->records ? "\"" : "", s->records ? t0 : "null", s->records ? "\"" : "",
               s->records ? "\"" : "", s->records ? t1 : "null", s->records ? "\"" : "",
               (long long)tot->events, (long long)tot->total, cost, (long long)tot->unpriced,
               s->seconds);
        return;
    }
    printf("Imported %s: %s files (%s unchanged, %s read on, %s read again), %s lines in %.2f s.\n",
           kind, cli_count(s->files, a), cli_count(s->unchanged, b), cli_count(s->resumed, c),
           cli_count(s->reread, d), cli_count(s->lines, e), s->seconds);
    printf("%s usage records: %s new, %s updated by a larger copy, %s repeats (counted once).\n",
           cli_count(s->records, a), cli_count(s->stored, b), cli_count(s->replaced, c),
           cli_count(s->duplicates, d));
    if (s->no_usage + s->synthetic + s->malformed + s->before_since + s->rejected)
        printf("Skipped: %s without usage, %s synthetic, %s malformed, %s before --since, "
               "%s rejected.\n",
               cli_count(s->no_usage, a), cli_count(s->synthetic, b), cli_count(s->malformed, c),
               cli_count(s->before_since, d), cli_count(s->rejected, e));
    if (s->records) {
        tm__dec_format_fixed(tot->cost, 12, 2, cost);
        printf("Stored for %.10s to %.10s (%s): %s events, %s tokens, $%s", t0, t1, kind,
               cli_count(tot->events, a), cli_count(tot->total, b), cost);
        if (tot->unpriced)
            printf(" (%s unpriced: no price for their model)", cli_count(tot->unpriced, a));
        printf(".\n");
    }
    if (s->rejected)
        printf("First rejected record: %s\n", s->first_reject);
    if (s->unreadable)
        printf("Not readable, skipped: %lld files or directories (named above); the rest imported.\n",
               (long long)s->unreadable);
}

/* A file or directory the import could not read, named as it is skipped. */
static void warn(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "tokmeter import: skipped (not readable): %s\n", msg);
}

/* Progress on stderr: redrawn in place on a terminal (every 0.25 s), a
 * line every 2 s otherwise. */
static void show_progress(void *arg, const tm_import_stats *st, double el, int final)
{
    static double last = -1;
    int tty = isatty(2);
    if (!final && !tty && last >= 0 && el - last < 2.0)
        return;
    last = el;
    fprintf(stderr, "%simport %s: %lld files, %lld lines, %lld records, %.0f lines/s%s", tty ? "\r" : "",
            (const char *)arg, (long long)st->files, (long long)st->lines, (long long)st->records,
            el > 0 ? st->lines / el : 0.0, tty && !final ? "" : "\n");
}

static int run(cli_global *g, int argc, char **argv)
{
    const char *since = NULL, *mode = NULL;
    int quiet = 0, full = 0;
    const cli_opt opts[] = {
        {"since", "DATE", "skip records before this time (RFC 3339, a date, or 7d back)", &since, NULL, NULL, NULL},
        {"cost-mode", "MODE", "auto (the log's cost, else the catalog; default), calculate (always the catalog), reported (the log's cost, else unpriced)", &mode, NULL, NULL, NULL},
        {"full", NULL, "read every file from the start (the store still counts each record once)", NULL, &full, NULL, NULL},
        {"quiet", NULL, "no progress on stderr", NULL, &quiet, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    int npos = cli_parse(&cmd_import, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_import, opts,
                 "Sources and where they are read from by default:\n"
                 "  claude-code  each dir of $CLAUDE_CONFIG_DIR (comma-separated), else\n"
                 "               ${XDG_CONFIG_HOME:-~/.config}/claude and ~/.claude: projects/**/*.jsonl\n"
                 "  codex        ${CODEX_HOME:-~/.codex}/sessions/**/*.jsonl\n"
                 "  opencode     ${OPENCODE_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/opencode}/storage/message/**/*.json\n"
                 "PATH may be a file or a directory (walked for the same files; each\n"
                 "directory once, however many symlinks lead to it). A file or directory\n"
                 "that cannot be read is named on stderr and skipped, the rest imported,\n"
                 "and the exit status is then 1.\n"
                 "A second run reads only what was appended since the first; each API response\n"
                 "is stored once however often the logs repeat it (docs/importers.md).\n"
                 "Examples:\n"
                 "  tokmeter import claude-code\n"
                 "  tokmeter report --from 7d --interval day --group-by model\n"
                 "  tokmeter report --from 2026-11-01 --group-by project --order-by cost_usd\n"
                 "exit status: 0, or 2 when the PATHs given hold no usage of SOURCE (a warning\n"
                 "says so; with the default directories it is only a warning), 1 failure\n");
        return EXIT_OK;
    }
    if (npos < 1) {
        if (npos == 0)
            fprintf(stderr, "tokmeter import: which source? claude-code, codex or opencode\n");
        return EXIT_USAGE;
    }
    int type = tm__src_type(argv[0]);
    if (type < 0 || type >= TM_SRC_NIMPORT) {
        fprintf(stderr, "tokmeter import: unknown source '%s' (claude-code, codex or opencode)\n", argv[0]);
        return EXIT_USAGE;
    }
    tm_import_opts o = {.type = type, .paths = (const char *const *)argv + 1,
                        .npaths = (size_t)npos - 1, .full = full,
                        .progress = quiet ? NULL : show_progress, .progress_arg = (void *)argv[0],
                        .warn = warn};
    if (mode && (o.cost_mode = tm__cost_mode(mode)) < 0) {
        fprintf(stderr, "tokmeter import: --cost-mode: must be auto, calculate or reported, not '%s'\n", mode);
        return EXIT_USAGE;
    }
    if (since && cli_parse_time("since", since, &o.since_us) < 0)
        return EXIT_USAGE;
    tm *t = cli_open(g);
    if (!t)
        return EXIT_FAIL;
    tm_import_stats st;
    tm_sums tot;
    memset(&tot, 0, sizeof tot);
    int rc = tm__import(t, &o, &st);
    if (rc == TM_OK && st.records)
        rc = tm__import_span(t, type, &st, &tot);
    int rc2 = tm_close(t);
    if (rc == TM_OK)
        rc = rc2;
    if (rc) {
        cli_error("import", rc);
        return EXIT_FAIL;
    }
    print_stats(argv[0], &st, &tot, g->json);
    if (st.unreadable) /* named as skipped, and in the summary */
        return EXIT_FAIL;
    /* Nothing found is worth a word: the wrong source, or the wrong PATH. */
    static const char *const files[TM_SRC_NIMPORT] = {"*.jsonl session logs", "*.jsonl session logs",
                                                      "storage/message/**/*.json messages"};
    if (st.files == 0) {
        fprintf(stderr, "tokmeter import: no %s files found (%s) under %s%s\n", argv[0], files[type],
                npos > 1 ? argv[1] : "the default directories", npos > 2 ? " and the other PATHs" : "");
        return npos > 1 ? EXIT_REJECTED : EXIT_OK;
    }
    if (st.lines > 0 && st.records == 0 &&
        st.no_usage + st.synthetic + st.malformed + st.before_since + st.rejected == 0) {
        fprintf(stderr, "tokmeter import: none of the %lld lines read holds a %s usage record: are "
                        "these %s logs? (see docs/importers.md)\n",
                (long long)st.lines, argv[0], argv[0]);
        return npos > 1 ? EXIT_REJECTED : EXIT_OK;
    }
    return EXIT_OK;
}

const cli_cmd cmd_import = {"import", "SOURCE [PATH...]",
                            "Import coding-agent usage (claude-code, codex, opencode) from local logs.",
                            run};
