/*
 * import.c — the one importer driver: finds the files, reads only what is
 * new in each, turns records into events through the agent's reader, and
 * stores them through the writer like every other way in.
 *
 * Incremental reading: for each file the store keeps (import_files) its
 * identity (dev, inode), size and mtime when last read, the offset after
 * the last whole line, a hash of its first 4 KiB and one of the 4 KiB
 * before the offset, and the reader's context there. On the next run:
 *
 *   same inode, size and mtime          → not opened at all
 *   the two hashes still match           → read on from the offset
 *   otherwise (rewritten or truncated)   → read again from the start; the
 *                                          record ids make repeats duplicates
 *
 * A line without its newline yet is read (it may be complete) but the
 * offset stays before it, so it is read again once it is finished.
 * Progress is saved only after the events it covers are durable, so a
 * killed import at worst reads some lines again next time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/event.h"
#include "../core/strmap.h"
#include "../core/tmtime.h"
#include "../lib/lib.h"
#include "../store/store.h"
#include "ingest_int.h"

#define CHUNK 16384         /* events per writer submission                 */
#define FP_BYTES 4096       /* bytes hashed at each end                     */
#define SAVE_EVERY 512      /* files between progress saves                 */
#define BLOCK_MIN (4u << 20) /* bytes read at a time                         */

static const char *const src_names[TM_NSRC] = {"claude-code", "codex", "opencode",
                                               "openai-usage", "anthropic-usage"};

const char *tm__src_name(int type) { return type >= 0 && type < TM_NSRC ? src_names[type] : "?"; }

int tm__src_type(const char *name)
{
    for (int i = 0; i < TM_NSRC; i++)
        if (strcmp(name, src_names[i]) == 0)
            return i;
    return -1;
}

int tm__cost_mode(const char *name)
{
    static const char *const modes[] = {"auto", "calculate", "reported"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, modes[i]) == 0)
            return i;
    return -1;
}

static const tm_importer *importer_of(int type)
{
    switch (type) {
    case TM_SRC_CLAUDE: return &tm__imp_claude;
    case TM_SRC_CODEX: return &tm__imp_codex;
    case TM_SRC_OPENCODE: return &tm__imp_opencode;
    default: return NULL;
    }
}

/* ---- helpers for the readers ---- */

int tm__jint(const tm_jv *v, int64_t *out)
{
    uint64_t u;
    if (!v || v->type != TM_J_NUMBER || tm__uint_parse(v->s, v->n, 1ULL << 53, &u) != 0)
        return -1;
    *out = (int64_t)u;
    return 0;
}

void tm__tally(void *arg, size_t tag, int dup)
{
    tm_tally *t = arg;
    (void)tag;
    *(dup == 0 ? t->stored : dup == 1 ? t->duplicates : t->replaced) += 1;
}

const char *tm__jstr(const tm_jv *v) { return v && v->type == TM_J_STRING ? v->s : NULL; }

const tm_jv *tm__jpath(const tm_jv *o, const char *a, const char *b)
{
    const tm_jv *v = tm__json_get(o, a);
    return b ? tm__json_get(v, b) : v;
}

int tm__home_path(tm_buf *out, const char *rest)
{
    const char *home = getenv("HOME");
    return tm__buf_printf(out, "%s/%s", home && *home ? home : "", rest);
}

const char *tm__basename(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/')
        i--;
    snprintf(buf, cap, "%.*s", (int)(n - i), path + i);
    return buf;
}

int tm__import_defaults(int type, tm_buf *out)
{
    const tm_importer *imp = importer_of(type);
    tm__buf_reset(out);
    int rc = imp ? imp->defaults(out) : tm__fail(TM_EINVAL, "import: not an importer type");
    return rc ? rc : tm__buf_add(out, "", 1);
}

/* ---- finding files ---- */

typedef struct file_ent {
    char *path;
    const char *root;           /* the directory it was found under        */
    struct stat sb;             /* as found by the walk                    */
} file_ent;

typedef struct dev_ino {
    dev_t dev;
    ino_t ino;
} dev_ino;

typedef struct walk {
    const tm_importer *imp;
    const tm_import_opts *o;
    tm_import_stats *st;
    file_ent *files;
    size_t n, cap;
    dev_ino *seen;              /* directories walked: each once (symlink loops) */
    size_t nseen, capseen;
} walk;

