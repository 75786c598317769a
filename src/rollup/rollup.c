/*
 * rollup.c — cells, cell sets and the in-memory rollups.
 *
 * Memory per cell: 36 bytes of key, 136 of sums, 16 of sketch header plus
 * 6 bytes per latency bin used (at most the number of distinct latencies,
 * and ~250 bins cover 1 ms to 100 s), plus 4–8 bytes of hash slot and hour
 * index: about 200 bytes for a cell with a handful of events.
 */
#include "rollup.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/strmap.h"

const char *const tm__dim_names[TM_NDIM] = {
    "provider", "model", "user_id", "endpoint", "operation", "metric_type", "success", "project",
};

#define B(d) (1u << (d))
const unsigned tm__proj_dims[TM_NPROJ_ALL] = {
    B(TM_D_PROVIDER) | B(TM_D_MODEL) | B(TM_D_OPERATION) | B(TM_D_METRIC) | B(TM_D_SUCCESS),
    B(TM_D_ENDPOINT) | B(TM_D_METRIC) | B(TM_D_SUCCESS),
    B(TM_D_USER) | B(TM_D_METRIC),
    B(TM_D_USER) | B(TM_D_PROVIDER) | B(TM_D_MODEL) | B(TM_D_METRIC),
    B(TM_D_USER) | B(TM_D_ENDPOINT) | B(TM_D_METRIC),
};

void tm__sums_add_fact(tm_sums *s, const tm_fact *f, int sign)
{
    s->events += sign;
    s->requests += sign * f->llm_call;
    s->value += sign * (tm_i128)f->value;
    s->input += sign * f->input;
    s->output += sign * f->output;
    s->cache_read += sign * f->cache_read;
    s->cache_write += sign * f->cache_write;
    s->reasoning += sign * f->reasoning;
    s->total += sign * f->total;
    s->cost += sign * (tm_i128)f->cost;
    s->unpriced += sign * (f->cost_source == TM_COST_UNPRICED);
    s->errors += sign * !f->success;
    if (f->has_latency) {
        s->lat_n += sign;
        s->lat_sum += sign * (tm_i128)f->latency_ns;
    }
}

void tm__sums_add(tm_sums *a, const tm_sums *b) { tm__sums_add_signed(a, b, 1); }

void tm__sums_add_signed(tm_sums *a, const tm_sums *b, int sign)
{
    a->events += sign * b->events;
    a->requests += sign * b->requests;
    a->value += sign * b->value;
    a->input += sign * b->input;
    a->output += sign * b->output;
    a->cache_read += sign * b->cache_read;
    a->cache_write += sign * b->cache_write;
    a->reasoning += sign * b->reasoning;
    a->total += sign * b->total;
    a->cost += sign * b->cost;
    a->unpriced += sign * b->unpriced;
    a->errors += sign * b->errors;
    a->lat_n += sign * b->lat_n;
    a->lat_sum += sign * b->lat_sum;
}

/* Cell keys are 32-bit words: mix them a word at a time (FNV's byte loop
 * was a third of a query's time). */
static size_t key_hash(const tm_cell_key *k)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    h = (h ^ (uint32_t)k->proj) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h = (h ^ (uint32_t)k->hour) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    for (int i = 0; i < TM_NDIM; i++) {
        h = (h ^ k->dim[i]) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (size_t)h;
}

