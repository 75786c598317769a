/*
 * powerloss_vfs.c — a SQLite VFS shim that keeps every write in memory until
 * it is synced, the way the OS page cache does, so that a test can "cut the
 * power" and lose exactly what a real power cut may lose. (SIGKILL cannot
 * test this: the kernel still writes the page cache out.)
 *
 *   connection ─► pl_file ─┬─ read/write/truncate/size ─► image (per path,
 *                          │                                shared by all
 *                          │                                handles, kept
 *                          │                                after close)
 *                          ├─ sync ─► dirty blocks of the image written to
 *                          │          the real file, then the real fsync
 *                          └─ locks, shared memory, the rest ─► unix VFS
 *
 * The image of a file starts as its content on disk when first opened. The
 * power fails at a chosen operation: the process _exits at once, so every
 * image is lost and the disk holds only what syncs wrote. If the power fails
 * inside a sync, a random subset of the dirty 4 KiB blocks reaches the disk
 * first (a disk writes in no promised order before the flush completes).
 * Size hints are ignored (they would grow the real file behind the image),
 * and the VFS offers no memory mapping (io methods version 2), so every read
 * goes through the image. The shared-memory wal-index is the unix VFS's own:
 * it is never durable, and the test deletes it after a cut.
 *
 * For tests only: linked into tests/fault/powercut.c, not into libtokmeter.
 */
#include "powerloss_vfs.h"

#include <pthread.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096

typedef struct image {
    char *path;
    unsigned char *data;
    int64_t size;           /* the file's size as the OS shows it           */
    size_t cap;
    unsigned char *dirty;   /* one flag per block written since the sync    */
    size_t nblocks;
    int resized;            /* truncated since the last sync                */
    int refs;
    int unlinked;           /* deleted while open: freed at the last close  */
    struct image *next;
} image;

typedef struct pl_file {
    sqlite3_file base;
    sqlite3_file *real;     /* the unix VFS's file, right after this struct */
    image *im;              /* NULL: passed through (temporary files)       */
} pl_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs pl_vfs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static image *images;
static uint64_t ops, crash_at, rng;
static int lying;
static uint64_t fault_at;
static int fault_kind, faulted, fault_fd = -1;

void tm_powerloss_fault(uint64_t at, int kind, int notify_fd)
{
    fault_at = at;
    fault_kind = kind;
    fault_fd = notify_fd;
}

int tm_powerloss_faulted(void) { return faulted; }

/* Called with mu held, after power_fails: 1 when this operation (of kind
 * k, among those a fault can name) is the one to fail. */
static int fault_here(int k)
{
    if (faulted || !fault_kind || ops < fault_at || k != fault_kind)
        return 0;
    faulted = 1;
    if (fault_fd >= 0)
        dprintf(fault_fd, "X fault %d fired at operation %llu\n", k, (unsigned long long)ops);
    return 1;
}

void tm_powerloss_lie(int on) { lying = on; }

uint64_t tm_powerloss_ops(void)
{
    pthread_mutex_lock(&mu);
    uint64_t n = ops;
    pthread_mutex_unlock(&mu);
    return n;
}

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Called with mu held before each write, truncate and sync. Returns 1 when
 * the power fails at this operation. */
static int power_fails(void) { return ++ops == crash_at; }

static void cut(void) { _exit(TM_POWERLOSS_EXIT); }

static int reserve(image *im, int64_t size)
{
    if ((size_t)size > im->cap) {
        size_t cap = im->cap ? im->cap : 65536;
        while (cap < (size_t)size)
            cap *= 2;
        unsigned char *d = realloc(im->data, cap);
        if (!d)
            return SQLITE_NOMEM;
        im->data = d;
        im->cap = cap;
    }
    size_t nb = ((size_t)size + BLOCK - 1) / BLOCK;
    if (nb > im->nblocks) {
        unsigned char *f = realloc(im->dirty, nb);
        if (!f)
            return SQLITE_NOMEM;
        memset(f + im->nblocks, 0, nb - im->nblocks);
        im->dirty = f;
        im->nblocks = nb;
    }
    return SQLITE_OK;
}

