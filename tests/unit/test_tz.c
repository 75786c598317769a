/*
 * test_tz.c — time zones against reference offsets (computed with Python's
 * zoneinfo from the same tzdata): DST switches both ways, far-future dates
 * (POSIX footer rules), the southern hemisphere, half-hour zones, and local
 * midnights inside a DST gap.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../../src/core/tz.h"
#include "tokmeter.h"

static const struct {
    const char *zone;
    int64_t t;
    int32_t off;
} cases[] = {
    {"Europe/Berlin", 1774745999, 3600},    {"Europe/Berlin", 1774746000, 7200},
    {"Europe/Berlin", 1792889999, 7200},    {"Europe/Berlin", 1792890000, 3600},
    {"America/New_York", 1772953199, -18000}, {"America/New_York", 1772953200, -14400},
    {"Europe/Berlin", 2855865600, 7200},    {"Europe/Berlin", 2869084800, 3600},
    {"Asia/Kolkata", 1767225600, 19800},    {"Australia/Sydney", 1775318399, 39600},
    {"Australia/Sydney", 1775318400, 36000}, {"Australia/Sydney", 3155760000, 39600},
    {"America/Santiago", 1788667199, -14400}, {"America/Santiago", 1788667200, -10800},
    {"UTC", 1788667200, 0},
};

Test(tz, offsets)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tm_tz *z = NULL;
        cr_assert_eq(tm__tz_load(cases[i].zone, &z), TM_OK, "%s: %s", cases[i].zone, tm_errmsg());
        cr_expect_eq(tm__tz_offset(z, cases[i].t), cases[i].off, "%s at %lld: %d", cases[i].zone,
                     (long long)cases[i].t, tm__tz_offset(z, cases[i].t));
        tm__tz_free(z);
    }
}

Test(tz, whole_hours)
{
    tm_tz *z;
    cr_assert_eq(tm__tz_load("Asia/Kolkata", &z), TM_OK);
    cr_expect_not(tm__tz_whole_hours(z));
    tm__tz_free(z);
    cr_assert_eq(tm__tz_load("Europe/Berlin", &z), TM_OK);
    cr_expect(tm__tz_whole_hours(z));
    tm__tz_free(z);
}

Test(tz, local_midnight_in_a_gap)
{
    tm_tz *z;
    cr_assert_eq(tm__tz_load("America/Santiago", &z), TM_OK);
    /* 2026-09-06 00:00 does not exist in Santiago: the day starts at 01:00. */
    int64_t day = 20702; /* days from 1970 to 2026-09-06 */
    cr_expect_eq(tm__tz_local_to_utc(z, day * 86400), 1788667200);
    cr_expect_eq(tm__tz_local_to_utc(z, (day - 1) * 86400), 1788580800);
    cr_expect_eq(tm__tz_local_to_utc(z, (day + 1) * 86400), 1788750000);
    tm__tz_free(z);
}

Test(tz, bad_names)
{
    tm_tz *z = NULL;
    cr_expect_eq(tm__tz_load("Mars/Olympus", &z), TM_EINVAL);
    cr_expect_eq(tm__tz_load("../../etc/passwd", &z), TM_EINVAL);
    cr_expect_eq(tm__tz_load("", &z), TM_EINVAL);
    cr_expect_null(z);
}

Test(tz, local_from_env)
{
    tm_tz *z;
    setenv("TZ", "Europe/Berlin", 1);
    cr_assert_eq(tm__tz_load("local", &z), TM_OK);
    cr_expect_eq(tm__tz_offset(z, 1774746000), 7200);
    tm__tz_free(z);
    setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
    cr_assert_eq(tm__tz_load("local", &z), TM_OK);
    cr_expect_eq(tm__tz_offset(z, 1772953199), -18000);
    cr_expect_eq(tm__tz_offset(z, 1772953200), -14400);
    tm__tz_free(z);
}

/* tm__tz_floor against glibc: the start of the local hour, day, week or
 * month holding t is the earliest instant, walking back a minute at a time
 * with localtime_r, whose local unit is still t's. So a day whose midnight
 * a DST gap skips starts at the gap's end, and a repeated hour counts from
 * its first occurrence (as tz.h says). */
#include <time.h>

static long long unit_key(time_t t, int unit)
{
    struct tm l;
    localtime_r(&t, &l);
    long long day = (long long)l.tm_year * 400 + l.tm_yday;
    switch (unit) {
    case TM_CAL_HOUR: return day * 24 + l.tm_hour;
    case TM_CAL_DAY: return day;
    case TM_CAL_WEEK: { /* days since an old Monday, counted in local dates */
        long long y = l.tm_year + 1900 - 1, days = y * 365 + y / 4 - y / 100 + y / 400 + l.tm_yday;
        return (days - (l.tm_wday + 6) % 7) / 7;
    }
    default: return (long long)l.tm_year * 12 + l.tm_mon;
    }
}

Test(tz, floor_matches_glibc)
{
    const char *zones[] = {"Europe/Berlin", "America/Santiago", "Asia/Kolkata", "Australia/Sydney", "UTC"};
    const int64_t at[] = {1774745999, 1774746000, 1774749600, 1792889999, 1792893600, 1788667200,
                          1775318400, 1775320000, -86400 * 3 - 1, 1767225600 + 45 * 60};
    for (size_t zi = 0; zi < sizeof zones / sizeof zones[0]; zi++) {
        tm_tz *z = NULL;
        cr_assert_eq(tm__tz_load(zones[zi], &z), TM_OK);
        setenv("TZ", zones[zi], 1);
        tzset();
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
            for (int unit = TM_CAL_HOUR; unit <= TM_CAL_MONTH; unit++) {
                long long key = unit_key((time_t)at[i], unit);
                time_t tt = (time_t)(at[i] - ((at[i] % 60) + 60) % 60);
                while (unit_key(tt - 60, unit) == key)
                    tt -= 60;
                int64_t got = tm__tz_floor(z, at[i], unit);
                cr_expect_eq(got, (int64_t)tt, "%s at %lld unit %d: got %lld, want %lld", zones[zi],
                             (long long)at[i], unit, (long long)got, (long long)tt);
            }
        tm__tz_free(z);
    }
    unsetenv("TZ");
}