/* A file or directory that cannot be read: warned about, counted, and
 * skipped; the import goes on with the rest. */
static void unreadable(const tm_import_opts *o, tm_import_stats *st, const char *path, int err)
{
    char msg[sizeof st->first_unreadable];
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(err));
    if (!st->unreadable++)
        memcpy(st->first_unreadable, msg, sizeof msg);
    if (o->warn)
        o->warn(o->warn_arg, msg);
}

static int add_file(walk *w, const char *root, const char *path)
{
    file_ent *p = tm__grow(w->files, w->n, &w->cap, sizeof *p, 256);
    if (!p)
        return TM_ENOMEM;
    w->files = p;
    p = &w->files[w->n];
    if (stat(path, &p->sb) != 0) {
        if (errno != ENOENT)
            unreadable(w->o, w->st, path, errno);
        return TM_OK;
    }
    if (!(p->path = strdup(path)))
        return TM_ENOMEM;
    p->root = root;
    w->n++;
    return TM_OK;
}

static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

/* 1 when the directory open as d was walked already, else remembers it. */
static int seen_before(walk *w, DIR *d, int *rc)
{
    struct stat sb;
    if (fstat(dirfd(d), &sb) != 0)
        return 0;
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].dev == sb.st_dev && w->seen[i].ino == sb.st_ino)
            return 1;
    dev_ino *p = tm__grow(w->seen, w->nseen, &w->capseen, sizeof *p, 64);
    if (!p) {
        *rc = TM_ENOMEM;
        return 1;
    }
    w->seen = p;
    w->seen[w->nseen++] = (dev_ino){sb.st_dev, sb.st_ino};
    return 0;
}

static int walk_dir(walk *w, const char *root, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (depth == 0)
            return tm__fail(TM_ENOTFOUND, "%s: %s", dir, strerror(errno));
        if (errno != ENOENT)
            unreadable(w->o, w->st, dir, errno);
        return TM_OK;
    }
    int rc = TM_OK;
    if (seen_before(w, d, &rc)) {
        closedir(d);
        return rc;
    }
    tm_buf p = TM_BUF_INIT;
    struct dirent *e;
    errno = 0;
    while (rc == TM_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        tm__buf_reset(&p);
        if ((rc = tm__buf_printf(&p, "%s/%s", dir, e->d_name)))
            break;
        int type = e->d_type;
        if (type == DT_UNKNOWN || type == DT_LNK) {
            struct stat sb;
            type = stat(p.data, &sb) != 0 ? DT_UNKNOWN : S_ISDIR(sb.st_mode) ? DT_DIR
                                                       : S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        if (type == DT_DIR && depth < 32)
            rc = walk_dir(w, root, p.data, depth + 1);
        else if (type == DT_REG && ends_with(e->d_name, w->imp->suffix))
            rc = add_file(w, root, p.data);
        errno = 0;
    }
    if (rc == TM_OK && errno) /* readdir failed part-way: the rest of it unread */
        unreadable(w->o, w->st, dir, errno);
    closedir(d);
    tm__buf_free(&p);
    return rc;
}

/* Oldest first (by modification time, then path): events then arrive
 * roughly in time order, so the time indexes mostly append. */
