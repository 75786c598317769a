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

/* Writes, truncates and syncs seen so far. */
uint64_t tm_powerloss_ops(void);

#define TM_POWERLOSS_EXIT 77

#endif
