/*
 * test_rollup.c — the in-memory rollups' snapshot read back, and the
 * sketches whose bins it lends (sketch.h): lent bins are never written,
 * grown or freed (they lie in a read-only page here, so a write crashes
 * the test, and ASan flags a free), and the first change copies them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/rollup/rollup.h"
#include "tokmeter.h"

/* ---- lent sketch bins ---- */

/* Bins 10, 20, 30 (counts 1, 2, 3) in a read-only page. */
static tm_sketch_bin *lender(void)
{
    tm_sketch_bin *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(page, MAP_FAILED);
    for (int i = 0; i < 3; i++)
        page[i] = (tm_sketch_bin){.index = (int16_t)(10 * (i + 1)), .count = (uint32_t)(i + 1)};
    cr_assert_eq(mprotect(page, 4096, PROT_READ), 0);
    return page;
}

static tm_sketch lent_from(tm_sketch_bin *page)
{
    return (tm_sketch){.bins = page, .n = 3}; /* cap 0: lent */
}

static void expect_lender_intact(const tm_sketch_bin *page)
{
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(page[i].index, 10 * (i + 1), "lent bin %d: index %d, want %d", i, page[i].index, 10 * (i + 1));
        cr_expect_eq(page[i].count, (uint32_t)(i + 1), "lent bin %d: count %u, want %d", i, page[i].count, i + 1);
    }
}

static void expect_bins(const tm_sketch *s, const int16_t *ix, const uint32_t *count, uint32_t n)
{
    cr_assert_eq(s->n, n, "%u bins, want %u", s->n, n);
    cr_expect_geq(s->cap, s->n, "cap %u below n %u: the bins are still lent", s->cap, s->n);
    for (uint32_t i = 0; i < n; i++) {
        cr_expect_eq(s->bins[i].index, ix[i], "bin %u: index %d, want %d", i, s->bins[i].index, ix[i]);
        cr_expect_eq(s->bins[i].count, count[i], "bin %u: count %u, want %u", i, s->bins[i].count, count[i]);
    }
}

/* A count added to a lent bin (in place for owned bins) and a new bin
 * both copy the bins first. */
Test(rollup, lent_sketch_copied_on_add)
{
    tm_sketch_bin *page = lender();
    tm_sketch s = lent_from(page), t = lent_from(page); /* two may borrow the same bins */
    tm_sketch two = {.bins = (tm_sketch_bin[]){{20, 5}}, .n = 1, .cap = 1};
    cr_assert_eq(tm__sketch_merge(&s, &two), TM_OK);
    expect_bins(&s, (int16_t[]){10, 20, 30}, (uint32_t[]){1, 7, 3}, 3);
    int16_t b = (int16_t)tm__sketch_bin_of(1000000000); /* 1 s: past bin 30 */
    cr_assert_gt(b, 30);
    cr_assert_eq(tm__sketch_add(&t, 1000000000, 2), TM_OK);
    expect_bins(&t, (int16_t[]){10, 20, 30, b}, (uint32_t[]){1, 2, 3, 2}, 4);
    expect_lender_intact(page);
    tm__sketch_free(&s);
    tm__sketch_free(&t);
    munmap(page, 4096);
}

/* A merge of three or more bins builds a new array: the lent one is left
 * as it was, not freed. */
Test(rollup, lent_sketch_merge_and_free)
{
    tm_sketch_bin *page = lender();
    tm_sketch s = lent_from(page);
    tm_sketch from = {.bins = (tm_sketch_bin[]){{5, 1}, {20, 1}, {40, 4}}, .n = 3, .cap = 3, .zeros = 2};
    cr_assert_eq(tm__sketch_merge(&s, &from), TM_OK);
    expect_bins(&s, (int16_t[]){5, 10, 20, 30, 40}, (uint32_t[]){1, 1, 3, 3, 4}, 5);
    cr_expect_eq(s.zeros, 2);
    expect_lender_intact(page);
    tm__sketch_free(&s);
    /* Lent into an owned sketch: read only. */
    tm_sketch l = lent_from(page), o = {0};
    cr_assert_eq(tm__sketch_merge(&o, &l), TM_OK);
    expect_bins(&o, (int16_t[]){10, 20, 30}, (uint32_t[]){1, 2, 3}, 3);
    cr_expect_eq(tm__sketch_count(&l), 6, "a lent sketch counts %llu, want 6",
                 (unsigned long long)tm__sketch_count(&l));
    tm__sketch_free(&o);
    tm__sketch_free(&l); /* frees nothing: ASan would flag a free of the page */
    cr_expect_null(l.bins);
    expect_lender_intact(page);
    munmap(page, 4096);
}

/* ---- taking values away (the query's cut days) ---- */

