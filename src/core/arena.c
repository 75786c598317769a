/*
 * arena.c — chunked bump allocation.
 *
 *   head ─► [chunk: next | size | bytes ...used...|....free....]
 *              └► [older chunk] ─► ...
 *
 * Requests larger than a quarter chunk get a chunk of their own, so a big
 * string does not waste the rest of a shared chunk.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16384

struct tm_arena_chunk {
    tm_arena_chunk *next;
    size_t size;
    _Alignas(16) unsigned char data[];
};

void *tm__arena_alloc(tm_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (!a->head || a->used + n > a->head->size) {
        size_t size = n > CHUNK / 4 ? n : CHUNK;
        if (size > SIZE_MAX - sizeof(tm_arena_chunk))
            return NULL;
        tm_arena_chunk *c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->size = size;
        if (size > CHUNK && a->head) {
            /* Oversized: keep the current head chunk in front for reuse. */
            c->next = a->head->next;
            a->head->next = c;
            a->total += n;
            return c->data;
        }
        c->next = a->head;
        a->head = c;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    a->total += n;
    return p;
}

char *tm__arena_strndup(tm_arena *a, const char *s, size_t n)
{
    char *p = tm__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void tm__arena_reset(tm_arena *a)
{
    if (!a->head)
        return;
    tm_arena_chunk *keep = a->head, *c = keep->next;
    while (c) {
        tm_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    keep->next = NULL;
    a->used = 0;
    a->total = 0;
}

void tm__arena_free(tm_arena *a)
{
    tm_arena_chunk *c = a->head;
    while (c) {
        tm_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = a->total = 0;
}