static int rehash(tm_cellset *cs, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return TM_ENOMEM;
    for (size_t i = 0; i < cs->n; i++) {
        size_t h = key_hash(&cs->cells[i].key) & (nslots - 1);
        while (slots[h])
            h = (h + 1) & (nslots - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(cs->slots);
    cs->slots = slots;
    cs->nslots = nslots;
    return TM_OK;
}

tm_cell *tm__cellset_get(tm_cellset *cs, const tm_cell_key *key)
{
    if ((cs->n + 1) * 2 > cs->nslots && rehash(cs, cs->nslots ? cs->nslots * 2 : 64))
        return NULL;
    size_t h = key_hash(key) & (cs->nslots - 1);
    for (; cs->slots[h]; h = (h + 1) & (cs->nslots - 1)) {
        tm_cell *c = &cs->cells[cs->slots[h] - 1];
        if (memcmp(&c->key, key, sizeof *key) == 0)
            return c;
    }
    tm_cell *grown = tm__grow(cs->cells, cs->n, &cs->cap, sizeof *grown, 64);
    if (!grown)
        return NULL;
    cs->cells = grown;
    tm_cell *c = &cs->cells[cs->n];
    memset(c, 0, sizeof *c);
    c->key = *key;
    cs->slots[h] = (uint32_t)++cs->n;
    return c;
}

const tm_cell *tm__cellset_find(const tm_cellset *cs, const tm_cell_key *key)
{
    if (!cs->nslots)
        return NULL;
    size_t h = key_hash(key) & (cs->nslots - 1);
    for (; cs->slots[h]; h = (h + 1) & (cs->nslots - 1)) {
        const tm_cell *c = &cs->cells[cs->slots[h] - 1];
        if (memcmp(&c->key, key, sizeof *key) == 0)
            return c;
    }
    return NULL;
}

int tm__cellset_reserve(tm_cellset *cs, size_t n)
{
    if (n > cs->cap) {
        tm_cell *p = realloc(cs->cells, n * sizeof *p);
        if (!p)
            return TM_ENOMEM;
        cs->cells = p;
        cs->cap = n;
    }
    size_t slots = 64;
    while (slots < 2 * n)
        slots *= 2;
    return slots > cs->nslots ? rehash(cs, slots) : TM_OK;
}

void tm__cellset_free(tm_cellset *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        tm__sketch_free(&cs->cells[i].sk);
    free(cs->cells);
    free(cs->slots);
    memset(cs, 0, sizeof *cs);
}

void tm__fact_of_event(const tm_event *e, const uint32_t dim[TM_NDIM], tm_fact *f)
{
    memcpy(f->dim, dim, sizeof f->dim);
    f->ts_us = e->ts_us;
    f->value = e->value_nano;
    f->input = e->input_tokens;
    f->output = e->output_tokens;
    f->cache_read = e->cache_read_tokens;
    f->cache_write = e->cache_write_tokens;
    f->reasoning = e->reasoning_tokens;
    f->total = e->total_tokens;
    f->cost = e->cost_pusd;
    f->cost_source = e->cost_source;
    f->has_latency = (e->has & TM_HAS_LATENCY) != 0;
    f->latency_ns = e->latency_ns;
    f->llm_call = e->metric_type && strcmp(e->metric_type, "llm_call") == 0;
    f->success = e->success;
}

/* The rollups change by the difference: a fact of cost new − old and
 * unpriced ±1, counted as no event. */
int tm__rollup_add_cost_delta(tm_cellset *deltas, const tm_fact *f, int64_t old_cost,
                              int old_source, int64_t new_cost, int new_source)
{
    tm_cellset one = {0};
    int rc = tm__rollup_add_fact(&one, f, 1);
    for (size_t k = 0; rc == TM_OK && k < one.n; k++) {
        tm_cell *dc = tm__cellset_get(deltas, &one.cells[k].key);
        if (!dc) {
            rc = TM_ENOMEM;
            break;
        }
        dc->s.cost += (tm_i128)new_cost - old_cost;
        dc->s.unpriced += (new_source == TM_COST_UNPRICED) - (old_source == TM_COST_UNPRICED);
    }
    tm__cellset_free(&one);
    return rc;
}

int tm__rollup_add_fact(tm_cellset *batch, const tm_fact *f, int sign)
{
    int64_t hour = f->ts_us / (3600LL * 1000000);
    for (int p = 0; p < TM_NPROJ_ALL; p++) {
        tm_cell_key k;
        memset(&k, 0, sizeof k);
        k.proj = p;
        k.hour = (int32_t)(tm__proj_daily(p) ? tm__day_hour(hour) : hour);
        for (int d = 0; d < TM_NDIM; d++)
            if (tm__proj_dims[p] & (1u << d))
                k.dim[d] = f->dim[d];
        tm_cell *c = tm__cellset_get(batch, &k);
        if (!c)
            return TM_ENOMEM;
        tm__sums_add_fact(&c->s, f, sign);
        if (sign > 0 && f->has_latency && tm__sketch_add(&c->sk, f->latency_ns, 1))
            return TM_ENOMEM;
    }
    return TM_OK;
}

/* ---- in-memory rollups ---- */

void tm__rollups_init(tm_rollups *r)
{
    memset(r, 0, sizeof *r);
    /* Writers first: the commit hook (tokmeter.c) waits only for the reads
     * under way, not for every read that starts while it waits; glibc's
     * default would let overlapping reads hold off commits indefinitely.
     * (No thread takes the read lock twice, so this cannot deadlock.) */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    r->version = -1;
}

void tm__rollups_clear(tm_rollups *r)
{
    tm__cellset_free(&r->cells);
    for (size_t i = 0; i < r->nhours; i++)
        for (int k = 0; k < TM_NSLOT; k++)
            free(r->hours[i].slot[k].ix);
    free(r->hours);
    r->hours = NULL;
    r->nhours = r->caphours = 0;
    if (r->map) /* after the cells: their sketches may still be lent from it */
        munmap(r->map, r->maplen);
    r->map = NULL;
    r->maplen = 0;
    r->version = -1;
    r->loaded = r->users_loaded = 0;
    r->nmetrics = 0;
}

void tm__rollups_destroy(tm_rollups *r)
{
    tm__rollups_clear(r);
    free(r->snapshot);
    r->snapshot = NULL;
    pthread_rwlock_destroy(&r->lock);
}

/* The index of the first indexed hour at or after h. */
static size_t hour_search(const tm_rollups *r, int64_t h)
{
    size_t lo = 0, hi = r->nhours;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->hours[mid].hour < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The index entry of hour h, added (in order) when missing; NULL: no memory. */
static struct hour_ix *hour_at(tm_rollups *r, int32_t h)
{
    size_t i = r->nhours && r->hours[r->nhours - 1].hour < h ? r->nhours : hour_search(r, h);
    if (i < r->nhours && r->hours[i].hour == h)
        return &r->hours[i];
    struct hour_ix *p = tm__grow(r->hours, r->nhours, &r->caphours, sizeof *p, 256);
    if (!p)
        return NULL;
    r->hours = p;
    memmove(p + i + 1, p + i, (r->nhours - i) * sizeof *p);
    memset(p + i, 0, sizeof *p);
    p[i].hour = h;
    r->nhours++;
    return p + i;
}

static int merge_one(tm_rollups *r, const tm_cell *src);

int tm__rollups_reserve(tm_rollups *r, size_t n)
{
    return tm__cellset_reserve(&r->cells, n + n / 16 + 64);
}

/* Remembers the metric types of user cells, so that one user's cells can
 * be found by key (user, day, metric type) instead of by a scan. */
static void note_metric(tm_rollups *r, uint32_t m)
{
    for (int i = 0; i < r->nmetrics; i++)
        if (r->metrics[i] == m)
            return;
    if (r->nmetrics >= 0 && r->nmetrics < (int)(sizeof r->metrics / sizeof r->metrics[0]))
        r->metrics[r->nmetrics++] = m;
    else
        r->nmetrics = -1;
}

int tm__rollups_merge(tm_rollups *r, const tm_cell *src)
{
    if (src->key.proj >= TM_NPROJ) /* kept only in the store */
        return TM_OK;
    if (src->key.proj == TM_PROJ_USER) {
        if (!r->users_loaded) /* loaded from the store on first use */
            return TM_OK;
        note_metric(r, src->key.dim[TM_D_METRIC]);
    }
    tm_cell up = *src; /* the day cell of an hour cell, the week cell of a user cell */
    up.key.proj = src->key.proj + TM_DAY;
    up.key.hour = (int32_t)(src->key.proj == TM_PROJ_USER ? tm__week_hour(src->key.hour)
                                                          : tm__day_hour(src->key.hour));
    int rc = merge_one(r, src);
    return rc ? rc : merge_one(r, &up);
}

/* Lists cell i under hour hx, in slot proj. */
static int list_cell(struct hour_ix *hx, int proj, uint32_t i)
{
    struct hour_list *hl = &hx->slot[proj];
    if (hl->n == hl->cap) {
        uint32_t cap = hl->cap ? hl->cap * 2 : 8;
        uint32_t *ix = realloc(hl->ix, cap * sizeof *ix);
        if (!ix)
            return TM_ENOMEM;
        hl->ix = ix;
        hl->cap = cap;
    }
    hl->ix[hl->n++] = i;
    return TM_OK;
}

static int index_cell(tm_rollups *r, uint32_t i)
{
    const tm_cell *c = &r->cells.cells[i];
    struct hour_ix *hx = hour_at(r, c->key.hour);
    return hx ? list_cell(hx, c->key.proj, i) : TM_ENOMEM;
}

/* index_cell for cells in the order they were made, an hour cell and
 * then its day cell: the hour entries of the last two cells are tried
 * before a search (a search per cell was a third of a restore). near
 * holds them as indexes into r->hours (-1: none); a new hour may shift
 * the entries, which only makes the check of the hour miss. */
static int index_cell_near(tm_rollups *r, uint32_t i, int64_t near[2])
{
    const tm_cell *c = &r->cells.cells[i];
    for (int k = 0; k < 2; k++)
        if (near[k] >= 0 && r->hours[near[k]].hour == c->key.hour)
            return list_cell(&r->hours[near[k]], c->key.proj, i);
    struct hour_ix *hx = hour_at(r, c->key.hour);
    if (!hx)
        return TM_ENOMEM;
    near[1] = near[0];
    near[0] = hx - r->hours;
    return list_cell(hx, c->key.proj, i);
}

static int merge_one(tm_rollups *r, const tm_cell *src)
{
    size_t before = r->cells.n;
    tm_cell *c = tm__cellset_get(&r->cells, &src->key);
    if (!c)
        return TM_ENOMEM;
    tm__sums_add(&c->s, &src->s);
    if (tm__sketch_merge(&c->sk, &src->sk))
        return TM_ENOMEM;
    if (r->cells.n == before)
        return TM_OK;
    return index_cell(r, (uint32_t)(c - r->cells.cells)); /* a new cell */
}

int tm__rollups_each(const tm_rollups *r, int proj, int32_t h0, int32_t h1,
                     int (*fn)(void *, const tm_cell *), void *arg)
{
    enum { AHEAD = 8 }; /* cells are ~200 bytes apart in no useful order: */
    for (size_t k = hour_search(r, h0); k < r->nhours && r->hours[k].hour < h1; k++) {
        const struct hour_list *hl = &r->hours[k].slot[proj];
        for (uint32_t i = 0; i < hl->n; i++) {
            if (i + AHEAD < hl->n) { /* fetch ahead the key's and the sums' lines */
                const char *next = (const char *)&r->cells.cells[hl->ix[i + AHEAD]];
                __builtin_prefetch(next);
                __builtin_prefetch(next + offsetof(tm_cell, s.cost));
            }
            int rc = fn(arg, &r->cells.cells[hl->ix[i]]);
            if (rc)
                return rc;
        }
    }
    return TM_OK;
}

/* ---- the snapshot ---- */

/* The file, read only by the same build (cell_size and the magic) on the
 * same machine:
 *
 *   snap_head
 *   cells[n]       as they lie in memory, sketch bins NULL and cap 0
 *   slots[nslots]  the cells' hash index (tm_cellset.slots)
 *   bins[nbins]    every cell's sketch bins, in cell order (8-aligned)
 *
 * The cells and slots are read into memory (they change); the bins stay
 * in the file, mapped, and lent to the cells: reading and allocating them
 * one sketch at a time was most of a restart. */
typedef struct snap_head {
    char magic[8];
    uint32_t cell_size, nslot;
    int64_t version;
    uint64_t ident[4], n, nslots, nbins;
    int32_t users_loaded, pad;
} snap_head;
static const char SNAP_MAGIC[8] = "tmroll3"; /* 3: user week cells */

/* Where each part starts; 0 when the sizes do not fit in a file. */
typedef struct snap_layout {
    uint64_t cells, slots, bins, end;
} snap_layout;

static snap_layout snap_layout_of(const snap_head *h)
{
    snap_layout l = {0};
    if (h->n >= UINT32_MAX || h->nslots > ((uint64_t)1 << 40) || h->nbins > ((uint64_t)1 << 48))
        return l;
    l.cells = (sizeof(snap_head) + 15) / 16 * 16; /* tm_cell holds 128-bit sums */
    l.slots = l.cells + h->n * sizeof(tm_cell);
    l.bins = (l.slots + h->nslots * sizeof(uint32_t) + 7) / 8 * 8;
    l.end = l.bins + h->nbins * sizeof(tm_sketch_bin);
    return l;
}

static int write_at(FILE *f, uint64_t off)
{
    return fseeko(f, (off_t)off, SEEK_SET) == 0;
}

void tm__rollups_save(const tm_rollups *r, int64_t version, const uint64_t ident[4])
{
    if (!r->snapshot || !r->loaded || r->version != version)
        return;
    size_t len = strlen(r->snapshot) + 32;
    char *tmp = malloc(len);
    if (!tmp)
        return;
    snprintf(tmp, len, "%s.%ld.tmp", r->snapshot, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int ok = f != NULL;
    if (!f && fd >= 0)
        close(fd);
    const tm_cellset *cs = &r->cells;
    snap_head h = {.cell_size = sizeof(tm_cell), .nslot = TM_NSLOT, .version = version,
                   .ident = {ident[0], ident[1], ident[2], ident[3]}, .n = cs->n,
                   .nslots = cs->n ? cs->nslots : 0, .users_loaded = r->users_loaded};
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    for (size_t i = 0; i < cs->n; i++)
        h.nbins += cs->cells[i].sk.n;
    snap_layout l = snap_layout_of(&h);
    ok = ok && l.end && fwrite(&h, sizeof h, 1, f) == 1 && write_at(f, l.cells);
    for (size_t i = 0; ok && i < cs->n; i++) {
        tm_cell c = cs->cells[i];
        c.sk.bins = NULL;
        c.sk.cap = 0;
        ok = fwrite(&c, sizeof c, 1, f) == 1;
    }
    ok = ok && (!h.nslots || fwrite(cs->slots, sizeof *cs->slots, h.nslots, f) == h.nslots) &&
         write_at(f, l.bins);
    for (size_t i = 0; ok && i < cs->n; i++) {
        const tm_sketch *sk = &cs->cells[i].sk;
        ok = !sk->n || fwrite(sk->bins, sizeof *sk->bins, sk->n, f) == sk->n;
    }
    if (f) {
        ok = ok && fflush(f) == 0 && fdatasync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
    }
    if (!ok || rename(tmp, r->snapshot) != 0)
        unlink(tmp);
    free(tmp);
}

/* Reads len bytes at off; 1 when all were read. */
static int read_at(int fd, void *buf, uint64_t len, uint64_t off)
{
    for (uint64_t got = 0; got < len;) {
        ssize_t k = pread(fd, (char *)buf + got, (size_t)(len - got), (off_t)(off + got));
        if (k <= 0)
            return 0;
        got += (uint64_t)k;
    }
    return 1;
}

/* The snapshot's hash index, checked: n cells each listed once would need
 * a scan of keys, so it checks what a look-up relies on not to go astray
 * (a power-of-two size with room, every entry a cell or empty, n used). */
static int slots_sane(const uint32_t *slots, uint64_t nslots, uint64_t n)
{
    if (nslots == 0)
        return n == 0;
    if ((nslots & (nslots - 1)) || nslots < 2 * n)
        return 0;
    uint64_t used = 0;
    for (uint64_t i = 0; i < nslots; i++) {
        if (slots[i] > n)
            return 0;
        used += slots[i] != 0;
    }
    return used == n;
}

int tm__rollups_restore(tm_rollups *r, int64_t version, int users)
{
    if (!r->snapshot)
        return 0;
    int fd = open(r->snapshot, O_RDONLY | O_CLOEXEC);
    unlink(r->snapshot); /* used once, whatever it holds */
    if (fd < 0)
        return 0;
    struct stat st;
    snap_head h;
    snap_layout l = {0};
    int ok = fstat(fd, &st) == 0 && read_at(fd, &h, sizeof h, 0) &&
             memcmp(h.magic, SNAP_MAGIC, sizeof h.magic) == 0 && h.cell_size == sizeof(tm_cell) &&
             h.nslot == TM_NSLOT && h.version == version && memcmp(h.ident, r->ident, sizeof h.ident) == 0 &&
             (h.users_loaded || !users) && (l = snap_layout_of(&h)).end == (uint64_t)st.st_size;
    /* The cells, with room to grow as tm__rollups_reserve leaves, and
     * their hash index as it was. */
    tm_cellset *cs = &r->cells;
    size_t cap = ok ? (size_t)h.n + (size_t)h.n / 16 + 64 : 0;
    ok = ok && (cs->cells = malloc(cap * sizeof *cs->cells)) != NULL && read_at(fd, cs->cells, h.n * sizeof(tm_cell), l.cells);
    cs->cap = cs->cells ? cap : 0;
    ok = ok && (!h.nslots || ((cs->slots = malloc((size_t)h.nslots * sizeof *cs->slots)) != NULL &&
                              read_at(fd, cs->slots, h.nslots * sizeof *cs->slots, l.slots)));
    cs->nslots = cs->slots ? (size_t)h.nslots : 0;
    ok = ok && slots_sane(cs->slots, h.nslots, h.n);
    /* The bins, from the page they start in. */
    uint64_t from = l.bins / (uint64_t)sysconf(_SC_PAGESIZE) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (ok && h.nbins) {
        void *map = mmap(NULL, (size_t)(l.end - from), PROT_READ, MAP_PRIVATE, fd, (off_t)from);
        ok = map != MAP_FAILED;
        r->map = ok ? map : NULL;
        r->maplen = ok ? (size_t)(l.end - from) : 0;
    }
    close(fd);
    const tm_sketch_bin *bins = r->map ? (const tm_sketch_bin *)((const char *)r->map + (l.bins - from)) : NULL;
    uint64_t used = 0;
    int64_t near[2] = {-1, -1};
    for (uint64_t i = 0; ok && i < h.n; i++) {
        tm_cell *c = &cs->cells[i];
        ok = c->key.proj >= 0 && c->key.proj < TM_NSLOT && c->sk.cap == 0 && c->sk.n <= h.nbins - used;
        c->sk.bins = ok && c->sk.n ? (tm_sketch_bin *)(bins + used) : NULL; /* lent (sketch.h) */
        if (!ok)
            break;
        cs->n = (size_t)i + 1; /* listed from here: cleared on failure */
        used += c->sk.n;
        ok = index_cell_near(r, (uint32_t)i, near) == TM_OK;
        if (c->key.proj == TM_PROJ_USER)
            note_metric(r, c->key.dim[TM_D_METRIC]);
    }
    if (!ok || used != h.nbins) {
        tm__rollups_clear(r);
        return 0;
    }
    r->version = version;
    r->loaded = 1;
    r->users_loaded = h.users_loaded;
    return 1;
}