/* The image of path, read from the real file when first seen. */
static int image_of(const char *path, sqlite3_file *real, image **out)
{
    for (image *im = images; im; im = im->next)
        if (strcmp(im->path, path) == 0) {
            im->refs++;
            *out = im;
            return SQLITE_OK;
        }
    image *im = calloc(1, sizeof *im);
    sqlite3_int64 size = 0;
    int rc = SQLITE_NOMEM;
    if (!im || !(im->path = strdup(path)))
        goto fail;
    if ((rc = real->pMethods->xFileSize(real, &size)) != SQLITE_OK || (rc = reserve(im, size)))
        goto fail;
    if (size && (rc = real->pMethods->xRead(real, im->data, (int)size, 0)) != SQLITE_OK)
        goto fail;
    im->size = size;
    im->refs = 1;
    im->next = images;
    images = im;
    *out = im;
    return SQLITE_OK;
fail:
    if (im)
        free(im->path), free(im->data), free(im->dirty);
    free(im);
    return rc == SQLITE_OK ? SQLITE_NOMEM : rc;
}

static void image_free(image *im)
{
    free(im->path);
    free(im->data);
    free(im->dirty);
    free(im);
}

static void image_unlink(image *im)
{
    for (image **p = &images; *p; p = &(*p)->next)
        if (*p == im) {
            *p = im->next;
            break;
        }
}

/* ---- the io methods of an imaged file ---- */

static int pl_close(sqlite3_file *f)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    if (p->im && --p->im->refs == 0 && p->im->unlinked)
        image_free(p->im);
    p->im = NULL;
    pthread_mutex_unlock(&mu);
    return p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
}

static int pl_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    image *im = p->im;
    int64_t have = off < im->size ? im->size - off : 0;
    if (have > amt)
        have = amt;
    if (have > 0)
        memcpy(buf, im->data + off, (size_t)have);
    pthread_mutex_unlock(&mu);
    if (have == amt)
        return SQLITE_OK;
    memset((char *)buf + (have > 0 ? have : 0), 0, (size_t)(amt - (have > 0 ? have : 0)));
    return SQLITE_IOERR_SHORT_READ;
}

static int pl_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    if (power_fails())
        cut();
    if (fault_here(TM_PL_WRITE_ENOSPC) || fault_here(TM_PL_WRITE_EIO)) {
        pthread_mutex_unlock(&mu);
        return fault_kind == TM_PL_WRITE_ENOSPC ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    }
    image *im = p->im;
    int rc = reserve(im, off + amt);
    if (rc == SQLITE_OK) {
        if (off > im->size) /* a hole reads as zeros */
            memset(im->data + im->size, 0, (size_t)(off - im->size));
        memcpy(im->data + off, buf, (size_t)amt);
        if (off + amt > im->size)
            im->size = off + amt;
        for (int64_t b = off / BLOCK; b <= (off + amt - 1) / BLOCK; b++)
            im->dirty[b] = 1;
    }
    pthread_mutex_unlock(&mu);
    return rc == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    if (power_fails())
        cut();
    if (fault_here(TM_PL_TRUNCATE_EIO)) {
        pthread_mutex_unlock(&mu);
        return SQLITE_IOERR_TRUNCATE;
    }
    image *im = p->im;
    int rc = reserve(im, size);
    if (rc == SQLITE_OK) {
        if (size > im->size)
            memset(im->data + im->size, 0, (size_t)(size - im->size));
        im->size = size;
        im->resized = 1;
    }
    pthread_mutex_unlock(&mu);
    return rc == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR_TRUNCATE;
}

/* Writes the image's dirty blocks (all of them, or when torn a random
 * subset) to the real file. Called with mu held. */
static int write_out(pl_file *p, int torn)
{
    image *im = p->im;
    sqlite3_file *r = p->real;
    for (size_t b = 0; b < im->nblocks; b++) {
        if (!im->dirty[b] || (int64_t)(b * BLOCK) >= im->size || (torn && next_rand() % 2))
            continue;
        int64_t off = (int64_t)b * BLOCK, n = im->size - off < BLOCK ? im->size - off : BLOCK;
        int rc = r->pMethods->xWrite(r, im->data + off, (int)n, off);
        if (rc != SQLITE_OK)
            return rc;
        if (!torn)
            im->dirty[b] = 0;
    }
    if (torn)
        return SQLITE_OK;
    if (im->resized) {
        int rc = r->pMethods->xTruncate(r, im->size);
        if (rc != SQLITE_OK)
            return rc;
        im->resized = 0;
    }
    return SQLITE_OK;
}

