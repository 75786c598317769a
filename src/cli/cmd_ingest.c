/*
 * cmd_ingest.c — `tokmeter ingest [FILE|-]`: store events from NDJSON or a
 * JSON array.
 *
 * NDJSON streams through in blocks of whole lines, so a file of any size
 * needs bounded memory; a JSON array, or one object spread over several
 * lines, is read whole (as the daemon reads a body). A leading UTF-8
 * byte-order mark is skipped. Each rejected event is reported as "line N:
 * field: reason" on stderr (and listed under "rejected" with --json);
 * accepted events are kept whatever their neighbours did.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/json.h"
#include "cli.h"

#define BLOCK (4u << 20) /* bytes of NDJSON handed over at a time */

typedef struct totals {
    size_t accepted, duplicates, rejected;
    size_t seen;            /* events before this chunk (for 0-based indexes) */
    tm_buf list;            /* the rejected, as JSON objects for --json      */
} totals;

/* Notes one rejected event: on stderr for people, in the list for --json. */
static void reject(totals *sum, size_t index, size_t line, const char *why)
{
    if (line)
        fprintf(stderr, "line %zu: %s\n", line, why);
    else
        fprintf(stderr, "event %zu: %s\n", index, why);
    tm__buf_printf(&sum->list, "%s{\"index\": %zu, ", sum->rejected ? ", " : "", index);
    if (line)
        tm__buf_printf(&sum->list, "\"line\": %zu, ", line);
    tm__buf_puts(&sum->list, "\"error\": ");
    tm__json_str(&sum->list, why, strlen(why));
    tm__buf_putc(&sum->list, '}');
    sum->rejected++;
}

static int feed(tm *t, const char *data, size_t len, unsigned flags, size_t line0, totals *sum)
{
    tm_batch_result *r = NULL;
    int rc = tm_track_json(t, data, len, flags, NULL, &r);
    if (rc == TM_EINVAL) { /* the whole input was unreadable */
        reject(sum, sum->seen++, line0 + 1, tm_errmsg());
        return TM_OK;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n; i++) {
        const tm_item_result *it = &r->items[i];
        if (it->status == TM_ITEM_REJECTED)
            reject(sum, sum->seen + it->index, it->line ? line0 + it->line : 0, it->error);
    }
    sum->seen += r->n;
    sum->accepted += r->accepted;
    sum->duplicates += r->duplicates;
    tm_batch_result_free(r);
    return TM_OK;
}

/* Whether the line at p (n bytes) leaves a JSON value open: a pretty-printed
 * document rather than NDJSON. */
static int opens_document(const char *p, size_t n)
{
    int depth = 0, str = 0;
    for (size_t i = 0; i < n && p[i] != '\n'; i++) {
        char ch = p[i];
        if (str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                str = 0;
        } else if (ch == '"') {
            str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return depth > 0;
}

/* Reads all of f (for JSON arrays). */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *p = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!p) {
            free(buf);
            return NULL;
        }
        buf = p;
        cap *= 2;
    }
    *len = n;
    return buf;
}

