/*
 * tz.h — IANA time zones from the system's TZif files, for cutting days,
 * weeks and months in a user's zone. No localtime()/TZ global state: a
 * zone is a value, many zones may be used at once from any thread.
 */
#ifndef TM_CORE_TZ_H
#define TM_CORE_TZ_H

#include <stdint.h>

typedef struct tm_tz tm_tz;

/* Loads "UTC", "local" (the TZ variable, else /etc/localtime, else UTC), or
 * an IANA name ("Europe/Berlin") from /usr/share/zoneinfo (or $TZDIR).
 * Errors: TM_EINVAL (a name that is not a zone, with a message). */
int tm__tz_load(const char *name, tm_tz **out);
void tm__tz_free(tm_tz *z);

const char *tm__tz_name(const tm_tz *z);

/* Seconds to add to UTC to get local time at the instant utc_s. */
int32_t tm__tz_offset(const tm_tz *z, int64_t utc_s);

/* 1 if every offset the zone has used since 1970 is a whole number of
 * hours (then local hours, days, weeks and months start on UTC hours). */
int tm__tz_whole_hours(const tm_tz *z);

/* The first UTC instant whose local time is local_s or later (a local time
 * skipped by a DST gap maps to the end of the gap; a repeated one to its
 * first occurrence). */
int64_t tm__tz_local_to_utc(const tm_tz *z, int64_t local_s);

/* Calendar units, the same order as the query's intervals. */
enum { TM_CAL_HOUR = 1, TM_CAL_DAY, TM_CAL_WEEK, TM_CAL_MONTH };

/* The local day (days since 1970-01-01, local calendar) of instant utc_s. */
int64_t tm__tz_local_day(const tm_tz *z, int64_t utc_s);

/* The UTC second at which the local hour, day, week (from Monday) or month
 * holding utc_s began in zone z: the one rule every caller cuts time by
 * (report periods, quota periods, alert windows, "this month"). */
int64_t tm__tz_floor(const tm_tz *z, int64_t utc_s, int unit);

#endif