/* A row's sketch less the values it leaves out is the sketch of the rest,
 * value by value or a whole cell's sketch at once; what it does not hold
 * is ignored (counts never wrap below zero). */
Test(rollup, sketch_values_taken_away)
{
    const int64_t ms[] = {3000000, 150000000, 150000000, 900000000, 0};
    tm_sketch all = {0}, rest = {0}, out = {0};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tm__sketch_add(&all, ms[i], 1), TM_OK);
        cr_assert_eq(tm__sketch_add(i % 2 ? &out : &rest, ms[i], 1), TM_OK);
    }
    tm_sketch_acc one = {0}, whole = {0}, want = {0};
    cr_assert_eq(tm__sketch_acc_merge(&one, &all), TM_OK);
    cr_assert_eq(tm__sketch_acc_merge(&whole, &all), TM_OK);
    cr_assert_eq(tm__sketch_acc_merge(&want, &rest), TM_OK);
    for (int i = 1; i < 5; i += 2)
        tm__sketch_acc_take(&one, ms[i]);
    tm__sketch_acc_take_sketch(&whole, &out);
    const tm_sketch_acc *got[] = {&one, &whole};
    for (int k = 0; k < 2; k++) {
        cr_expect_eq(got[k]->zeros, want.zeros, "%s: %llu zeros, want %llu", k ? "sketch" : "values",
                     (unsigned long long)got[k]->zeros, (unsigned long long)want.zeros);
        for (int q = 0; q <= 4; q++)
            cr_expect_eq(tm__sketch_acc_quantile(got[k], q / 4.0), tm__sketch_acc_quantile(&want, q / 4.0),
                         "%s: quantile %.2f is %f, want %f", k ? "sketch" : "values", q / 4.0,
                         tm__sketch_acc_quantile(got[k], q / 4.0), tm__sketch_acc_quantile(&want, q / 4.0));
    }
    /* not held: a value in no bin, a bin already empty, zeros past none */
    tm__sketch_acc_take(&one, 90000000000LL);
    tm__sketch_acc_take(&one, ms[3]); /* its one value was taken above */
    tm__sketch_acc_take(&one, ms[3]);
    tm__sketch_acc_take_sketch(&whole, &all);
    tm__sketch_acc_take_sketch(&whole, &all);
    uint64_t n = whole.zeros;
    for (uint32_t i = 0; i < whole.n; i++)
        n += whole.c[i];
    cr_expect_eq(n, 0, "everything taken twice: %llu values left, want 0", (unsigned long long)n);
    cr_expect_eq(tm__sketch_acc_quantile(&one, 0.5), tm__sketch_acc_quantile(&want, 0.5),
                 "after taking what it does not hold: median %f, want %f",
                 tm__sketch_acc_quantile(&one, 0.5), tm__sketch_acc_quantile(&want, 0.5));
    tm__sketch_acc_free(&one);
    tm__sketch_acc_free(&whole);
    tm__sketch_acc_free(&want);
    tm__sketch_free(&all);
    tm__sketch_free(&rest);
    tm__sketch_free(&out);
}

/* ---- the snapshot ---- */

static char snap_path[64];
static const uint64_t IDENT[4] = {1, 2, 3, 4};

static void rollups_new(tm_rollups *r)
{
    tm__rollups_init(r);
    r->snapshot = strdup(snap_path);
    cr_assert_not_null(r->snapshot);
    memcpy(r->ident, IDENT, sizeof IDENT);
}

/* Adds n events (from seed on) to r as committed batches do: every
 * projection's cells, hours from hour0 on, about a third without a
 * latency, and model, endpoint and user ids from small ranges. */
static void add_events(tm_rollups *r, int n, uint64_t seed, int32_t hour0, int hours)
{
    tm_cellset batch = {0};
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tm_fact f = {0};
        f.ts_us = (int64_t)(hour0 + (int)(seed >> 33) % hours) * 3600000000LL + (int64_t)(seed % 3600) * 1000000;
        f.dim[TM_D_PROVIDER] = 1 + (seed >> 20) % 3;
        f.dim[TM_D_MODEL] = 10 + (seed >> 24) % 5;
        f.dim[TM_D_USER] = 100 + (seed >> 28) % 20;
        f.dim[TM_D_ENDPOINT] = 200 + (seed >> 40) % 4;
        f.dim[TM_D_METRIC] = 300 + (seed >> 44) % 2;
        f.dim[TM_D_SUCCESS] = 1 + (seed >> 46) % 2;
        f.success = f.dim[TM_D_SUCCESS] == 1;
        f.input = (int64_t)(seed >> 50);
        f.cost = (int64_t)(seed >> 30);
        f.has_latency = (seed >> 52) % 3 != 0;
        f.latency_ns = (int64_t)((seed >> 12) % 20000000000ull); /* up to 20 s, some 0 */
        cr_assert_eq(tm__rollup_add_fact(&batch, &f, 1), TM_OK);
    }
    pthread_rwlock_wrlock(&r->lock);
    for (size_t k = 0; k < batch.n; k++)
        cr_assert_eq(tm__rollups_merge(r, &batch.cells[k]), TM_OK);
    pthread_rwlock_unlock(&r->lock);
    tm__cellset_free(&batch);
}

