/*
 * ingest_int.h — what the importers share inside src/ingest/: one record
 * reader per agent (claude.c, codex.c, opencode.c) plugged into the one
 * driver (import.c) that walks files, keeps offsets and talks to the store.
 */
#ifndef TM_INGEST_INT_H
#define TM_INGEST_INT_H

#include "../core/arena.h"
#include "../core/json.h"
#include "ingest.h"

/* What a record turned out to be. */
enum { REC_EVENT, REC_NONE, REC_NO_USAGE, REC_SYNTHETIC, REC_MALFORMED };

/* The context a reader carries through a file and across runs (saved
 * with the file's offset as tab-separated text). */
typedef struct tm_ictx {
    char session[129];
    char model[129];
    char project[129];
    int64_t prev[5];            /* Codex: the last cumulative usage seen    */
    int has_prev;
    int resets;                 /* Codex: times the cumulative total fell   */
} tm_ictx;

typedef struct tm_ifile {
    const char *path;
    const char *project;        /* from the path, or NULL                   */
    tm_ictx ctx;
    tm_arena *arena;            /* per-record scratch for strings           */
    int cost_mode;
} tm_ifile;

typedef struct tm_importer {
    const char *name;           /* "claude-code": also the operation       */
    int whole_file;             /* each file is one JSON record            */
    const char *suffix;         /* the walk keeps files whose names end so  */
    /* Appends the default roots (NUL-separated, see tm__import_defaults). */
    int (*defaults)(tm_buf *out);
    /* The project a file belongs to from its path (into buf), or NULL. */
    const char *(*project)(const char *root, const char *path, char *buf, size_t cap);
    /* Turns one record (a line, or a whole file) into ev. */
    int (*record)(tm_ifile *f, const char *s, size_t n, tm_event *ev);
} tm_importer;

extern const tm_importer tm__imp_claude, tm__imp_codex, tm__imp_opencode;

/* A cursor over JSON text (jscan.c): members found without a tree.
 *   tm__jscan_enter   past the '{' of an object (-1: not an object)
 *   tm__jscan_key     the next member's key: 1, 0 at '}', -1 malformed
 *   tm__jscan_str     a string value: 0, 1 when it holds escapes (use the
 *                     full parser), -1 not a string; *s is not NUL-ended
 *   tm__jscan_num     a number's text
 *   tm__jscan_skip    past any value
 *   tm__jscan_peek    the next non-space byte, -1 at the end */
typedef struct tm_jscan {
    const char *p, *end;
} tm_jscan;
int tm__jscan_enter(tm_jscan *c);
int tm__jscan_key(tm_jscan *c, const char **k, size_t *kn);
int tm__jscan_str(tm_jscan *c, const char **s, size_t *n);
int tm__jscan_num(tm_jscan *c, const char **s, size_t *n);
int tm__jscan_skip(tm_jscan *c);
int tm__jscan_peek(tm_jscan *c);

/* Where a batch's fate callback counts (tm__tally: arg is a tm_tally):
 * the writer's dup per committed event, 0 stored, 1 duplicate, 2 replaced
 * a smaller copy. */
typedef struct tm_tally {
    int64_t *stored, *duplicates, *replaced;
} tm_tally;
void tm__tally(void *arg, size_t tag, int dup);

/* Helpers for readers. */
int tm__jint(const tm_jv *v, int64_t *out);     /* a non-negative integer  */
const char *tm__jstr(const tm_jv *v);           /* a string value or NULL  */
const tm_jv *tm__jpath(const tm_jv *o, const char *a, const char *b); /* o.a.b (b may be NULL) */
/* $HOME (or "/" when unset) joined with rest. */
int tm__home_path(tm_buf *out, const char *rest);
/* basename of a path into the arena-free buffer. */
const char *tm__basename(const char *path, char *buf, size_t cap);

#endif