static int pl_sync(sqlite3_file *f, int flags)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    if (power_fails()) {
        write_out(p, 1);
        cut();
    }
    if (fault_here(TM_PL_SYNC_EIO)) { /* the kernel forgets the dirty pages */
        memset(p->im->dirty, 0, p->im->nblocks);
        p->im->resized = 0;
        pthread_mutex_unlock(&mu);
        return SQLITE_IOERR_FSYNC;
    }
    int rc = lying ? SQLITE_OK : write_out(p, 0);
    if (rc == SQLITE_OK && !lying)
        rc = p->real->pMethods->xSync(p->real, flags);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int pl_size(sqlite3_file *f, sqlite3_int64 *size)
{
    pl_file *p = (pl_file *)f;
    pthread_mutex_lock(&mu);
    *size = p->im->size;
    pthread_mutex_unlock(&mu);
    return SQLITE_OK;
}

#define REAL(f) (((pl_file *)(f))->real)
static int pl_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int pl_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int pl_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int pl_fcntl(sqlite3_file *f, int op, void *arg)
{
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_MMAP_SIZE)
        return op == SQLITE_FCNTL_MMAP_SIZE ? (*(sqlite3_int64 *)arg = 0, SQLITE_OK) : SQLITE_OK;
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int pl_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int pl_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int pl_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int pl_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void pl_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int pl_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }

static const sqlite3_io_methods pl_methods = {
    2, pl_close, pl_read, pl_write, pl_truncate, pl_sync, pl_size, pl_lock, pl_unlock,
    pl_reserved, pl_fcntl, pl_sector, pl_devchar, pl_shm_map, pl_shm_lock, pl_shm_barrier,
    pl_shm_unmap, NULL, NULL,
};

/* ---- temporary files: every call passed through ---- */

static int pt_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int pt_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int pt_truncate(sqlite3_file *f, sqlite3_int64 s) { return REAL(f)->pMethods->xTruncate(REAL(f), s); }
static int pt_sync(sqlite3_file *f, int fl) { return REAL(f)->pMethods->xSync(REAL(f), fl); }
static int pt_size(sqlite3_file *f, sqlite3_int64 *s) { return REAL(f)->pMethods->xFileSize(REAL(f), s); }

static const sqlite3_io_methods pt_methods = {
    2, pl_close, pt_read, pt_write, pt_truncate, pt_sync, pt_size, pl_lock, pl_unlock,
    pl_reserved, pl_fcntl, pl_sector, pl_devchar, pl_shm_map, pl_shm_lock, pl_shm_barrier,
    pl_shm_unmap, NULL, NULL,
};

/* ---- the VFS ---- */

static int pl_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)v;
    pl_file *p = (pl_file *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc;
    if (!name) {
        p->base.pMethods = &pt_methods;
        return SQLITE_OK;
    }
    pthread_mutex_lock(&mu);
    rc = image_of(name, p->real, &p->im);
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK) {
        p->real->pMethods->xClose(p->real);
        return rc;
    }
    p->base.pMethods = &pl_methods;
    return SQLITE_OK;
}

static int pl_delete(sqlite3_vfs *v, const char *name, int dirsync)
{
    (void)v;
    pthread_mutex_lock(&mu);
    for (image *im = images; im; im = im->next)
        if (strcmp(im->path, name) == 0) {
            image_unlink(im);
            if (im->refs == 0)
                image_free(im);
            else
                im->unlinked = 1;
            break;
        }
    pthread_mutex_unlock(&mu);
    return real_vfs->xDelete(real_vfs, name, dirsync);
}

int tm_powerloss_register(uint64_t at, uint64_t seed)
{
    real_vfs = sqlite3_vfs_find("unix");
    if (!real_vfs)
        return -1;
    pl_vfs = *real_vfs;
    pl_vfs.zName = "powerloss";
    pl_vfs.szOsFile = (int)sizeof(pl_file) + real_vfs->szOsFile;
    pl_vfs.pNext = NULL;
    pl_vfs.xOpen = pl_open;
    pl_vfs.xDelete = pl_delete;
    crash_at = at;
    rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    return sqlite3_vfs_register(&pl_vfs, 1) == SQLITE_OK ? 0 : -1;
}
