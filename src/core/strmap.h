/*
 * strmap.h — a string → int64 hash map (open addressing, linear probing).
 * Keys are copied in. Not thread-safe: each owner guards its own.
 */
#ifndef TM_CORE_STRMAP_H
#define TM_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_strmap_slot {
    char *key;          /* owned; NULL: empty slot */
    uint64_t hash;
    int64_t value;
} tm_strmap_slot;

typedef struct tm_strmap {
    tm_strmap_slot *slots;
    size_t cap;         /* power of two, or 0 */
    size_t len;
} tm_strmap;

#define TM_STRMAP_INIT {NULL, 0, 0}

uint64_t tm__hash(const void *p, size_t n); /* FNV-1a 64 */

/* Looks key up: returns 1 and sets *value if present, else 0. */
int tm__strmap_get(const tm_strmap *m, const char *key, int64_t *value);

/* Inserts or replaces. Returns TM_OK or TM_ENOMEM. */
int tm__strmap_put(tm_strmap *m, const char *key, int64_t value);

void tm__strmap_clear(tm_strmap *m);   /* frees everything; reusable after */

#endif
