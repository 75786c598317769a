/*
 * fuzz.h — what the libFuzzer targets in fuzz/ share: a scratch store in
 * tmpfs (fsync there costs nothing, so a target runs thousands of inputs a
 * second through the real SQLite store), removed when the process exits,
 * and a scratch file for the targets whose parser reads a path.
 *
 * Each target is one file defining LLVMFuzzerTestOneInput; the Makefile
 * builds it with clang -fsanitize=fuzzer,address,undefined against the
 * library built the same way (build/fuzz/).
 */
#ifndef TM_FUZZ_H
#define TM_FUZZ_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokmeter.h"

static char fz_dir[256];

static int fz_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void fz_cleanup(void)
{
    if (fz_dir[0])
        nftw(fz_dir, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory for this process (under /dev/shm when it exists). */
static inline const char *fz_scratch(void)
{
    if (fz_dir[0])
        return fz_dir;
    const char *base = getenv("FUZZ_TMP");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fz_dir, sizeof fz_dir, "%s/tmfuzz.XXXXXX", base);
    if (!mkdtemp(fz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* A store opened once per process; config and prices may be NULL. */
static inline tm *fz_store(const char *config, const char *prices)
{
    static tm *t;
    if (t)
        return t;
    char path[512];
    snprintf(path, sizeof path, "%s/store.db", fz_scratch());
    tm_options o = {.config = config, .prices = prices};
    if (tm_open(&t, path, &o) != TM_OK) {
        fprintf(stderr, "fuzz: cannot open %s: %s\n", path, tm_errmsg());
        abort();
    }
    return t;
}

/* Writes data to a scratch file named name and returns its path. */
static inline const char *fz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_scratch(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: scratch file");
        abort();
    }
    return path;
}

#endif
