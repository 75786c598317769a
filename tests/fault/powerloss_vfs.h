/*
 * powerloss_vfs.h — a SQLite VFS for tests that models the OS page cache,
 * so a test can cut the power (tests/fault/powercut.c).
 *
 * Linked only into test programs, never into libtokmeter.
 */
#ifndef TM_POWERLOSS_VFS_H
#define TM_POWERLOSS_VFS_H

#include <stdint.h>

/* Registers the "powerloss" VFS over the default unix VFS and makes it the
 * default, so every connection the store opens goes through it. The power
 * fails at the crash_at-th write, truncate or sync (counted over all files;
 * 0: never): the process then _exits with status 77, and every byte not
 * yet synced is lost. A sync the power fails in writes a random subset
 * (by 4 KiB block, from seed) of what it was syncing. Returns 0, or -1. */
int tm_powerloss_register(uint64_t crash_at, uint64_t seed);

/* A disk that lies (for the test's own control run): syncs report success
 * and write nothing, so a power cut must lose acknowledged data. */
void tm_powerloss_lie(int on);

/* A fault before the power cut: the first operation of kind at or after
 * the at-th fails once, as the OS would report it: TM_PL_WRITE_ENOSPC
 * (SQLITE_FULL) and TM_PL_WRITE_EIO leave the image as it was; a failed
 * sync (TM_PL_SYNC_EIO) drops the dirty blocks it was syncing, as Linux
 * does (they stay readable in the cache but never reach the disk unless
 * written again); TM_PL_TRUNCATE_EIO changes nothing. When it fires, a
 * line "X ..." is written to notify_fd (if not -1). */
enum { TM_PL_WRITE_ENOSPC = 1, TM_PL_WRITE_EIO, TM_PL_SYNC_EIO, TM_PL_TRUNCATE_EIO };
void tm_powerloss_fault(uint64_t at, int kind, int notify_fd);
/* 1 once the fault has fired. */
int tm_powerloss_faulted(void);

/* Writes, truncates and syncs seen so far. */
uint64_t tm_powerloss_ops(void);

#define TM_POWERLOSS_EXIT 77

#endif
