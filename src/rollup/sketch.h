/*
 * sketch.h — a mergeable latency sketch (DDSketch-style) with 1% relative
 * accuracy: any quantile it answers is within 1% of the true value at that
 * rank, and sketches of any cells merge exactly.
 *
 * A value x > 0 (milliseconds) falls in bin i = ceil(log_γ x), γ = 1.01/0.99;
 * bin i answers 2γ^i/(γ+1), within 1% of every value in it. Bins are kept
 * sparse (index, count) in index order, so a cell with few events is small.
 */
#ifndef TM_QUERY_SKETCH_H
#define TM_QUERY_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define TM_SKETCH_MIN_BIN (-1400) /* 1e-6 ms (1 ns) and below: one bin */
#define TM_SKETCH_MAX_BIN 1400    /* ~1e6 s and above: one bin          */

typedef struct tm_sketch_bin {
    int16_t index;
    uint32_t count;
} tm_sketch_bin;

/* The bins are owned (malloc'd, freed by tm__sketch_free) unless cap is 0
 * while n is not: then they are lent, lying in memory that another owns
 * and frees (the rollups snapshot's read-only mapping, rollup.c): never
 * written, grown or freed here; the first change copies them into bins of
 * the sketch's own. */
typedef struct tm_sketch {
    tm_sketch_bin *bins;    /* sorted by index; owned or lent (above)       */
    uint32_t n, cap;
    uint64_t zeros;         /* values of exactly 0                          */
} tm_sketch;

int tm__sketch_bin_of(int64_t latency_ns);             /* the bin of a value */
int tm__sketch_add(tm_sketch *s, int64_t latency_ns, uint64_t count); /* TM_OK/ENOMEM */
int tm__sketch_merge(tm_sketch *into, const tm_sketch *from);
void tm__sketch_free(tm_sketch *s);

/* Serialized form: zeros (u64) then n pairs (i16, u32), little-endian. */
size_t tm__sketch_size(const tm_sketch *s);
void tm__sketch_write(const tm_sketch *s, unsigned char *out);
int tm__sketch_read(tm_sketch *s, const unsigned char *in, size_t len); /* merges into s */

/* Total number of values. */
uint64_t tm__sketch_count(const tm_sketch *s);

/* The q-quantile (0 ≤ q ≤ 1) in ms: the value at rank floor(q·(n−1)) of
 * the sorted values, within 1%. Returns -1 when empty. */
double tm__sketch_quantile(const tm_sketch *s, double q);

/* A dense window of bins [lo, lo+n) for accumulating many sketches into one
 * (query rows): adding a bin is an index, not a search. ~1 KB for the usual
 * span of latencies. */
typedef struct tm_sketch_acc {
    int lo;
    uint32_t n;
    uint64_t *c;
    uint64_t zeros;
} tm_sketch_acc;

int tm__sketch_acc_merge(tm_sketch_acc *a, const tm_sketch *s);   /* TM_OK / ENOMEM */
int tm__sketch_acc_add(tm_sketch_acc *a, int64_t latency_ns);
/* Takes away one value that a merged sketch holds (a cell's, less an event
 * of it that the query leaves out): bins count exactly, so the rest is the
 * sketch of the other values. A value it does not hold is ignored. */
void tm__sketch_acc_take(tm_sketch_acc *a, int64_t latency_ns);
void tm__sketch_acc_take_sketch(tm_sketch_acc *a, const tm_sketch *s); /* each value of s */
int tm__sketch_acc_merge_acc(tm_sketch_acc *a, const tm_sketch_acc *b);
double tm__sketch_acc_quantile(const tm_sketch_acc *a, double q); /* as tm__sketch_quantile */
void tm__sketch_acc_free(tm_sketch_acc *a);

#endif
