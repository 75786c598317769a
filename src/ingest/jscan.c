/*
 * jscan.c — a cursor over JSON text that finds an object's members without
 * building a tree: the importers' hot path (a Claude Code line is ~1 KB of
 * which ~150 bytes matter). It checks structure (brackets, strings,
 * literals, numbers) but not UTF-8 inside skipped strings; a string that
 * is needed and holds escapes is left to the full parser (tm__json_parse),
 * which the readers fall back to.
 */
#include <string.h>

#include "ingest_int.h"

static void ws(tm_jscan *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

int tm__jscan_peek(tm_jscan *c)
{
    ws(c);
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

/* Past a string starting at c->p ('"'); with esc, *esc is set when it
 * holds escapes. */
static int skip_string(tm_jscan *c, int *esc)
{
    const char *p = c->p + 1;
    if (esc)
        *esc = 0;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(c->end - p));
        if (!q)
            return -1;
        /* an escaped quote has an odd run of backslashes before it */
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (esc && memchr(p, '\\', (size_t)(q - p)))
            *esc = 1;
        if ((q - b) % 2 == 0) {
            c->p = q + 1;
            return 0;
        }
        p = q + 1;
    }
}

int tm__jscan_str(tm_jscan *c, const char **s, size_t *n)
{
    int esc;
    if (tm__jscan_peek(c) != '"')
        return -1;
    const char *start = c->p + 1;
    if (skip_string(c, &esc))
        return -1;
    *s = start;
    *n = (size_t)(c->p - 1 - start);
    return esc; /* 1: escapes, the caller needs the full parser */
}

int tm__jscan_num(tm_jscan *c, const char **s, size_t *n)
{
    ws(c);
    const char *start = c->p;
    while (c->p < c->end && strchr("0123456789+-.eE", *c->p) && *c->p)
        c->p++;
    if (c->p == start)
        return -1;
    *s = start;
    *n = (size_t)(c->p - start);
    return 0;
}

int tm__jscan_skip(tm_jscan *c)
{
    int ch = tm__jscan_peek(c), depth = 0;
    if (ch == '"')
        return skip_string(c, NULL);
    if (ch != '{' && ch != '[') {
        static const char *const lits[] = {"true", "false", "null"};
        for (int i = 0; i < 3; i++) {
            size_t l = strlen(lits[i]);
            if ((size_t)(c->end - c->p) >= l && memcmp(c->p, lits[i], l) == 0) {
                c->p += l;
                return 0;
            }
        }
        const char *s;
        size_t n;
        return tm__jscan_num(c, &s, &n);
    }
    /* A container: only brackets and strings matter for finding its end. */
    while (c->p < c->end) {
        char x = *c->p;
        if (x == '"') {
            if (skip_string(c, NULL))
                return -1;
            continue;
        }
        if (x == '{' || x == '[')
            depth++;
        else if (x == '}' || x == ']') {
            if (--depth == 0) {
                c->p++;
                return 0;
            }
        }
        c->p++;
    }
    return -1;
}

int tm__jscan_enter(tm_jscan *c)
{
    if (tm__jscan_peek(c) != '{')
        return -1;
    c->p++;
    return 0;
}

int tm__jscan_key(tm_jscan *c, const char **k, size_t *kn)
{
    int ch = tm__jscan_peek(c);
    if (ch == '}') {
        c->p++;
        return 0;
    }
    if (ch == ',') /* lenient: commas are not counted, only brackets */
        c->p++;
    if (tm__jscan_str(c, k, kn) < 0 || tm__jscan_peek(c) != ':')
        return -1;
    c->p++;
    return 1;
}
