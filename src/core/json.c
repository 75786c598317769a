/*
 * json.c — yajl callbacks to a tree, and the writer.
 *
 * While parsing, each open container is a frame on a small stack holding
 * a growable list of its children; when the container closes, its children
 * are copied into the arena at their exact count. Exceeding
 * TM_JSON_MAX_DEPTH cancels the parse, so hostile nesting costs nothing.
 */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "err.h"
#include "tokmeter.h"

typedef struct frame {
    tm_jv *node;
    tm_jv **vals;
    const char **keys;
    size_t *klens;
    size_t n, cap;
    const char *pending_key;   /* object: the key awaiting its value */
    size_t pending_klen;
} frame;

typedef struct ctx {
    tm_arena *a;
    frame stack[TM_JSON_MAX_DEPTH];
    int depth;
    tm_jv *root;
    int oom, too_deep;
} ctx;

static int attach(ctx *c, tm_jv *v)
{
    if (c->depth == 0) {
        c->root = v;
        return 1;
    }
    frame *f = &c->stack[c->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        tm_jv **vals = realloc(f->vals, cap * sizeof *vals);
        if (vals)
            f->vals = vals;
        const char **keys = f->node->type == TM_J_OBJECT ? realloc(f->keys, cap * sizeof *keys) : f->keys;
        if (keys)
            f->keys = keys;
        size_t *klens = f->node->type == TM_J_OBJECT ? realloc(f->klens, cap * sizeof *klens) : f->klens;
        if (klens)
            f->klens = klens;
        if (!vals || (f->node->type == TM_J_OBJECT && (!keys || !klens))) {
            c->oom = 1;
            return 0;
        }
        f->cap = cap;
    }
    if (f->node->type == TM_J_OBJECT) {
        f->keys[f->n] = f->pending_key;
        f->klens[f->n] = f->pending_klen;
    }
    f->vals[f->n++] = v;
    return 1;
}

