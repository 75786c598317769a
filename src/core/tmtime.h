/*
 * tmtime.h — timestamps: RFC 3339 and epoch-millisecond text to UTC
 * microseconds, and back. Dates are proleptic Gregorian, years 1970-9999.
 */
#ifndef TM_CORE_TMTIME_H
#define TM_CORE_TMTIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TM_US_PER_SEC 1000000LL
#define TM_US_PER_DAY 86400000000LL
#define TM_TIME_MAX_US 253402300800000000LL /* 10000-01-01T00:00:00Z */

/* Parses s[0..n): "2026-10-01T13:05:00.250+02:00" (any offset, 'Z', 'T' or
 * ' ' between date and time, up to 9 fraction digits truncated to µs), a
 * bare date "2026-10-01" (midnight UTC), or epoch milliseconds as digits
 * with up to 3 fraction digits. Returns 0 and sets *us, or -1 with a
 * reason in *why. */
int tm__time_parse(const char *s, size_t n, int64_t *us, const char **why);

/* Formats us as RFC 3339 UTC: "2026-10-01T13:05:00Z", with ".250" or
 * ".250123" when there is a fraction. buf needs 32 bytes. Returns length. */
size_t tm__time_format(int64_t us, char *buf);

/* Days since 1970-01-01 of a civil date, and back. */
int64_t tm__days_from_civil(int64_t y, unsigned m, unsigned d);
void tm__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Wall-clock now, UTC microseconds. */
int64_t tm__now_us(void);

/* The realtime clock us microseconds from now, as pthread_cond_timedwait
 * takes it. */
struct timespec tm__deadline(int64_t us);

#endif
