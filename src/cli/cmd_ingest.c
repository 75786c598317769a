/*
 * cmd_ingest.c — `tokmeter ingest [FILE|-]`: store events from NDJSON or a
 * JSON array.
 *
 * NDJSON streams through in blocks of whole lines, so a file of any size
 * needs bounded memory; a JSON array is read whole. Each rejected event is
 * reported as "line N: field: reason" on stderr; accepted events are kept
 * whatever their neighbours did.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "cli.h"

#define BLOCK (4u << 20) /* bytes of NDJSON handed over at a time */

typedef struct totals {
    size_t accepted, duplicates, rejected;
} totals;

static int feed(tm *t, const char *data, size_t len, unsigned flags, size_t line0, totals *sum)
{
    tm_batch_result *r = NULL;
    int rc = tm_track_json(t, data, len, flags, NULL, &r);
    if (rc == TM_EINVAL) { /* the whole input was unreadable */
        fprintf(stderr, "line %zu: %s\n", line0 + 1, tm_errmsg());
        sum->rejected++;
        return TM_OK;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n; i++) {
        const tm_item_result *it = &r->items[i];
        if (it->status != TM_ITEM_REJECTED)
            continue;
        if (it->line)
            fprintf(stderr, "line %zu: %s\n", line0 + it->line, it->error);
        else
            fprintf(stderr, "event %zu: %s\n", it->index, it->error);
    }
    sum->accepted += r->accepted;
    sum->duplicates += r->duplicates;
    sum->rejected += r->rejected;
    tm_batch_result_free(r);
    return TM_OK;
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
            size_t i = 0;
            while (i < have && strchr(" \t\r\n", buf[i]))
                i++;
            if (i < have && buf[i] == '[') { /* a JSON array: needs it all */
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
                fprintf(stderr, "line %zu: longer than %u bytes; skipped\n", line0 + 1, BLOCK);
                sum->rejected++;
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
                 "line (NDJSON), or a JSON array of events. Rejected events are listed on stderr\n"
                 "as 'line N: field: reason'; the others are stored. An event whose id is already\n"
                 "stored counts as a duplicate and is not stored again.\n\n"
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
    totals sum = {0, 0, 0};
    int code = EXIT_FAIL;
    if (t) {
        int rc = ingest(t, f, &sum);
        int crc = tm_close(t);
        if (rc || crc) {
            cli_error("ingest", rc ? rc : crc);
        } else {
            if (g->json)
                printf("{\"accepted\": %zu, \"duplicates\": %zu, \"rejected\": %zu}\n",
                       sum.accepted, sum.duplicates, sum.rejected);
            else
                printf("ingested %s: %zu accepted, %zu duplicates, %zu rejected\n",
                       strcmp(path, "-") == 0 ? "standard input" : path, sum.accepted,
                       sum.duplicates, sum.rejected);
            code = sum.rejected ? EXIT_REJECTED : EXIT_OK;
        }
    }
    if (f != stdin)
        fclose(f);
    return code;
}

const cli_cmd cmd_ingest = {"ingest", "[FILE|-]",
                            "Store events from an NDJSON file or a JSON array (stdin by default).",
                            run};
