/*
 * importer.h — the body of the three importer targets (claude_code.c,
 * codex.c, opencode.c): feeds the input to one importer's record reader the
 * way src/ingest/import.c does (line by line, or the whole file for
 * OpenCode), carrying the reader's context from record to record, and
 * admits every event it yields as an import would (validate and price).
 */
#ifndef TM_FUZZ_IMPORTER_H
#define TM_FUZZ_IMPORTER_H

#include "../src/ingest/ingest_int.h"
#include "../src/lib/lib.h"
#include "fuzz.h"

static void fz_record(tm *t, tm_ifile *f, const tm_importer *imp, const char *s, size_t n)
{
    tm_event ev;
    tm_event_init(&ev);
    int r = imp->record(f, s, n, &ev);
    if (r == REC_EVENT) {
        char err[256];
        int rc = tm__admit_import(t, &ev, 1790000000000000LL, err, sizeof err);
        if (rc != TM_OK && rc != TM_EINVAL) {
            fprintf(stderr, "%s: admitting a record returned %s: %s\n", imp->name, tm_strerror(rc),
                    tm_errmsg());
            abort();
        }
    } else if (r != REC_NONE && r != REC_NO_USAGE && r != REC_SYNTHETIC && r != REC_MALFORMED) {
        fprintf(stderr, "%s: record returned %d\n", imp->name, r);
        abort();
    }
    tm__arena_reset(f->arena);
}

static int fz_importer(const tm_importer *imp, const uint8_t *data, size_t size)
{
    tm *t = fz_store(NULL, NULL);
    tm_arena arena = TM_ARENA_INIT;
    tm_ifile f;
    memset(&f, 0, sizeof f);
    f.path = imp->whole_file ? "storage/message/ses_fuzz/msg_fuzz.json" : "projects/-home-u-proj/s.jsonl";
    f.project = "proj";
    f.arena = &arena;
    /* Each record gets its own allocation, exactly sized, so a read past
     * its end is caught. */
    const char *s = (const char *)data, *end = s + size;
    while (s < end) {
        const char *nl = imp->whole_file ? NULL : memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl ? nl : end) - s);
        char *rec = malloc(n ? n : 1);
        if (!rec)
            break;
        memcpy(rec, s, n);
        fz_record(t, &f, imp, rec, n);
        free(rec);
        s += n + (nl != NULL);
    }
    tm__arena_free(&arena);
    return 0;
}

#endif
