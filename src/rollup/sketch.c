/*
 * sketch.c — DDSketch bins on the log scale. Latency is not money, so
 * floating point is fine here; the guarantee is relative accuracy α = 1%.
 */
#include "sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokmeter.h"

#define ALPHA 0.01
static const double GAMMA = (1.0 + ALPHA) / (1.0 - ALPHA);

int tm__sketch_bin_of(int64_t ns)
{
    double ms = (double)ns / 1e6;
    double i = ceil(log(ms) / log(GAMMA));
    if (i < TM_SKETCH_MIN_BIN)
        return TM_SKETCH_MIN_BIN;
    if (i > TM_SKETCH_MAX_BIN)
        return TM_SKETCH_MAX_BIN;
    return (int)i;
}

static double bin_value(int i)
{
    return 2.0 * pow(GAMMA, i) / (GAMMA + 1.0);
}

static int lent(const tm_sketch *s) { return !s->cap && s->n; } /* see sketch.h */

/* Lent bins become the sketch's own before a change. */
static int own_bins(tm_sketch *s)
{
    if (!lent(s))
        return TM_OK;
    tm_sketch_bin *b = malloc((size_t)s->n * 2 * sizeof *b);
    if (!b)
        return TM_ENOMEM;
    memcpy(b, s->bins, s->n * sizeof *b);
    s->bins = b;
    s->cap = s->n * 2;
    return TM_OK;
}

static int add_bin(tm_sketch *s, int index, uint64_t count)
{
    if (own_bins(s))
        return TM_ENOMEM;
    uint32_t lo = 0, hi = s->n;
    if (s->n && s->bins[s->n - 1].index < index) /* appending in order */
        lo = hi = s->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->bins[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->bins[lo].index == index) {
        uint64_t c = (uint64_t)s->bins[lo].count + count;
        s->bins[lo].count = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
        return TM_OK;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        tm_sketch_bin *b = realloc(s->bins, cap * sizeof *b);
        if (!b)
            return TM_ENOMEM;
        s->bins = b;
        s->cap = cap;
    }
    memmove(&s->bins[lo + 1], &s->bins[lo], (s->n - lo) * sizeof *s->bins);
    s->bins[lo].index = (int16_t)index;
    s->bins[lo].count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    s->n++;
    return TM_OK;
}

int tm__sketch_add(tm_sketch *s, int64_t ns, uint64_t count)
{
    if (ns <= 0) {
        s->zeros += count;
        return TM_OK;
    }
    return add_bin(s, tm__sketch_bin_of(ns), count);
}

/* Both bin lists are sorted: one linear merge into a new array (inserting
 * bin by bin was the rollups' load time). */
int tm__sketch_merge(tm_sketch *into, const tm_sketch *from)
{
    into->zeros += from->zeros;
    if (from->n == 0)
        return TM_OK;
    if (from->n <= 2) { /* tiny: insert in place */
        for (uint32_t i = 0; i < from->n; i++)
            if (add_bin(into, from->bins[i].index, from->bins[i].count))
                return TM_ENOMEM;
        return TM_OK;
    }
    uint32_t cap = into->n + from->n, n = 0, i = 0, j = 0;
    tm_sketch_bin *b = malloc(cap * sizeof *b);
    if (!b)
        return TM_ENOMEM;
    while (i < into->n || j < from->n) {
        if (j == from->n || (i < into->n && into->bins[i].index < from->bins[j].index)) {
            b[n++] = into->bins[i++];
        } else if (i == into->n || from->bins[j].index < into->bins[i].index) {
            b[n++] = from->bins[j++];
        } else {
            uint64_t c = (uint64_t)into->bins[i].count + from->bins[j].count;
            b[n] = into->bins[i++];
            b[n++].count = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
            j++;
        }
    }
    if (!lent(into))
        free(into->bins);
    into->bins = b;
    into->n = n;
    into->cap = cap;
    return TM_OK;
}

void tm__sketch_free(tm_sketch *s)
{
    if (!lent(s))
        free(s->bins);
    memset(s, 0, sizeof *s);
}

size_t tm__sketch_size(const tm_sketch *s) { return 8 + (size_t)s->n * 6; }

void tm__sketch_write(const tm_sketch *s, unsigned char *out)
{
    for (int k = 0; k < 8; k++)
        out[k] = (unsigned char)(s->zeros >> (8 * k));
    out += 8;
    for (uint32_t i = 0; i < s->n; i++, out += 6) {
        uint16_t ix = (uint16_t)s->bins[i].index;
        out[0] = (unsigned char)ix;
        out[1] = (unsigned char)(ix >> 8);
        for (int k = 0; k < 4; k++)
            out[2 + k] = (unsigned char)(s->bins[i].count >> (8 * k));
    }
}

/* Calls fn for each (index, count) of a serialized sketch; -1 if malformed. */
static int each_raw(const unsigned char *in, size_t len, uint64_t *zeros,
                    int (*fn)(void *, int, uint64_t), void *arg)
{
    if (len < 8 || (len - 8) % 6)
        return -1;
    uint64_t z = 0;
    for (int k = 0; k < 8; k++)
        z |= (uint64_t)in[k] << (8 * k);
    *zeros = z;
    for (size_t off = 8; off < len; off += 6) {
        int16_t ix = (int16_t)(uint16_t)(in[off] | in[off + 1] << 8);
        uint32_t c = 0;
        for (int k = 0; k < 4; k++)
            c |= (uint32_t)in[off + 2 + k] << (8 * k);
        if (ix < TM_SKETCH_MIN_BIN || ix > TM_SKETCH_MAX_BIN || fn(arg, ix, c))
            return -1;
    }
    return 0;
}

