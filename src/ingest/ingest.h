/*
 * ingest.h — the face of the ingest subsystem: usage from where it already
 * is. Importers read coding agents' local logs (Claude Code, Codex CLI,
 * OpenCode); collectors pull the providers' organisation usage APIs
 * (OpenAI, Anthropic). Both turn each source record into an event whose id
 * is derived from the record, so reading the same record again never
 * counts it twice, and a larger later copy replaces a smaller one.
 */
#ifndef TM_INGEST_INGEST_H
#define TM_INGEST_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/dec.h"
#include "tokmeter.h"

/* Source types: what `tokmeter import` reads and `sources add --type` names. */
enum { TM_SRC_CLAUDE, TM_SRC_CODEX, TM_SRC_OPENCODE, TM_SRC_OPENAI, TM_SRC_ANTHROPIC, TM_NSRC };
#define TM_SRC_NIMPORT 3    /* the first three are local-log importers */

const char *tm__src_name(int type);         /* "claude-code", ...       */
int tm__src_type(const char *name);         /* -1 when unknown          */

/* Where costs come from (--cost-mode). */
enum { TM_CM_AUTO, TM_CM_CALCULATE, TM_CM_REPORTED };
int tm__cost_mode(const char *name);        /* -1 when unknown          */

/* ---- importers (import.c; claude.c, codex.c, opencode.c) ---- */

typedef struct tm_import_stats tm_import_stats;

typedef struct tm_import_opts {
    int type;                   /* TM_SRC_CLAUDE, TM_SRC_CODEX, TM_SRC_OPENCODE */
    const char *const *paths;   /* files or directories; NULL: the defaults   */
    size_t npaths;
    int64_t since_us;           /* records before this are skipped; 0: none */
    int cost_mode;
    int full;                   /* ignore the saved offsets: read everything */
    /* Called with the running totals at most every 0.25 s while importing
     * (final 0), and once at the end (final 1) if it was called before; may
     * be NULL. The library prints nothing: the caller shows progress. */
    void (*progress)(void *arg, const tm_import_stats *st, double elapsed_s, int final);
    void *progress_arg;
    /* Called for each file or directory that could not be read (skipped,
     * the rest imported); msg is "PATH: reason". NULL: counted only. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
} tm_import_opts;

struct tm_import_stats {
    int64_t files, unchanged, resumed, reread; /* files: seen, skipped, read on, read again */
    int64_t bytes, lines;       /* read this run                            */
    int64_t records;            /* usage records found                      */
    int64_t stored, replaced, duplicates; /* their fate in the store        */
    int64_t no_usage, synthetic, malformed, before_since, rejected; /* skipped */
    int64_t first_us, last_us;  /* time span of the records found (0: none) */
    char first_reject[256];     /* why the first rejected record was, or "" */
    int64_t unreadable;         /* files and directories skipped: not readable */
    char first_unreadable[512]; /* "PATH: reason" of the first, or ""        */
    double seconds;
};

/* The default directories for type, as a list of NUL-separated paths
 * ending with an empty one (env: CLAUDE_CONFIG_DIR, XDG_CONFIG_HOME, HOME,
 * CODEX_HOME, OPENCODE_DATA_DIR, XDG_DATA_HOME). */
int tm__import_defaults(int type, tm_buf *out);

/* Imports everything new under the paths into t. Errors: TM_ENOTFOUND
 * (a path does not exist, or no default directory does), TM_EIO, and
 * store errors; bad records are counted in *st, never fatal. A file or
 * directory that cannot be opened or read is skipped (counted in
 * st->unreadable, passed to o->warn) and the rest imported; a directory
 * reached again (a symlink loop) is walked once. */
int tm__import(tm *t, const tm_import_opts *o, tm_import_stats *st);

/* What the store now holds from importer `type` over the time span of the
 * records an import found (st->first_us .. st->last_us): the check that
 * the import landed. */
struct tm_sums;
int tm__import_span(tm *t, int type, const tm_import_stats *st, struct tm_sums *out);

/* ---- sources and collectors (sources.c, collect.c) ---- */

typedef struct tm_source {
    char name[65];
    int type;
    char key_env[129];          /* the variable holding the key (never the key) */
    char base_url[513];
    char path[1025];            /* importers: the directory to read          */
} tm_source;

/* Reads the "sources" of config file path (missing file: none). *out is
 * malloc'd. Errors name the file and source. */
int tm__sources_load(const char *path, tm_source **out, size_t *n);

/* Rewrites path with its "sources" replaced by src[0..n), keeping every
 * other key; creates the file (and directory) when missing. */
int tm__sources_save(const char *path, const tm_source *src, size_t n);

/* A source name: [A-Za-z0-9_.-]{1,64}. */
int tm__source_name_ok(const char *name);

/* One line per source and what happened, through fn. */
typedef struct tm_collect_result {
    char source[65];
    int ok;                     /* 1: collected                             */
    int auth_failed, server_failed, net_failed;
    int64_t buckets, stored, replaced, duplicates, tokens, rejected;
    char first_reject[256];
    tm_i128 cost;               /* computed cost of the buckets, pUSD       */
    char message[1200];         /* what went wrong, or ""                   */
} tm_collect_result;

typedef struct tm_collect_opts {
    int64_t since_us, until_us; /* the window; 0: 7 days back / now        */
    int bucket_width_hours;     /* 1 or 24                                   */
    int max_tries;              /* per request on 429 and 5xx; 0: 5          */
    double base_delay_s;        /* first backoff; 0: 1 s                     */
    double timeout_s;           /* per request; 0: 30 s                      */
    void (*log)(void *arg, const char *line); /* progress and retries; may be NULL */
    void *log_arg;
} tm_collect_opts;

/* Collects one source into t (importer sources run tm__import). */
int tm__collect(tm *t, const tm_source *src, const tm_collect_opts *o, tm_collect_result *r);

/* The provider's reported cost per UTC day and model over [from, to),
 * as rows of (day start µs, model, pUSD) through fn. */
int tm__provider_costs(const tm_source *src, const tm_collect_opts *o, int64_t from, int64_t to,
                       int (*fn)(void *arg, int64_t day_us, const char *model, tm_i128 cost),
                       void *arg);

#endif
