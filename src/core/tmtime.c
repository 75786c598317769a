/*
 * tmtime.c — RFC 3339 parsing and formatting without the C library's
 * time zone state (no timegm/localtime: they are slow and not reentrant).
 * Civil-day arithmetic after H. Hinnant's "chrono-compatible low-level date
 * algorithms".
 */
#include "tmtime.h"

#include <stdio.h>
#include <time.h>

#include "dec.h"

int64_t tm__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tm__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, size_t at, size_t cnt, int *out)
{
    int v = 0;
    if (at + cnt > n)
        return -1;
    for (size_t i = at; i < at + cnt; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

int tm__time_parse(const char *s, size_t n, int64_t *us, const char **why)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    int64_t frac_us = 0, off_s = 0;
    size_t i;

    if (n > 0 && n <= 20 && s[0] >= '0' && s[0] <= '9' &&
        (n < 5 || s[4] != '-')) { /* epoch milliseconds */
        int64_t v;
        int rc = tm__dec_parse(s, n, 3, 0, &v); /* ms with 3 decimals = µs */
        if (rc != TM_DEC_OK || v >= TM_TIME_MAX_US) {
            *why = "must be RFC 3339 or epoch milliseconds from 1970 to 9999";
            return -1;
        }
        *us = v;
        return 0;
    }
    *why = "must be RFC 3339 (2026-10-01T13:05:00Z) or epoch milliseconds";
    if (digits(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || digits(s, n, 5, 2, &mo) ||
        s[7] != '-' || digits(s, n, 8, 2, &d))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
        *why = "has a date out of range (years 1970-9999)";
        return -1;
    }
    i = 10;
    if (i < n) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return -1;
        if (digits(s, n, i + 1, 2, &h) || i + 3 >= n || s[i + 3] != ':' ||
            digits(s, n, i + 4, 2, &mi) || i + 6 >= n || s[i + 6] != ':' ||
            digits(s, n, i + 7, 2, &se))
            return -1;
        i += 9;
        if (h > 23 || mi > 59 || se > 60) { /* 60: a leap second, kept as :59.999999 */
            *why = "has a time of day out of range";
            return -1;
        }
        if (i < n && s[i] == '.') {
            int64_t scale = 100000;
            size_t nd = 0;
            for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
                if (nd < 6) {
                    frac_us += (s[i] - '0') * scale;
                    scale /= 10;
                }
            }
            if (nd == 0 || nd > 9)
                return -1;
        }
        if (i >= n)
            return -1; /* RFC 3339 requires an offset */
        if (s[i] == 'Z' || s[i] == 'z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int oh, om;
            if (digits(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
                digits(s, n, i + 4, 2, &om) || oh > 23 || om > 59)
                return -1;
            off_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
            i += 6;
        } else {
            return -1;
        }
        if (i != n)
            return -1;
    }
    if (se == 60) {
        se = 59;
        frac_us = 999999;
    }
    int64_t days = tm__days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = (days * 86400 + h * 3600 + mi * 60 + se - off_s) * TM_US_PER_SEC + frac_us;
    if (t < 0 || t >= TM_TIME_MAX_US) {
        *why = "is out of range (1970 to 9999, UTC)";
        return -1;
    }
    *us = t;
    return 0;
}

size_t tm__time_format(int64_t us, char *buf)
{
    int64_t days = us / TM_US_PER_DAY, rem = us % TM_US_PER_DAY;
    if (rem < 0) {
        rem += TM_US_PER_DAY;
        days--;
    }
    int64_t y;
    unsigned m, d;
    tm__civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / TM_US_PER_SEC, f = rem % TM_US_PER_SEC;
    int n = snprintf(buf, 32, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    if (f % 1000 == 0 && f)
        n += snprintf(buf + n, 32 - (size_t)n, ".%03d", (int)(f / 1000));
    else if (f)
        n += snprintf(buf + n, 32 - (size_t)n, ".%06d", (int)f);
    buf[n++] = 'Z';
    buf[n] = '\0';
    return (size_t)n;
}

int64_t tm__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * TM_US_PER_SEC + ts.tv_nsec / 1000;
}

struct timespec tm__deadline(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + us % TM_US_PER_SEC * 1000;
    ts.tv_sec += (time_t)(us / TM_US_PER_SEC + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}
