/*
 * usermem.c — the memory the per-user rollups hold, at a stated scale.
 *
 *   bench_usermem [USERS] [DAYS] [MODELS] [hourly]   (default 10,000 × 90 × 40)
 *
 * Feeds events through the rollups' own code, as a commit does
 * (tm__rollup_add_fact into a batch cell set, then tm__rollups_merge into
 * the in-memory rollups, one day per batch), with every user using every
 * model every day: USERS × DAYS × MODELS events, each in an hour of its own
 * spread over the day, each with a latency. That is the worst case for the
 * number of user cells. It prints the heap the in-memory rollups hold
 * (mallinfo2; with "hourly", without the user cells, as a daemon holds them
 * before its first user query) and the process's peak, and the cells of
 * each projection; the
 * user × model and user × endpoint cells are counted, but live only in the
 * store (table urollup), never in memory.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/rollup/rollup.h"
#include "bench.h"

static long status_kib(const char *key)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key) + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    long users = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    long days = argc > 2 ? strtol(argv[2], NULL, 10) : 90;
    long models = argc > 3 ? strtol(argv[3], NULL, 10) : 40;
    const int64_t day0 = 1785715200LL / 86400; /* 2026-08-03 */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    size_t ncells[TM_NPROJ_ALL] = {0};
    tm_rollups r;
    tm__rollups_init(&r);
    r.users_loaded = argc > 4 ? strcmp(argv[4], "hourly") != 0 : 1; /* "hourly": as before a user query */
    size_t heap0 = mallinfo2().uordblks;
    double t0 = bench_now();
    for (long d = 0; d < days; d++) {
        tm_cellset batch = {0};
        for (long u = 0; u < users; u++)
            for (long m = 0; m < models; m++) {
                tm_fact f;
                memset(&f, 0, sizeof f);
                f.ts_us = ((day0 + d) * 86400 + (int64_t)(bench_next(&rng) % 86400)) * 1000000;
                f.dim[TM_D_USER] = (uint32_t)(u + 1);
                f.dim[TM_D_PROVIDER] = (uint32_t)(100001 + m / 5);
                f.dim[TM_D_MODEL] = (uint32_t)(200001 + m);
                f.dim[TM_D_ENDPOINT] = (uint32_t)(300001 + bench_next(&rng) % 50);
                f.dim[TM_D_OPERATION] = 400001;
                f.dim[TM_D_METRIC] = 400002;
                f.dim[TM_D_SUCCESS] = 2;
                f.success = f.llm_call = 1;
                f.input = 1000, f.output = 200, f.total = 1200;
                f.cost = 123456789;
                f.cost_source = 2;
                f.has_latency = 1;
                f.latency_ns = (int64_t)(50e6 + (double)(bench_next(&rng) % 3000) * 1e6);
                if (tm__rollup_add_fact(&batch, &f, 1)) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
            }
        pthread_rwlock_wrlock(&r.lock);
        for (size_t i = 0; i < batch.n; i++) {
            ncells[batch.cells[i].key.proj] += tm__proj_daily(batch.cells[i].key.proj);
            if (tm__rollups_merge(&r, &batch.cells[i])) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
        }
        pthread_rwlock_unlock(&r.lock);
        tm__cellset_free(&batch);
    }
    malloc_trim(0);
    size_t heap = mallinfo2().uordblks - heap0;
    size_t user_cells = ncells[TM_PROJ_USER];
    printf("per-user rollups, %ld users x %ld days x %ld models (%ld events, one per user, day and model), %.1f s\n",
           users, days, models, users * days * models, bench_now() - t0);
    printf("  in memory: %zu cells in all (%zu user x day cells); heap held %.1f MiB (%.0f bytes a cell); "
           "peak RSS %.1f MiB\n",
           r.cells.n, user_cells, (double)heap / 1048576, (double)heap / (double)r.cells.n,
           (double)status_kib("VmHWM:") / 1024);
    printf("  in the store only: %zu user x model cells, %zu user x endpoint cells\n",
           ncells[TM_PROJ_USER_MODEL], ncells[TM_PROJ_USER_ENDPOINT]);
    tm__rollups_destroy(&r);
    return 0;
}