static int count_cell(void *arg, const tm_cell *c)
{
    (void)c;
    ++*(size_t *)arg;
    return 0;
}

/* b holds the same cells as a: found by key, equal sums and sketches,
 * listed under the same hours. */
static void expect_same(const tm_rollups *a, const tm_rollups *b)
{
    cr_assert_eq(b->cells.n, a->cells.n, "%zu cells, want %zu", b->cells.n, a->cells.n);
    for (size_t i = 0; i < a->cells.n; i++) {
        const tm_cell *x = &a->cells.cells[i], *y = tm__cellset_find(&b->cells, &x->key);
        cr_assert_not_null(y, "cell %zu (proj %d, hour %d) not found by key", i, x->key.proj, x->key.hour);
        cr_assert_eq(memcmp(&y->s, &x->s, sizeof x->s), 0, "cell %zu: sums differ", i);
        cr_assert_eq(y->sk.n, x->sk.n, "cell %zu: %u bins, want %u", i, y->sk.n, x->sk.n);
        cr_assert_eq(y->sk.zeros, x->sk.zeros, "cell %zu: zeros differ", i);
        for (uint32_t k = 0; k < x->sk.n; k++)
            cr_assert(y->sk.bins[k].index == x->sk.bins[k].index && y->sk.bins[k].count == x->sk.bins[k].count,
                      "cell %zu bin %u: (%d, %u), want (%d, %u)", i, k, y->sk.bins[k].index,
                      y->sk.bins[k].count, x->sk.bins[k].index, x->sk.bins[k].count);
    }
    cr_assert_eq(b->nhours, a->nhours, "%zu hours indexed, want %zu", b->nhours, a->nhours);
    for (size_t k = 0; k < a->nhours; k++)
        for (int slot = 0; slot < TM_NSLOT; slot++) {
            int32_t h = a->hours[k].hour;
            size_t na = 0, nb = 0;
            cr_assert_eq(tm__rollups_each(a, slot, h, h + 1, count_cell, &na), TM_OK);
            cr_assert_eq(tm__rollups_each(b, slot, h, h + 1, count_cell, &nb), TM_OK);
            cr_assert_eq(nb, na, "hour %d, slot %d: %zu cells listed, want %zu", h, slot, nb, na);
        }
}

static void expect_empty(const tm_rollups *r, const char *what)
{
    cr_expect_eq(r->cells.n, 0, "%s: %zu cells left", what, r->cells.n);
    cr_expect_null(r->map, "%s: the file is still mapped", what);
    cr_expect_eq(r->loaded, 0, "%s: marked loaded", what);
    cr_expect_neq(access(snap_path, F_OK), 0, "%s: the snapshot was not removed", what);
}

/* A snapshot of a (loaded, current at version 7) saved. */
static void save(tm_rollups *a)
{
    a->loaded = 1;
    a->version = 7;
    tm__rollups_save(a, 7, IDENT);
    cr_assert_eq(access(snap_path, F_OK), 0, "no snapshot saved");
}

static void setup(void)
{
    snprintf(snap_path, sizeof snap_path, "/tmp/tmroll.%ld", (long)getpid());
    unlink(snap_path);
}

static void teardown(void) { unlink(snap_path); }

/* Read back, the rollups equal the saved ones; then the same events added
 * to both (into restored cells whose bins are lent, and enough new cells
 * to grow the cell array and its hash past what was read) keep them equal. */
Test(rollup, snapshot_restored_then_changed, .init = setup, .fini = teardown)
{
    tm_rollups a, b;
    rollups_new(&a);
    rollups_new(&b);
    a.users_loaded = 1;
    add_events(&a, 3000, 1, 490000, 72);
    save(&a);
    cr_assert_eq(tm__rollups_restore(&b, 7, 1), 1, "the snapshot was not restored");
    cr_expect_neq(access(snap_path, F_OK), 0, "the snapshot was left after it was read");
    cr_expect_not_null(b.map, "the bins are not mapped");
    cr_expect_eq(b.version, 7);
    cr_expect_eq(b.users_loaded, 1);
    expect_same(&a, &b);
    size_t lent = 0;
    for (size_t i = 0; i < b.cells.n; i++)
        lent += b.cells.cells[i].sk.n && !b.cells.cells[i].sk.cap;
    cr_expect_gt(lent, 0, "no restored sketch lent its bins");
    /* The same hours (existing cells), then new ones: past the room left. */
    add_events(&a, 1000, 2, 490000, 72);
    add_events(&b, 1000, 2, 490000, 72);
    expect_same(&a, &b);
    size_t cap = b.cells.cap;
    add_events(&a, 4000, 3, 491000, 500);
    add_events(&b, 4000, 3, 491000, 500);
    cr_expect_gt(b.cells.cap, cap, "the cells did not grow (cap %zu)", cap);
    expect_same(&a, &b);
    /* Saved again from restored rollups, and read back. */
    tm__rollups_destroy(&a);
    save(&b);
    rollups_new(&a);
    a.users_loaded = 1;
    cr_assert_eq(tm__rollups_restore(&a, 7, 1), 1);
    expect_same(&b, &a);
    tm__rollups_destroy(&a);
    tm__rollups_destroy(&b);
}