static tm_jv *node(ctx *c, tm_jtype t)
{
    tm_jv *v = tm__arena_alloc(c->a, sizeof *v);
    if (!v) {
        c->oom = 1;
        return NULL;
    }
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static int scalar(ctx *c, tm_jtype t, const char *s, size_t n)
{
    tm_jv *v = node(c, t);
    if (!v)
        return 0;
    if (s) {
        if (!(v->s = tm__arena_strndup(c->a, s, n))) {
            c->oom = 1;
            return 0;
        }
        v->n = n;
    }
    return attach(c, v);
}

static int cb_null(void *c) { return scalar(c, TM_J_NULL, NULL, 0); }
static int cb_bool(void *c, int b) { return scalar(c, b ? TM_J_TRUE : TM_J_FALSE, NULL, 0); }
static int cb_number(void *c, const char *s, size_t n) { return scalar(c, TM_J_NUMBER, s, n); }
static int cb_string(void *c, const unsigned char *s, size_t n)
{
    return scalar(c, TM_J_STRING, (const char *)s, n);
}

static int open_container(ctx *c, tm_jtype t)
{
    if (c->depth == TM_JSON_MAX_DEPTH) {
        c->too_deep = 1;
        return 0;
    }
    tm_jv *v = node(c, t);
    if (!v || !attach(c, v))
        return 0;
    frame *f = &c->stack[c->depth++];
    memset(f, 0, sizeof *f);
    f->node = v;
    return 1;
}

static int close_container(ctx *c)
{
    frame *f = &c->stack[--c->depth];
    tm_jv *v = f->node;
    int ok = 1;
    v->n = f->n;
    if (f->n) {
        v->vals = tm__arena_alloc(c->a, f->n * sizeof *v->vals);
        if (v->type == TM_J_OBJECT) {
            v->keys = tm__arena_alloc(c->a, f->n * sizeof *v->keys);
            v->klens = tm__arena_alloc(c->a, f->n * sizeof *v->klens);
        }
        if (!v->vals || (v->type == TM_J_OBJECT && (!v->keys || !v->klens))) {
            c->oom = 1;
            ok = 0;
        } else {
            memcpy(v->vals, f->vals, f->n * sizeof *v->vals);
            if (v->type == TM_J_OBJECT) {
                memcpy(v->keys, f->keys, f->n * sizeof *v->keys);
                memcpy(v->klens, f->klens, f->n * sizeof *v->klens);
            }
        }
    }
    free(f->vals);
    free(f->keys);
    free(f->klens);
    return ok;
}

static int cb_start_map(void *c) { return open_container(c, TM_J_OBJECT); }
static int cb_start_array(void *c) { return open_container(c, TM_J_ARRAY); }
static int cb_end(void *c) { return close_container(c); }

static int cb_key(void *vc, const unsigned char *s, size_t n)
{
    ctx *c = vc;
    frame *f = &c->stack[c->depth - 1];
    if (!(f->pending_key = tm__arena_strndup(c->a, (const char *)s, n))) {
        c->oom = 1;
        return 0;
    }
    f->pending_klen = n;
    return 1;
}

/* yajl 2.1 does not check malloc inside yajl_alloc and its buffers: under
 * memory pressure it dereferences NULL (a daemon killed by one request,
 * found by tests/fault/faults.sh). Its allocations come through these,
 * which fall back to a small per-thread reserve when malloc fails and mark
 * the parse out of memory, so it fails cleanly. A block carries its size
 * in a 16-byte header (realloc from the reserve must copy). */
enum { YRESERVE = 64 * 1024, YHEAD = 16 };
static _Thread_local _Alignas(16) unsigned char yreserve[YRESERVE];
static _Thread_local size_t yreserve_used;

static int in_reserve(const unsigned char *b) { return b >= yreserve && b < yreserve + YRESERVE; }

static void *y_malloc(void *vc, size_t n)
{
    unsigned char *b = n < SIZE_MAX - YHEAD ? malloc(YHEAD + n) : NULL;
    if (!b) {
        ((ctx *)vc)->oom = 1;
        size_t need = YHEAD + ((n + 15) & ~(size_t)15);
        if (n > YRESERVE || need > YRESERVE - yreserve_used)
            return NULL;
        b = yreserve + yreserve_used;
        yreserve_used += need;
    }
    memcpy(b, &n, sizeof n);
    return b + YHEAD;
}

static void y_free(void *vc, void *p)
{
    (void)vc;
    if (p && !in_reserve((unsigned char *)p - YHEAD))
        free((unsigned char *)p - YHEAD);
}

static void *y_realloc(void *vc, void *p, size_t n)
{
    if (!p)
        return y_malloc(vc, n);
    unsigned char *b = (unsigned char *)p - YHEAD;
    if (!in_reserve(b) && n < SIZE_MAX - YHEAD) {
        unsigned char *g = realloc(b, YHEAD + n);
        if (g) {
            memcpy(g, &n, sizeof n);
            return g + YHEAD;
        }
    }
    size_t old;
    memcpy(&old, b, sizeof old);
    void *q = y_malloc(vc, n);
    if (q) {
        memcpy(q, p, old < n ? old : n);
        y_free(vc, p);
    }
    return q;
}

static const yajl_callbacks callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

int tm__json_parse(tm_arena *a, const char *s, size_t n, tm_jv **out, char *err,
                   size_t errlen)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.a = a;
    int rc = TM_EINVAL;
    yajl_alloc_funcs af = {y_malloc, y_realloc, y_free, &c};
    yajl_handle h = yajl_alloc(&callbacks, &af, &c);
    if (!h)
        return TM_ENOMEM;
    yajl_status st = yajl_parse(h, (const unsigned char *)s, n);
    size_t at = yajl_get_bytes_consumed(h); /* where a yajl_parse error is */
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        at = n; /* an error now means the input ended too soon */
    }
    if (st == yajl_status_ok && c.root) {
        *out = c.root;
        rc = TM_OK;
    } else if (c.oom) {
        rc = TM_ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else if (c.too_deep) {
        snprintf(err, errlen, "invalid JSON: nested deeper than %d levels", TM_JSON_MAX_DEPTH);
    } else if (st == yajl_status_ok) {
        snprintf(err, errlen, "invalid JSON: no value");
    } else {
        unsigned char *m = yajl_get_error(h, 0, (const unsigned char *)s, n);
        const char *msg = m ? (const char *)m : "parse error";
        if (strncmp(msg, "parse error: ", 13) == 0)
            msg += 13;
        if (strncmp(msg, "lexical error: ", 15) == 0)
            msg += 15;
        int len = (int)strcspn(msg, "\n");
        snprintf(err, errlen, "invalid JSON at byte %zu: %.*s", at, len, msg);
        if (m)
            yajl_free_error(h, m);
    }
    /* A cancelled parse leaves frames open: release their child lists. */
    while (c.depth > 0) {
        frame *f = &c.stack[--c.depth];
        free(f->vals);
        free(f->keys);
        free(f->klens);
    }
    yajl_free(h);
    yreserve_used = 0; /* every block of this parse is free again */
    return rc;
}

