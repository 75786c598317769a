/*
 * arena.h — a bump allocator for one request, one query or one batch.
 *
 * Everything allocated from an arena is freed at once by tm__arena_free (or
 * reset for reuse by tm__arena_reset). Allocation failure returns NULL.
 */
#ifndef TM_CORE_ARENA_H
#define TM_CORE_ARENA_H

#include <stddef.h>

typedef struct tm_arena_chunk tm_arena_chunk;

typedef struct tm_arena {
    tm_arena_chunk *head;   /* newest chunk first                            */
    size_t used;            /* bytes used in head                            */
    size_t total;           /* bytes handed out over the arena's life        */
} tm_arena;

#define TM_ARENA_INIT {NULL, 0, 0}

void *tm__arena_alloc(tm_arena *a, size_t n);          /* 16-byte aligned */
char *tm__arena_strndup(tm_arena *a, const char *s, size_t n); /* NUL-ended */
void tm__arena_reset(tm_arena *a);   /* keeps the first chunk for reuse */
void tm__arena_free(tm_arena *a);    /* a may hold TM_ARENA_INIT: no-op */

#endif