static int ingest(tm *t, FILE *f, totals *sum)
{
    char *buf = malloc(BLOCK + 1);
    size_t have = 0, line0 = 0;
    int rc = TM_OK, first = 1;
    if (!buf)
        return TM_ENOMEM;
    for (;;) {
        size_t got = fread(buf + have, 1, BLOCK - have, f);
        if (got == 0 && ferror(f)) {
            rc = tm__fail(TM_EIO, "read error: %s", strerror(errno));
            break;
        }
        have += got;
        if (first) {
            if (have >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte-order mark */
                memmove(buf, buf + 3, have - 3);
                have -= 3;
            }
            size_t i = 0;
            while (i < have && strchr(" \t\r\n", buf[i]))
                i++;
            /* An array, or one object over several lines, is one JSON
             * document (as POST /v1/events takes it): it is read whole. */
            if (i < have && (buf[i] == '[' || (buf[i] == '{' && opens_document(buf + i, have - i)))) {
                size_t rest = 0;
                char *all = slurp(f, &rest);
                char *both = all ? realloc(buf, have + rest + 1) : NULL;
                if (!both) {
                    free(all);
                    free(buf);
                    return TM_ENOMEM;
                }
                buf = both;
                memcpy(buf + have, all, rest);
                free(all);
                rc = feed(t, buf, have + rest, 0, 0, sum);
                free(buf);
                return rc;
            }
            first = 0;
        }
        if (have == 0)
            break;
        /* Hand over whole lines; keep a trailing partial line for later. */
        size_t cut = have;
        if (got > 0 && have == BLOCK) {
            while (cut > 0 && buf[cut - 1] != '\n')
                cut--;
            if (cut == 0) {
                char why[64];
                snprintf(why, sizeof why, "longer than %u bytes; skipped", BLOCK);
                reject(sum, sum->seen++, line0 + 1, why);
                /* Drop up to the next newline. */
                int ch;
                while ((ch = fgetc(f)) != EOF && ch != '\n')
                    ;
                line0++;
                have = 0;
                continue;
            }
        }
        if ((rc = feed(t, buf, cut, TM_JSON_NDJSON, line0, sum)))
            break;
        for (size_t i = 0; i < cut; i++)
            line0 += buf[i] == '\n';
        memmove(buf, buf + cut, have - cut);
        have -= cut;
        if (got == 0 && have == 0)
            break;
    }
    free(buf);
    return rc;
}

static int run(cli_global *g, int argc, char **argv)
{
    const cli_opt opts[] = {{NULL, NULL, NULL, NULL, NULL}};
    int npos = cli_parse(&cmd_ingest, opts, g, argc, argv);
    if (g->help) {
        cli_help(&cmd_ingest, opts,
                 "Reads FILE (or standard input when FILE is - or absent): one JSON event per\n"
                 "line (NDJSON), or one JSON document: an event object or an array of events\n"
                 "(pretty-printed or not). Rejected events are listed on stderr\n"
                 "as 'line N: field: reason'; the others are stored. An event whose id is already\n"
                 "stored counts as a duplicate and is not stored again. --json prints\n"
                 "{\"accepted\": N, \"duplicates\": N, \"rejected\": [{\"index\": I, \"line\": L,\n"
                 "\"error\": \"...\"}]} (index 0-based; line for NDJSON input).\n\n"
                 "exit status: 0 all stored, 2 some rejected (the rest stored), 1 failure\n");
        return EXIT_OK;
    }
    if (npos < 0 || npos > 1) {
        if (npos > 1)
            fprintf(stderr, "tokmeter ingest: one FILE at most\n");
        return EXIT_USAGE;
    }
    const char *path = npos == 1 ? argv[0] : "-";
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tokmeter ingest: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    tm *t = cli_open(g);
    totals sum = {0, 0, 0, 0, TM_BUF_INIT};
    int code = EXIT_FAIL;
    if (t) {
        int rc = ingest(t, f, &sum);
        int crc = tm_close(t);
        if (rc || crc) {
            cli_error("ingest", rc ? rc : crc);
        } else {
            if (g->json)
                printf("{\"accepted\": %zu, \"duplicates\": %zu, \"rejected\": [%s]}\n",
                       sum.accepted, sum.duplicates, sum.list.data ? sum.list.data : "");
            else
                printf("ingested %s: %zu accepted, %zu duplicates, %zu rejected\n",
                       strcmp(path, "-") == 0 ? "standard input" : path, sum.accepted,
                       sum.duplicates, sum.rejected);
            code = sum.rejected ? EXIT_REJECTED : EXIT_OK;
        }
    }
    if (f != stdin)
        fclose(f);
    tm__buf_free(&sum.list);
    return code;
}

const cli_cmd cmd_ingest = {"ingest", "[FILE|-]",
                            "Store events from NDJSON, a JSON array or one JSON event (stdin by default).",
                            run};
