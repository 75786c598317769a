/*
 * test_time.c — RFC 3339 and epoch-millisecond parsing, formatting.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/core/tmtime.h"

static const struct {
    const char *text;
    int ok;
    int64_t us;
} cases[] = {
    {"1970-01-01T00:00:00Z", 1, 0},
    {"2026-10-01T13:05:00Z", 1, 1790859900000000},
    {"2026-10-01T15:05:00+02:00", 1, 1790859900000000},
    {"2026-10-01T08:05:00-05:00", 1, 1790859900000000},
    {"2026-10-01t13:05:00z", 1, 1790859900000000},
    {"2026-10-01 13:05:00Z", 1, 1790859900000000},
    {"2026-10-01T13:05:00.25Z", 1, 1790859900250000},
    {"2026-10-01T13:05:00.123456789Z", 1, 1790859900123456},
    {"2026-10-01", 1, 1790812800000000},
    {"1790859900000", 1, 1790859900000000},
    {"1790859900000.5", 1, 1790859900000500},
    {"2024-02-29T00:00:00Z", 1, 1709164800000000},
    {"2016-12-31T23:59:60Z", 1, 1483228799999999},
    {"2023-02-29T00:00:00Z", 0, 0},
    {"2026-13-01T00:00:00Z", 0, 0},
    {"2026-10-01T24:00:00Z", 0, 0},
    {"2026-10-01T13:05:00", 0, 0},        /* no offset */
    {"2026-10-01T13:05Z", 0, 0},
    {"1969-12-31T23:59:59Z", 0, 0},
    {"10000-01-01T00:00:00Z", 0, 0},
    {"2026-10-01T13:05:00.Z", 0, 0},
    {"yesterday", 0, 0},
    {"", 0, 0},
    {"-5", 0, 0},
    {"1970-01-01T00:00:00+01:00", 0, 0},  /* before 1970 in UTC */
};

Test(time, parse_table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t us = 0;
        const char *why = NULL;
        int rc = tm__time_parse(cases[i].text, strlen(cases[i].text), &us, &why);
        cr_expect_eq(rc == 0, cases[i].ok, "'%s'", cases[i].text);
        if (rc == 0 && cases[i].ok)
            cr_expect_eq(us, cases[i].us, "'%s': %lld", cases[i].text, (long long)us);
        if (rc != 0)
            cr_expect(why && *why, "'%s' needs a reason", cases[i].text);
    }
}

Test(time, format)
{
    char buf[32];
    tm__time_format(1790859900000000, buf);
    cr_expect_str_eq(buf, "2026-10-01T13:05:00Z");
    tm__time_format(1790859900250000, buf);
    cr_expect_str_eq(buf, "2026-10-01T13:05:00.250Z");
    tm__time_format(1790859900000001, buf);
    cr_expect_str_eq(buf, "2026-10-01T13:05:00.000001Z");
}

Test(time, civil_round_trip)
{
    for (int64_t d = 0; d < 2932897; d += 37) { /* 1970 .. 9999 */
        int64_t y;
        unsigned m, dd;
        tm__civil_from_days(d, &y, &m, &dd);
        cr_assert_eq(tm__days_from_civil(y, m, dd), d);
    }
}