int tm__json_load_file(tm_arena *a, const char *path, size_t max, tm_jv **out)
{
    tm_buf file = TM_BUF_INIT;
    tm_jv *root = NULL;
    char jerr[200];
    file.max = max;
    int rc = tm__buf_read_file(&file, path);
    if (rc == TM_OK) {
        rc = tm__json_parse(a, file.data ? file.data : "", file.len, &root, jerr, sizeof jerr);
        if (rc == TM_EINVAL)
            rc = tm__fail(TM_EINVAL, "%s: %s", path, jerr);
    }
    if (rc == TM_OK && root->type != TM_J_OBJECT)
        rc = tm__fail(TM_EINVAL, "%s: must be a JSON object", path);
    tm__buf_free(&file);
    if (rc == TM_OK)
        *out = root;
    return rc;
}

const tm_jv *tm__json_get(const tm_jv *o, const char *key)
{
    if (!o || o->type != TM_J_OBJECT)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return o->vals[i];
    return NULL;
}

const char *tm__json_type_name(tm_jtype t)
{
    switch (t) {
    case TM_J_NULL: return "null";
    case TM_J_FALSE:
    case TM_J_TRUE: return "a boolean";
    case TM_J_NUMBER: return "a number";
    case TM_J_STRING: return "a string";
    case TM_J_OBJECT: return "an object";
    case TM_J_ARRAY: return "an array";
    }
    return "?";
}

int tm__json_str_or_null(tm_buf *b, const char *s)
{
    return s ? tm__json_str(b, s, strlen(s)) : tm__buf_puts(b, "null");
}

int tm__json_str(tm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = tm__buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < n && rc == TM_OK; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        rc = tm__buf_add(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        size_t el = 2;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[ch >> 4]; esc[5] = hex[ch & 15];
            el = 6;
        }
        if (rc == TM_OK)
            rc = tm__buf_add(b, esc, el);
    }
    if (rc == TM_OK)
        rc = tm__buf_add(b, s + run, n - run);
    if (rc == TM_OK)
        rc = tm__buf_putc(b, '"');
    return rc;
}

int tm__json_write(tm_buf *b, const tm_jv *v)
{
    int rc = TM_OK;
    switch (v->type) {
    case TM_J_NULL: return tm__buf_puts(b, "null");
    case TM_J_FALSE: return tm__buf_puts(b, "false");
    case TM_J_TRUE: return tm__buf_puts(b, "true");
    case TM_J_NUMBER: return tm__buf_add(b, v->s, v->n);
    case TM_J_STRING: return tm__json_str(b, v->s, v->n);
    case TM_J_OBJECT:
    case TM_J_ARRAY:
        rc = tm__buf_putc(b, v->type == TM_J_OBJECT ? '{' : '[');
        for (size_t i = 0; i < v->n && rc == TM_OK; i++) {
            if (i)
                rc = tm__buf_putc(b, ',');
            if (rc == TM_OK && v->type == TM_J_OBJECT) {
                rc = tm__json_str(b, v->keys[i], v->klens[i]);
                if (rc == TM_OK)
                    rc = tm__buf_putc(b, ':');
            }
            if (rc == TM_OK)
                rc = tm__json_write(b, v->vals[i]);
        }
        if (rc == TM_OK)
            rc = tm__buf_putc(b, v->type == TM_J_OBJECT ? '}' : ']');
    }
    return rc;
}
