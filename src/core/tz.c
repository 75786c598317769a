/*
 * tz.c — TZif (RFC 8536) reader and POSIX TZ rules.
 *
 *   TZif file: header, v1 data (32-bit), header, v2 data (64-bit times),
 *   footer "\n<POSIX TZ string>\n" for instants after the last transition.
 *
 * Only the v2 data and the footer are used. The footer ("CET-1CEST,
 * M3.5.0,M10.5.0/3") is evaluated here, so dates past the table (slim
 * TZif files end their tables early) are still right.
 */
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "tmtime.h"

typedef struct rule {
    int kind;               /* 'M' month.week.day, 'J' julian 1-365, 'D' 0-365 */
    int m, w, d, n;
    int32_t time;           /* seconds after local midnight                     */
} rule;

struct tm_tz {
    char name[64];
    int64_t *trans;         /* UTC seconds, ascending                           */
    uint8_t *idx;           /* type of each transition                          */
    int32_t *utoff;         /* per type                                         */
    size_t ntrans, ntypes;
    int has_posix, has_dst;
    int32_t std_off, dst_off;   /* seconds east of UTC                          */
    rule start, end;
    int whole_hours;
};

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- POSIX TZ strings ---- */

static const char *posix_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]h[h][:mm[:ss]] → seconds. */
static const char *posix_hms(const char *s, int32_t *out)
{
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (*s < '0' || *s > '9')
        return NULL;
    while (*s >= '0' && *s <= '9')
        h = h * 10 + (*s++ - '0');
    if (*s == ':') {
        s++;
        m = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
        if (*s == ':') {
            s++;
            sec = (s[0] - '0') * 10 + (s[1] - '0');
            s += 2;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *posix_rule(const char *s, rule *r)
{
    r->time = 7200;
    if (*s == 'M') {
        r->kind = 'M';
        if (sscanf(s + 1, "%d.%d.%d", &r->m, &r->w, &r->d) != 3)
            return NULL;
        s++;
        while (*s && *s != '/' && *s != ',')
            s++;
    } else {
        r->kind = *s == 'J' ? 'J' : 'D';
        if (*s == 'J')
            s++;
        r->n = 0;
        while (*s >= '0' && *s <= '9')
            r->n = r->n * 10 + (*s++ - '0');
    }
    if (*s == '/' && !(s = posix_hms(s + 1, &r->time)))
        return NULL;
    return s;
}

static int parse_posix(tm_tz *z, const char *s)
{
    int32_t off;
    if (!(s = posix_name(s)) || !(s = posix_hms(s, &off)))
        return -1;
    z->std_off = -off; /* POSIX counts west of UTC */
    z->has_posix = 1;
    if (!*s)
        return 0;
    if (!(s = posix_name(s)))
        return -1;
    z->dst_off = z->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = posix_hms(s, &off)))
            return -1;
        z->dst_off = -off;
    }
    if (*s != ',' || !(s = posix_rule(s + 1, &z->start)) || *s != ',' ||
        !(s = posix_rule(s + 1, &z->end)))
        return -1;
    z->has_dst = 1;
    return 0;
}

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Local seconds (since the epoch, in local reckoning) at which rule r fires in year y. */
static int64_t rule_local(const rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'M') {
        static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = tm__days_from_civil(y, (unsigned)r->m, 1);
        int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int d = 1 + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
        int len = dm[r->m - 1] + (r->m == 2 && leap(y));
        while (d > len)
            d -= 7;
        day = first + d - 1;
    } else if (r->kind == 'J') {
        day = tm__days_from_civil(y, 1, 1) + r->n - 1 + (leap(y) && r->n >= 60);
    } else {
        day = tm__days_from_civil(y, 1, 1) + r->n;
    }
    return day * 86400 + r->time;
}

static int32_t posix_offset(const tm_tz *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    int64_t y;
    unsigned m, d;
    tm__civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &y, &m, &d);
    int64_t start = rule_local(&z->start, y) - z->std_off; /* given in standard time */
    int64_t end = rule_local(&z->end, y) - z->dst_off;     /* given in daylight time */
    int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? z->dst_off : z->std_off;
}

/* ---- TZif ---- */