/* Restores the snapshot into a fresh r and returns what restore did. */
static int restore_fresh(int64_t version, int users)
{
    tm_rollups r;
    rollups_new(&r);
    int got = tm__rollups_restore(&r, version, users);
    if (!got)
        expect_empty(&r, "a snapshot passed over");
    tm__rollups_destroy(&r);
    return got;
}

/* A saved snapshot of 500 events; its size and where its first cell and
 * its hash index lie. */
static void fresh_snapshot(off_t *size, off_t *cell0, off_t *slots, size_t *n)
{
    tm_rollups a;
    rollups_new(&a);
    add_events(&a, 500, 9, 490000, 24);
    save(&a);
    FILE *f = fopen(snap_path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 22];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *at = memmem(buf, len, &a.cells.cells[0].key, sizeof a.cells.cells[0].key);
    cr_assert_not_null(at, "the first cell's key is not in the file");
    *size = (off_t)len;
    *cell0 = at - buf;
    *n = a.cells.n;
    *slots = *cell0 + (off_t)(a.cells.n * sizeof(tm_cell));
    tm__rollups_destroy(&a);
}

static void poke(off_t off, const void *p, size_t len)
{
    FILE *f = fopen(snap_path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseeko(f, off, SEEK_SET), 0);
    cr_assert_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Passed over (and removed, the rollups left empty): another version,
 * another store, no user cells when they are wanted, a file one byte short
 * or long, not a snapshot, a hash entry past the cells, a cell of no
 * projection, a sketch claiming more bins than the file holds. */
Test(rollup, snapshot_passed_over_unless_whole_and_current, .init = setup, .fini = teardown)
{
    off_t size, cell0, slots;
    size_t n;
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_expect_eq(restore_fresh(8, 0), 0, "restored for version 8, saved at 7");
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_expect_eq(restore_fresh(6, 0), 0, "restored for version 6, saved at 7");
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_expect_eq(restore_fresh(7, 1), 0, "restored with user cells wanted, saved without");
    fresh_snapshot(&size, &cell0, &slots, &n);
    {
        tm_rollups r;
        rollups_new(&r);
        r.ident[1]++; /* another inode */
        cr_expect_eq(tm__rollups_restore(&r, 7, 0), 0, "restored for another store file");
        expect_empty(&r, "another store");
        tm__rollups_destroy(&r);
    }
    /* The size: N-1 and N+1 passed over, N read. */
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_assert_eq(truncate(snap_path, size - 1), 0);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a file one byte short");
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_assert_eq(truncate(snap_path, size + 1), 0);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a file one byte long");
    fresh_snapshot(&size, &cell0, &slots, &n);
    cr_expect_eq(restore_fresh(7, 0), 1, "the whole file was passed over");
    FILE *f = fopen(snap_path, "w");
    cr_assert_not_null(f);
    fputs("not a snapshot", f);
    fclose(f);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a file that is not a snapshot");
    /* Inside: a hash entry past the last cell (n + 1), and n (in range). */
    fresh_snapshot(&size, &cell0, &slots, &n);
    uint32_t bad = (uint32_t)n + 1;
    poke(slots + 4, &bad, sizeof bad);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a hash entry past the cells");
    /* A cell of slot TM_NSLOT (one past the last). */
    fresh_snapshot(&size, &cell0, &slots, &n);
    int32_t proj = TM_NSLOT;
    poke(cell0 + (off_t)offsetof(tm_cell, key.proj), &proj, sizeof proj);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a cell of projection %d", TM_NSLOT);
    /* The first cell's sketch claiming more bins than the file holds. */
    fresh_snapshot(&size, &cell0, &slots, &n);
    uint32_t many = 1u << 30;
    poke(cell0 + (off_t)offsetof(tm_cell, sk.n), &many, sizeof many);
    cr_expect_eq(restore_fresh(7, 0), 0, "restored a sketch of 2^30 bins");
}
