/*
 * err.c — error names and the per-thread last-error message.
 *
 * The message is thread-local so that one tm handle can be shared by many
 * threads without one thread's failure overwriting another's explanation.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errmsg[1024];

const char *tm_strerror(int err)
{
    switch (err) {
    case TM_OK: return "ok";
    case TM_EINVAL: return "invalid input";
    case TM_ENOMEM: return "out of memory";
    case TM_EIO: return "store input/output error";
    case TM_ECORRUPT: return "store integrity check failed";
    case TM_ETOOBIG: return "input too large";
    case TM_ENOTFOUND: return "not found";
    case TM_ECLOSED: return "handle is closing";
    case TM_EVERSION: return "store written by a newer tokmeter";
    case TM_EBUSY: return "store is busy";
    }
    return "unknown error";
}

const char *tm_errmsg(void) { return errmsg; }

void tm__clear_err(void) { errmsg[0] = '\0'; }

int tm__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return err;
}