static int parse_tzif(tm_tz *z, const unsigned char *p, size_t n)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    int version = p[4];
    size_t cnt[6];
    for (int i = 0; i < 6; i++)
        cnt[i] = (size_t)be(p + 20 + 4 * i, 4);
    /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    size_t v1 = cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
    if (version < '2' || 44 + v1 + 44 > n)
        return -1;
    const unsigned char *h = p + 44 + v1;
    if (memcmp(h, "TZif", 4) != 0)
        return -1;
    for (int i = 0; i < 6; i++)
        cnt[i] = (size_t)be(h + 20 + 4 * i, 4);
    const unsigned char *d = h + 44, *end = p + n;
    size_t need = cnt[3] * 9 + cnt[4] * 6 + cnt[5] + cnt[2] * 12 + cnt[1] + cnt[0];
    if (cnt[4] == 0 || (size_t)(end - d) < need)
        return -1;
    z->ntrans = cnt[3];
    z->ntypes = cnt[4];
    z->trans = malloc((z->ntrans + 1) * sizeof *z->trans);
    z->idx = malloc(z->ntrans + 1);
    z->utoff = malloc(z->ntypes * sizeof *z->utoff);
    if (!z->trans || !z->idx || !z->utoff)
        return -1;
    for (size_t i = 0; i < z->ntrans; i++)
        z->trans[i] = (int64_t)be(d + 8 * i, 8);
    d += 8 * z->ntrans;
    for (size_t i = 0; i < z->ntrans; i++)
        if ((z->idx[i] = d[i]) >= z->ntypes)
            return -1;
    d += z->ntrans;
    for (size_t i = 0; i < z->ntypes; i++)
        z->utoff[i] = (int32_t)(uint32_t)be(d + 6 * i, 4);
    d += need - cnt[3] * 9;
    /* Footer: "\n...\n". */
    if (d < end && *d == '\n') {
        const unsigned char *e = memchr(d + 1, '\n', (size_t)(end - d - 1));
        if (e && e > d + 1) {
            char tzs[128];
            size_t len = (size_t)(e - d - 1);
            if (len < sizeof tzs) {
                memcpy(tzs, d + 1, len);
                tzs[len] = '\0';
                if (parse_posix(z, tzs))
                    z->has_posix = 0;
            }
        }
    }
    return 0;
}

static int valid_name(const char *s)
{
    if (!*s || *s == '/' || strstr(s, ".."))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '/' || *s == '_' || *s == '-' || *s == '+'))
            return 0;
    return 1;
}

static void set_whole_hours(tm_tz *z)
{
    z->whole_hours = 1;
    for (size_t i = 0; i < z->ntrans; i++)
        if (z->trans[i] >= 0 && z->utoff[z->idx[i]] % 3600)
            z->whole_hours = 0;
    if (z->ntrans == 0 && z->ntypes && z->utoff[0] % 3600)
        z->whole_hours = 0;
    if (z->ntrans && z->trans[0] > 0 && z->utoff[0] % 3600)
        z->whole_hours = 0;
    if (z->has_posix && (z->std_off % 3600 || (z->has_dst && z->dst_off % 3600)))
        z->whole_hours = 0;
}

/* The local zone's IANA name: where /etc/localtime links into the zone
 * directory ("Europe/Berlin"), else /etc/timezone, else "local". */
static void local_name(char *out, size_t cap)
{
    char link[1024], line[256];
    ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
    const char *p;
    snprintf(out, cap, "local");
    if (n > 0) {
        link[n] = '\0';
        if ((p = strstr(link, "zoneinfo/")) && valid_name(p + 9)) {
            snprintf(out, cap, "%.*s", (int)cap - 1, p + 9);
            return;
        }
    }
    FILE *f = fopen("/etc/timezone", "r");
    if (f) {
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, " \r\n")] = '\0';
            if (valid_name(line))
                snprintf(out, cap, "%.*s", (int)cap - 1, line);
        }
        fclose(f);
    }
}

