/*
 * buf.c — the capped growable buffer. Sizes double; arithmetic is checked.
 */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "tokmeter.h"

#define DEFAULT_MAX ((size_t)1 << 30)

static int grow(tm_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : DEFAULT_MAX;
    if (extra > max || b->len > max - extra)
        return TM_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return TM_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return TM_ENOMEM;
    b->data = p;
    b->cap = cap;
    return TM_OK;
}

int tm__buf_add(tm_buf *b, const void *p, size_t n)
{
    int rc = grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TM_OK;
}

int tm__buf_puts(tm_buf *b, const char *s) { return tm__buf_add(b, s, strlen(s)); }

int tm__buf_putc(tm_buf *b, char c) { return tm__buf_add(b, &c, 1); }

int tm__buf_printf(tm_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TM_EINVAL;
    if ((size_t)n < sizeof small)
        return tm__buf_add(b, small, (size_t)n);
    int rc = grow(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TM_OK;
}

void tm__buf_reset(tm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tm__buf_free(tm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int tm__buf_read_file(tm_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t got;
    int rc = TM_OK;
    if (!f)
        return tm__fail(errno == ENOENT ? TM_ENOTFOUND : TM_EIO, "%s: %s", path, strerror(errno));
    while (rc == TM_OK && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = tm__buf_add(b, chunk, got);
    if (rc == TM_OK && ferror(f))
        rc = tm__fail(TM_EIO, "%s: read error", path);
    else if (rc == TM_ETOOBIG)
        rc = tm__fail(TM_ETOOBIG, "%s: larger than %zu bytes", path, b->max);
    fclose(f);
    return rc;
}

void *tm__grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : first;
    if (c < *cap || c > SIZE_MAX / elem) /* overflow */
        return NULL;
    void *p = realloc(arr, c * elem);
    if (p)
        *cap = c;
    return p;
}

int tm__mkdir_parents(const char *path, unsigned mode)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return tm__fail(TM_EINVAL, "%.64s...: path is too long", path);
    memcpy(dir, path, n + 1);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, (mode_t)mode) != 0 && errno != EEXIST)
            return tm__fail(TM_EIO, "cannot create directory %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return TM_OK;
}