static int cmp_file(const void *a, const void *b)
{
    const file_ent *x = a, *y = b;
    if (x->sb.st_mtim.tv_sec != y->sb.st_mtim.tv_sec)
        return x->sb.st_mtim.tv_sec < y->sb.st_mtim.tv_sec ? -1 : 1;
    if (x->sb.st_mtim.tv_nsec != y->sb.st_mtim.tv_nsec)
        return x->sb.st_mtim.tv_nsec < y->sb.st_mtim.tv_nsec ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* ---- the run ---- */

typedef struct run {
    tm *t;
    const tm_import_opts *o;
    const tm_importer *imp;
    tm_import_stats *st;
    tm_batch *batch;            /* CHUNK events a submission, two in flight */
    tm_tally tally;             /* the batch counts into st                 */
    tm_arena arena;
    tm_file_rec *done;          /* files read, saved after their events     */
    size_t ndone, capdone;
    int64_t now;
    double t0, last_report;
    int reported;               /* a progress line was printed              */
    char *buf;                  /* file blocks                              */
    size_t bufcap;
    int read_errno;             /* why the last READ_FAILED                 */
} run;

static int grow_buf(run *x, size_t cap)
{
    if (cap < BLOCK_MIN)
        cap = BLOCK_MIN;
    char *p = realloc(x->buf, cap);
    if (!p)
        return TM_ENOMEM;
    x->buf = p;
    x->bufcap = cap;
    return TM_OK;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An import appends: half the daemon's page cache served it as fast in
 * timing runs of a 1M-record import, with a third less peak memory. */
#define IMPORT_CACHE_KIB (32u << 10)

static int cache_task(tm_store *s, void *arg)
{
    (void)arg;
    return s->ops->set_cache(s, IMPORT_CACHE_KIB);
}

static int save_task(tm_store *s, void *arg)
{
    run *x = arg;
    return s->meta->file_put(s, x->done, x->ndone, x->now);
}

static void free_done(run *x)
{
    for (size_t i = 0; i < x->ndone; i++) {
        free((char *)x->done[i].path);
        free((char *)x->done[i].state);
    }
    x->ndone = 0;
}

/* Makes the events read so far durable, then records how far each file
 * was read. */
static int save_progress(run *x)
{
    int rc = tm__batch_flush(x->batch);
    if (rc == TM_OK && x->ndone)
        rc = tm__writer_exec(tm__writer(x->t), save_task, x);
    free_done(x);
    return rc;
}

static void progress(run *x, int final)
{
    if (!x->o->progress)
        return;
    double now = mono();
    if (!final && now - x->last_report < 0.25)
        return;
    if (final && !x->reported)
        return; /* a short import says nothing until its summary */
    x->last_report = now;
    x->reported = 1;
    x->o->progress(x->o->progress_arg, x->st, now - x->t0, final);
}

/* One record's event: cost mode, since, admission, then queued. */
static int take_event(run *x, tm_event *ev)
{
    tm_import_stats *st = x->st;
    char err[256];
    st->records++;
    if (x->o->since_us && ev->ts_us < x->o->since_us) {
        st->before_since++;
        return TM_OK;
    }
    if (x->o->cost_mode == TM_CM_CALCULATE)
        ev->has &= ~(unsigned)TM_HAS_COST;
    int rc = tm__admit_import(x->t, ev, x->now, err, sizeof err);
    if (rc == TM_EINVAL) {
        st->rejected++;
        if (!st->first_reject[0])
            snprintf(st->first_reject, sizeof st->first_reject, "%s", err);
        return TM_OK;
    }
    if (rc)
        return rc;
    if (x->o->cost_mode == TM_CM_REPORTED && ev->cost_source != TM_COST_REPORTED) {
        ev->cost_pusd = 0;
        ev->cost_source = TM_COST_UNPRICED;
    }
    if (!st->first_us || ev->ts_us < st->first_us)
        st->first_us = ev->ts_us;
    if (ev->ts_us > st->last_us)
        st->last_us = ev->ts_us;
    /* Copies of one response are usually neighbours (one line per content
     * block): keep only the largest of those here, and leave copies far
     * apart (resumed sessions, later runs) to the store. */
    tm_event **p;
    for (size_t back = 1; back <= 4 && (p = tm__batch_recent(x->batch, back)); back++) {
        if (strcmp((*p)->id, ev->id) != 0)
            continue;
        st->duplicates++;
        if (!tm__copy_larger(ev->total_tokens, ev->value_nano, (*p)->total_tokens, (*p)->value_nano))
            return TM_OK;
        tm_event *c = tm__event_clone(ev);
        if (!c)
            return TM_ENOMEM;
        free(*p);
        *p = c;
        return TM_OK;
    }
    tm_event *c = tm__event_clone(ev);
    if (!c)
        return TM_ENOMEM;
    return tm__batch_add(x->batch, c, 0);
}

static int one_record(run *x, tm_ifile *f, const char *s, size_t n)
{
    tm_event ev;
    tm_event_init(&ev);
    int r = x->imp->record(f, s, n, &ev);
    int rc = TM_OK;
    switch (r) {
    case REC_EVENT: rc = take_event(x, &ev); break;
    case REC_NO_USAGE: x->st->no_usage++; break;
    case REC_SYNTHETIC: x->st->synthetic++; break;
    case REC_MALFORMED: x->st->malformed++; break;
    default: break;
    }
    tm__arena_reset(f->arena);
    return rc;
}

/* A context string with tabs and newlines made spaces (they separate). */
static const char *field(const char *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s", in);
    for (char *p = out; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    return out;
}

/* "session\tmodel\tproject\tp0\tp1\tp2\tp3\tp4\thas_prev" */
static char *ctx_save(const tm_ictx *c)
{
    tm_buf b = TM_BUF_INIT;
    char s[sizeof c->session], m[sizeof c->model], p[sizeof c->project];
    tm__buf_printf(&b, "%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%d\t%d",
                   field(c->session, s, sizeof s), field(c->model, m, sizeof m),
                   field(c->project, p, sizeof p), (long long)c->prev[0], (long long)c->prev[1],
                   (long long)c->prev[2], (long long)c->prev[3], (long long)c->prev[4], c->has_prev,
                   c->resets);
    return b.data; /* NULL when out of memory: the file is then read again */
}

static void ctx_load(tm_ictx *c, const char *s)
{
    memset(c, 0, sizeof *c);
    if (!s)
        return;
    char *fields[10] = {0}, *copy = strdup(s), *p = copy; /* saved before resets: 9 */
    for (int i = 0; p && i < 10; i++) {
        fields[i] = p;
        if ((p = strchr(p, '\t')))
            *p++ = '\0';
    }
    if (fields[8]) {
        snprintf(c->session, sizeof c->session, "%s", fields[0]);
        snprintf(c->model, sizeof c->model, "%s", fields[1]);
        snprintf(c->project, sizeof c->project, "%s", fields[2]);
        for (int i = 0; i < 5; i++)
            c->prev[i] = strtoll(fields[3 + i], NULL, 10);
        c->has_prev = atoi(fields[8]);
        c->resets = fields[9] ? atoi(fields[9]) : 0;
    }
    free(copy);
}

typedef struct known {
    tm_strmap index;            /* path → i + 1 into recs                   */
    tm_file_rec *recs;
    size_t n, cap;
} known;

static int know(void *arg, const tm_file_rec *r)
{
    known *k = arg;
    tm_file_rec *p = tm__grow(k->recs, k->n, &k->cap, sizeof *p, 64);
    if (!p)
        return TM_ENOMEM;
    k->recs = p;
    tm_file_rec *c = &k->recs[k->n];
    *c = *r;
    c->path = strdup(r->path);
    c->kind = NULL;
    c->state = r->state ? strdup(r->state) : NULL;
    if (!c->path || (r->state && !c->state))
        return TM_ENOMEM;
    k->n++;
    return tm__strmap_put(&k->index, c->path, (int64_t)k->n);
}

static void known_free(known *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free((char *)k->recs[i].path);
        free((char *)k->recs[i].state);
    }
    free(k->recs);
    tm__strmap_clear(&k->index);
}

/* The hash of n ≤ FP_BYTES bytes of fd at off (fingerprints). */
static int fp_at(int fd, int64_t off, size_t n, int64_t *out)
{
    char b[FP_BYTES];
    if (pread(fd, b, n, off) != (ssize_t)n)
        return -1;
    *out = (int64_t)tm__hash(b, n);
    return 0;
}

/* A read of the file failed (errno err): read_file skips the file. Not a
 * tm_err code, so no store error can be taken for it. */
enum { READ_FAILED = 1 };
static int read_failed(run *x, int err)
{
    x->read_errno = err;
    return READ_FAILED;
}

/* Reads fd from start, one record per line (or the whole file), in blocks
 * of BLOCK bytes; *end gets the offset after the last whole line. */
static int read_records(run *x, tm_ifile *f, int fd, size_t start, size_t size, size_t *end)
{
    tm_import_stats *st = x->st;
    size_t have = 0, base = start; /* x->buf[0..have) is the file from base */
    int rc = TM_OK;
    *end = start;
    if (x->imp->whole_file) {
        if (size > x->bufcap && (rc = grow_buf(x, size)))
            return rc;
        ssize_t got = pread(fd, x->buf, size, 0);
        if (got != (ssize_t)size)
            return read_failed(x, got < 0 ? errno : EIO);
        st->bytes += (int64_t)size;
        st->lines++;
        *end = size;
        return one_record(x, f, x->buf, size);
    }
    for (;;) {
        if (have == x->bufcap && (rc = grow_buf(x, 2 * x->bufcap)))
            return rc; /* one line longer than the buffer */
        ssize_t got = pread(fd, x->buf + have, x->bufcap - have, (off_t)(base + have));
        if (got < 0)
            return read_failed(x, errno);
        if (base + have + (size_t)got > size) /* appended while reading: next run */
            got = (ssize_t)(size - base - have);
        st->bytes += got;
        have += (size_t)got;
        int eof = got == 0 || base + have >= size;
        const char *p = x->buf, *lim = x->buf + have;
        while (rc == TM_OK && p < lim) {
            const char *nl = memchr(p, '\n', (size_t)(lim - p));
            if (!nl && !eof)
                break; /* the rest of this line is in the next block */
            const char *e = nl ? nl : lim;
            st->lines++;
            rc = one_record(x, f, p, (size_t)(e - p));
            if (!nl) { /* a last line without its newline: read, not passed */
                p = lim;
                break;
            }
            p = nl + 1;
            *end = base + (size_t)(p - x->buf);
            if ((st->lines & 4095) == 0)
                progress(x, 0);
        }
        if (rc || eof)
            return rc;
        size_t used = (size_t)(p - x->buf);
        memmove(x->buf, p, have - used);
        have -= used;
        base += used;
    }
}

static int read_file(run *x, const file_ent *fe, const tm_file_rec *prev)
{
    tm_import_stats *st = x->st;
    struct stat sb = fe->sb; /* from the walk: an unchanged file is never opened */
    st->files++;
    int64_t mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (prev && prev->ino == (int64_t)sb.st_ino && prev->dev == (int64_t)sb.st_dev &&
        prev->size == (int64_t)sb.st_size && prev->mtime_ns == mtime) {
        st->unchanged++;
        return TM_OK;
    }
    int fd = open(fe->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) { /* the file as opened */
        int e = errno;
        if (fd >= 0)
            close(fd);
        st->files--;
        if (e != ENOENT)
            unreadable(x->o, st, fe->path, e);
        return TM_OK;
    }
    mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    size_t size = (size_t)sb.st_size;
    char projbuf[256];
    tm_ifile f = {.path = fe->path, .arena = &x->arena, .cost_mode = x->o->cost_mode};
    if (x->imp->project)
        f.project = x->imp->project(fe->root, fe->path, projbuf, sizeof projbuf);
    size_t start = 0;
    int64_t head = 0, tail = 0;
    int head_known = 0; /* a whole first 4 KiB checked already: it stays */
    if (prev && !x->imp->whole_file) {
        size_t off = (size_t)prev->offset, h = off < FP_BYTES ? off : FP_BYTES;
        if (off <= size && fp_at(fd, 0, h, &head) == 0 && head == prev->head &&
            fp_at(fd, (int64_t)(off - h), h, &tail) == 0 && tail == prev->tail) {
            start = off;
            head_known = h == FP_BYTES;
            ctx_load(&f.ctx, prev->state);
            st->resumed++;
        } else {
            st->reread++;
        }
    } else if (prev) {
        st->reread++;
    }
    size_t end = start; /* the offset to save: after the last whole line */
    int rc = read_records(x, &f, fd, start, size, &end);
    if (rc == TM_OK) {
        tm_file_rec *d = tm__grow(x->done, x->ndone, &x->capdone, sizeof *d, 64);
        size_t h = end < FP_BYTES ? end : FP_BYTES;
        if (!d) {
            rc = TM_ENOMEM;
        } else if ((!head_known && fp_at(fd, 0, h, &head)) ||
                   fp_at(fd, (int64_t)(end - h), h, &tail)) {
            rc = read_failed(x, errno ? errno : EIO);
        } else {
            x->done = d;
            x->done[x->ndone] = (tm_file_rec){strdup(fe->path), x->imp->name, ctx_save(&f.ctx),
                                             (int64_t)sb.st_dev, (int64_t)sb.st_ino,
                                             (int64_t)size, mtime, (int64_t)end, head, tail};
            if (x->done[x->ndone].path)
                x->ndone++;
            else
                rc = TM_ENOMEM;
        }
    }
    close(fd);
    if (rc == READ_FAILED) { /* its events so far stay queued; read again next run */
        unreadable(x->o, st, fe->path, x->read_errno);
        rc = TM_OK;
    }
    return rc;
}

int tm__import_span(tm *t, int type, const tm_import_stats *st, tm_sums *out)
{
    tm_query_spec q;
    tm_qresult *res = NULL;
    char where[64];
    snprintf(where, sizeof where, "operation=%s", tm__src_name(type));
    tm__query_init(&q);
    int rc = tm__query_span(&q, st->first_us, st->last_us + 1);
    if (rc == TM_OK) rc = tm__query_set(&q, "where", where);
    if (rc == TM_OK) rc = tm__run_query(t, &q, &res);
    if (rc == TM_OK)
        *out = res->totals.s;
    tm__qresult_free(res);
    tm__query_free(&q);
    return rc;
}

int tm__import(tm *t, const tm_import_opts *o, tm_import_stats *st)
{
    const tm_importer *imp = importer_of(o->type);
    walk w = {.imp = imp, .o = o, .st = st};
    known k = {TM_STRMAP_INIT, NULL, 0, 0};
    tm_buf roots = TM_BUF_INIT;
    run *x = calloc(1, sizeof *x);
    int rc = TM_OK;
    memset(st, 0, sizeof *st);
    if (!x)
        return TM_ENOMEM;
    if (!imp) {
        free(x);
        return tm__fail(TM_EINVAL, "import: %s is not an importer", tm__src_name(o->type));
    }
    *x = (run){.t = t, .o = o, .imp = imp, .st = st, .now = tm__now_us(), .t0 = mono()};
    x->last_report = x->t0;
    x->tally = (tm_tally){&st->stored, &st->duplicates, &st->replaced};
    if ((rc = grow_buf(x, BLOCK_MIN)) || (rc = tm__batch_open(t, CHUNK, 2, tm__tally, &x->tally, &x->batch))) {
        free(x->buf);
        free(x);
        return rc;
    }
    /* The files: each given path (a file, or a directory walked), else
     * every default root that exists. */
    if (o->npaths) {
        for (size_t i = 0; i < o->npaths && rc == TM_OK; i++) {
            struct stat sb;
            if (stat(o->paths[i], &sb) != 0)
                rc = tm__fail(TM_ENOTFOUND, "%s: %s", o->paths[i], strerror(errno));
            else if (S_ISDIR(sb.st_mode))
                rc = walk_dir(&w, o->paths[i], o->paths[i], 0);
            else
                rc = add_file(&w, NULL, o->paths[i]);
        }
    } else if ((rc = tm__import_defaults(o->type, &roots)) == TM_OK) {
        int found = 0;
        for (const char *r = roots.data; rc == TM_OK && *r; r += strlen(r) + 1) {
            struct stat sb;
            if (stat(r, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                found = 1;
                rc = walk_dir(&w, r, r, 0);
            }
        }
        if (rc == TM_OK && !found) {
            tm_buf list = TM_BUF_INIT;
            for (const char *r = roots.data; *r; r += strlen(r) + 1)
                tm__buf_printf(&list, "%s%s", list.len ? ", " : "", r);
            rc = tm__fail(TM_ENOTFOUND, "no %s data found (looked in %s); give the directory as an argument",
                          imp->name, list.data ? list.data : "nothing");
            tm__buf_free(&list);
        }
    }
    if (rc == TM_OK && w.n)
        qsort(w.files, w.n, sizeof *w.files, cmp_file);
    if (rc == TM_OK && !o->full)
        rc = tm__store(t)->meta->file_list(tm__store(t), imp->name, know, &k);
    if (rc == TM_OK)
        rc = tm__writer_exec(tm__writer(t), cache_task, NULL);
    for (size_t i = 0; i < w.n && rc == TM_OK; i++) {
        int64_t ix = 0;
        const tm_file_rec *prev = tm__strmap_get(&k.index, w.files[i].path, &ix) ? &k.recs[ix - 1] : NULL;
        rc = read_file(x, &w.files[i], prev);
        if (rc == TM_OK && x->ndone >= SAVE_EVERY)
            rc = save_progress(x);
        progress(x, 0);
    }
    int rc2 = save_progress(x);
    if (!rc)
        rc = rc2;
    st->seconds = mono() - x->t0;
    progress(x, 1);
    for (size_t i = 0; i < w.n; i++)
        free(w.files[i].path);
    free(w.files);
    free(w.seen);
    free_done(x);
    free(x->done);
    tm__arena_free(&x->arena);
    free(x->buf);
    tm__batch_free(x->batch);
    free(x);
    known_free(&k);
    tm__buf_free(&roots);
    return rc;
}
