/*
 * strmap.c — open addressing at most 50% full; grows by doubling.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "tokmeter.h"

uint64_t tm__hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static tm_strmap_slot *find(const tm_strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        tm_strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
            return s;
    }
}

int tm__strmap_get(const tm_strmap *m, const char *key, int64_t *value)
{
    if (!m->cap)
        return 0;
    tm_strmap_slot *s = find(m, key, tm__hash(key, strlen(key)));
    if (!s->key)
        return 0;
    *value = s->value;
    return 1;
}

static int grow(tm_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    tm_strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return TM_ENOMEM;
    tm_strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            *find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
    free(old.slots);
    return TM_OK;
}

int tm__strmap_put(tm_strmap *m, const char *key, int64_t value)
{
    if ((m->len + 1) * 2 > m->cap && grow(m) != TM_OK)
        return TM_ENOMEM;
    size_t n = strlen(key);
    uint64_t h = tm__hash(key, n);
    tm_strmap_slot *s = find(m, key, h);
    if (!s->key) {
        if (!(s->key = malloc(n + 1)))
            return TM_ENOMEM;
        memcpy(s->key, key, n + 1);
        s->hash = h;
        m->len++;
    }
    s->value = value;
    return TM_OK;
}

void tm__strmap_clear(tm_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