static int into_sketch(void *arg, int ix, uint64_t c) { return add_bin(arg, ix, c) ? -1 : 0; }

int tm__sketch_read(tm_sketch *s, const unsigned char *in, size_t len)
{
    uint64_t z = 0;
    if (s->n == 0 && len >= 8 && (len - 8) % 6 == 0 && s->cap < (len - 8) / 6) {
        tm_sketch_bin *b = realloc(s->bins, (len - 8) / 6 * sizeof *b); /* stored sorted */
        if (!b)
            return TM_ENOMEM;
        s->bins = b;
        s->cap = (uint32_t)((len - 8) / 6);
    }
    if (each_raw(in, len, &z, into_sketch, s))
        return TM_ECORRUPT;
    s->zeros += z;
    return TM_OK;
}

uint64_t tm__sketch_count(const tm_sketch *s)
{
    uint64_t n = s->zeros;
    for (uint32_t i = 0; i < s->n; i++)
        n += s->bins[i].count;
    return n;
}

double tm__sketch_quantile(const tm_sketch *s, double q)
{
    uint64_t total = tm__sketch_count(s);
    if (total == 0)
        return -1;
    uint64_t rank = (uint64_t)floor(q * (double)(total - 1)), seen = s->zeros;
    if (rank < seen)
        return 0;
    for (uint32_t i = 0; i < s->n; i++) {
        seen += s->bins[i].count;
        if (seen > rank)
            return bin_value(s->bins[i].index);
    }
    return bin_value(s->bins[s->n - 1].index);
}

/* ---- dense accumulators ---- */

/* Widens a's window to include bin i. */
static int acc_cover(tm_sketch_acc *a, int i)
{
    if (a->n && i >= a->lo && i < a->lo + (int)a->n)
        return TM_OK;
    int lo = a->n ? (i < a->lo ? i - 16 : a->lo) : i - 16;
    int hi = a->n ? (i >= a->lo + (int)a->n ? i + 17 : a->lo + (int)a->n) : i + 17;
    if (lo < TM_SKETCH_MIN_BIN)
        lo = TM_SKETCH_MIN_BIN;
    if (hi > TM_SKETCH_MAX_BIN + 1)
        hi = TM_SKETCH_MAX_BIN + 1;
    uint64_t *c = calloc((size_t)(hi - lo), sizeof *c);
    if (!c)
        return TM_ENOMEM;
    if (a->n)
        memcpy(c + (a->lo - lo), a->c, a->n * sizeof *c);
    free(a->c);
    a->c = c;
    a->lo = lo;
    a->n = (uint32_t)(hi - lo);
    return TM_OK;
}

int tm__sketch_acc_merge(tm_sketch_acc *a, const tm_sketch *s)
{
    a->zeros += s->zeros;
    if (!s->n)
        return TM_OK;
    if (acc_cover(a, s->bins[0].index) || acc_cover(a, s->bins[s->n - 1].index))
        return TM_ENOMEM;
    for (uint32_t i = 0; i < s->n; i++)
        a->c[s->bins[i].index - a->lo] += s->bins[i].count;
    return TM_OK;
}

int tm__sketch_acc_add(tm_sketch_acc *a, int64_t ns)
{
    if (ns <= 0) {
        a->zeros++;
        return TM_OK;
    }
    int i = tm__sketch_bin_of(ns);
    if (acc_cover(a, i))
        return TM_ENOMEM;
    a->c[i - a->lo]++;
    return TM_OK;
}

void tm__sketch_acc_take(tm_sketch_acc *a, int64_t ns)
{
    if (ns <= 0) {
        a->zeros -= a->zeros > 0;
        return;
    }
    int i = tm__sketch_bin_of(ns);
    if (a->n && i >= a->lo && i < a->lo + (int)a->n && a->c[i - a->lo])
        a->c[i - a->lo]--;
}

void tm__sketch_acc_take_sketch(tm_sketch_acc *a, const tm_sketch *s)
{
    a->zeros -= a->zeros < s->zeros ? a->zeros : s->zeros;
    for (uint32_t i = 0; i < s->n; i++) {
        int k = s->bins[i].index - a->lo;
        if (a->n && k >= 0 && k < (int)a->n)
            a->c[k] -= a->c[k] < s->bins[i].count ? a->c[k] : s->bins[i].count;
    }
}

int tm__sketch_acc_merge_acc(tm_sketch_acc *a, const tm_sketch_acc *b)
{
    a->zeros += b->zeros;
    if (!b->n)
        return TM_OK;
    if (acc_cover(a, b->lo) || acc_cover(a, b->lo + (int)b->n - 1))
        return TM_ENOMEM;
    for (uint32_t i = 0; i < b->n; i++)
        a->c[b->lo + (int)i - a->lo] += b->c[i];
    return TM_OK;
}

double tm__sketch_acc_quantile(const tm_sketch_acc *a, double q)
{
    uint64_t total = a->zeros;
    for (uint32_t i = 0; i < a->n; i++)
        total += a->c[i];
    if (total == 0)
        return -1;
    uint64_t rank = (uint64_t)floor(q * (double)(total - 1)), seen = a->zeros;
    if (rank < seen)
        return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        seen += a->c[i];
        if (seen > rank)
            return bin_value(a->lo + (int)i);
    }
    return bin_value(a->lo + (int)a->n - 1);
}

void tm__sketch_acc_free(tm_sketch_acc *a)
{
    free(a->c);
    memset(a, 0, sizeof *a);
}
