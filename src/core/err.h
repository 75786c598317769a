/*
 * err.h — the one error vocabulary inside tokmeter: tm_err codes (from
 * tokmeter.h) plus a per-thread message saying what and why.
 */
#ifndef TM_CORE_ERR_H
#define TM_CORE_ERR_H

#include "tokmeter.h"

/* Sets the calling thread's last-error message (printf format) and returns
 * err, so a failing path reads `return tm__fail(TM_EINVAL, "...", ...)`. */
int tm__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the calling thread's last-error message. */
void tm__clear_err(void);

#endif