int tm__tz_load(const char *name, tm_tz **out)
{
    tm_tz *z = calloc(1, sizeof *z);
    tm_buf file = TM_BUF_INIT;
    char path[512];
    int rc = TM_OK;
    *out = NULL;
    if (!z)
        return TM_ENOMEM;
    snprintf(z->name, sizeof z->name, "%s", name);
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0) {
        snprintf(z->name, sizeof z->name, "UTC");
        z->has_posix = 1;
        z->whole_hours = 1;
        *out = z;
        return TM_OK;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if (strcmp(name, "local") == 0 || strcmp(name, "Local") == 0) {
        const char *env = getenv("TZ");
        if (env && *env == ':')
            env++;
        if (env && *env && valid_name(env)) {
            snprintf(path, sizeof path, "%s/%s", dir, env);
            snprintf(z->name, sizeof z->name, "%s", env);
        } else if (env && *env && parse_posix(z, env) == 0) {
            snprintf(z->name, sizeof z->name, "%s", env);
            set_whole_hours(z);
            *out = z;
            return TM_OK;
        } else {
            snprintf(path, sizeof path, "/etc/localtime");
            local_name(z->name, sizeof z->name);
        }
        file.max = 1 << 20;
        if (tm__buf_read_file(&file, path) != TM_OK || parse_tzif(z, (unsigned char *)file.data, file.len)) {
            tm__tz_free(z); /* no usable local zone: UTC */
            tm__buf_free(&file);
            return tm__tz_load("UTC", out);
        }
    } else {
        if (!valid_name(name)) {
            rc = tm__fail(TM_EINVAL, "tz: '%s' is not a time zone name (like Europe/Berlin or UTC)", name);
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s", dir, name);
        file.max = 1 << 20;
        if (tm__buf_read_file(&file, path) != TM_OK || parse_tzif(z, (unsigned char *)file.data, file.len)) {
            rc = tm__fail(TM_EINVAL, "tz: unknown time zone '%s' (IANA names like America/New_York; "
                                     "looked in %s)", name, dir);
            goto out;
        }
    }
    set_whole_hours(z);
out:
    tm__buf_free(&file);
    if (rc) {
        tm__tz_free(z);
        return rc;
    }
    *out = z;
    return TM_OK;
}

void tm__tz_free(tm_tz *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->utoff);
    free(z);
}

const char *tm__tz_name(const tm_tz *z) { return z->name; }

int tm__tz_whole_hours(const tm_tz *z) { return z->whole_hours; }

int32_t tm__tz_offset(const tm_tz *z, int64_t t)
{
    if (z->ntrans == 0 || t < z->trans[0]) {
        if (z->ntrans == 0 && z->has_posix)
            return posix_offset(z, t);
        return z->ntypes ? z->utoff[0] : z->std_off;
    }
    if (t >= z->trans[z->ntrans - 1] && z->has_posix)
        return posix_offset(z, t);
    size_t lo = 0, hi = z->ntrans; /* last transition ≤ t */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}

int64_t tm__tz_local_to_utc(const tm_tz *z, int64_t L)
{
    int32_t before = tm__tz_offset(z, L - 86400), after = tm__tz_offset(z, L + 86400);
    int64_t best = INT64_MAX;
    int32_t cands[2] = {before, after};
    for (int i = 0; i < 2; i++) {
        int64_t u = L - cands[i];
        if (tm__tz_offset(z, u) == cands[i] && u < best)
            best = u;
    }
    if (best != INT64_MAX)
        return best;
    return L - before; /* in a gap: the instant the gap ends */
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

int64_t tm__tz_local_day(const tm_tz *z, int64_t utc_s)
{
    return floor_div(utc_s + tm__tz_offset(z, utc_s), 86400);
}

int64_t tm__tz_floor(const tm_tz *z, int64_t utc_s, int unit)
{
    int64_t L = utc_s + tm__tz_offset(z, utc_s), days = floor_div(L, 86400), Lp;
    switch (unit) {
    case TM_CAL_HOUR: Lp = floor_div(L, 3600) * 3600; break;
    case TM_CAL_DAY: Lp = days * 86400; break;
    case TM_CAL_WEEK: Lp = (days - ((days % 7 + 7 + 3) % 7)) * 86400; break; /* 1970-01-01 was a Thursday */
    default: {
        int64_t y;
        unsigned m, d;
        tm__civil_from_days(days, &y, &m, &d);
        Lp = tm__days_from_civil(y, m, 1) * 86400;
    }
    }
    return tm__tz_local_to_utc(z, Lp);
}
