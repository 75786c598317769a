/*
 * dec.c — decimal parsing and formatting on 128-bit integers.
 *
 * A number's text is read as  M × 10^e  where M is the integer of its
 * significant digits (at most 36, so M < 10^36 fits in 127 bits) and e
 * collects the fraction length and the exponent. Scaling to 10^scale is
 * then a multiplication (exact, range-checked) or a division rounded half
 * to even.
 */
#include "dec.h"

#define MAX_SIG 36

static const tm_i128 I64MAX = (tm_i128)INT64_MAX;

static tm_i128 pow10i(int k) /* 0 ≤ k ≤ 38 */
{
    tm_i128 p = 1;
    while (k-- > 0)
        p *= 10;
    return p;
}

int tm__dec_parse(const char *s, size_t n, int scale, int allow_neg, int64_t *out)
{
    size_t i = 0;
    int neg = 0, sig = 0, frac = 0, any = 0;
    tm_i128 m = 0;
    long e = 0;

    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (m != 0 || s[i] != '0') {
            if (++sig > MAX_SIG)
                return TM_DEC_RANGE;
            m = m * 10 + (s[i] - '0');
        }
        any = 1;
        i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        int fd = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (m != 0 || s[i] != '0') {
                if (++sig > MAX_SIG)
                    return TM_DEC_RANGE;
                m = m * 10 + (s[i] - '0');
            }
            frac++;
            fd = 1;
            i++;
        }
        if (!fd)
            return TM_DEC_SYNTAX;
    }
    if (!any)
        return TM_DEC_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
            ed = 1;
            i++;
        }
        if (!ed)
            return TM_DEC_SYNTAX;
        if (eneg)
            e = -e;
    }
    if (i != n)
        return TM_DEC_SYNTAX;
    if (neg && m != 0 && !allow_neg)
        return TM_DEC_NEGATIVE;

    long k = e - frac + scale;
    tm_i128 v;
    if (m == 0) {
        v = 0;
    } else if (k >= 0) {
        if (sig + k > 19) /* m < 10^sig, so the product stays in 128 bits */
            return TM_DEC_RANGE;
        v = m * pow10i((int)k);
    } else if (-k > 38) {
        v = 0; /* far below the scale's resolution: rounds to zero */
    } else {
        tm_i128 d = pow10i((int)-k);
        tm_i128 q = m / d, r = m % d;
        if (2 * r > d || (2 * r == d && (q & 1)))
            q++;
        v = q;
    }
    if (v > I64MAX)
        return TM_DEC_RANGE;
    *out = (int64_t)(neg ? -v : v);
    return TM_DEC_OK;
}

int tm__uint_parse(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return TM_DEC_SYNTAX;
    if (s[0] == '-' && n > 1)
        return TM_DEC_NEGATIVE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TM_DEC_SYNTAX;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return TM_DEC_RANGE;
        v = v * 10 + d;
    }
    *out = v;
    return TM_DEC_OK;
}

/* Digits of |v| (v may be the most negative value) written backwards. */
static size_t rev_digits(tm_i128 v, char *tmp)
{
    size_t n = 0;
    do {
        int d = (int)(v % 10);
        tmp[n++] = (char)('0' + (d < 0 ? -d : d));
        v /= 10;
    } while (v != 0);
    return n;
}

static size_t emit(tm_i128 v, int scale, int places, char *buf)
{
    char tmp[48];
    size_t n = rev_digits(v, tmp), o = 0;
    while ((int)n <= scale)
        tmp[n++] = '0';
    if (v < 0)
        buf[o++] = '-';
    for (size_t i = n; i > (size_t)scale; i--)
        buf[o++] = tmp[i - 1];
    int last = 0; /* digits kept after the point */
    if (places < 0) {
        for (int i = 0; i < scale; i++)
            if (tmp[i] != '0') {
                last = scale - i;
                break;
            }
    } else {
        last = places;
    }
    if (last > 0) {
        buf[o++] = '.';
        for (int i = 0; i < last; i++)
            buf[o++] = tmp[scale - 1 - i];
    }
    buf[o] = '\0';
    return o;
}

size_t tm__dec_format(tm_i128 v, int scale, char *buf)
{
    return emit(v, scale, -1, buf);
}

size_t tm__dec_format_fixed(tm_i128 v, int scale, int places, char *buf)
{
    if (places < scale) { /* round half away from zero */
        tm_i128 d = pow10i(scale - places), q = v / d, r = v % d;
        if (2 * (r < 0 ? -r : r) >= d)
            q += v < 0 ? -1 : 1;
        v = q;
    } else {
        v *= pow10i(places - scale);
    }
    return emit(v, places, places, buf);
}

/* A number's text as sign, significant digits (no leading or trailing
 * zeros) and the power of ten of the first one: 0.0375 is +, "375", -2. */
typedef struct dnum {
    int neg;
    char dig[80];
    int nd;
    long top;
} dnum;

static int dnum_read(const char *s, size_t n, dnum *d)
{
    size_t i = 0;
    long ipart = 0, e = 0; /* digits before the point, then the exponent */
    int any = 0;
    d->neg = 0;
    d->nd = 0;
    if (i < n && s[i] == '-')
        d->neg = 1, i++;
    for (int frac = 0; i < n; i++) {
        if (s[i] == '.' && !frac) {
            frac = 1;
            if (!any || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
                return TM_DEC_SYNTAX;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            break;
        any = 1;
        if (!frac)
            ipart++;
        if (d->nd == 0 && s[i] == '0') {
            ipart--; /* a leading zero holds no place; after the point it shifts the first digit down */
            continue;
        }
        if (d->nd >= (int)sizeof d->dig)
            return TM_DEC_RANGE;
        d->dig[d->nd++] = s[i];
    }
    if (!any)
        return TM_DEC_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, ed = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed = 1)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        if (!ed)
            return TM_DEC_SYNTAX;
        e = eneg ? -e : e;
    }
    if (i != n)
        return TM_DEC_SYNTAX;
    while (d->nd > 0 && d->dig[d->nd - 1] == '0')
        d->nd--;
    if (d->nd == 0)
        d->neg = 0; /* -0 is 0 */
    d->top = ipart - 1 + e;
    return TM_DEC_OK;
}

int tm__dec_cmp(const char *a, size_t an, const char *b, size_t bn, int *out)
{
    dnum x, y;
    int rc = dnum_read(a, an, &x);
    if (rc == TM_DEC_OK)
        rc = dnum_read(b, bn, &y);
    if (rc)
        return rc;
    int sx = x.nd ? (x.neg ? -1 : 1) : 0, sy = y.nd ? (y.neg ? -1 : 1) : 0, mag = 0;
    if (sx != sy || sx == 0) {
        *out = (sx > sy) - (sx < sy);
        return TM_DEC_OK;
    }
    if (x.top != y.top) {
        mag = x.top > y.top ? 1 : -1;
    } else {
        for (int i = 0; i < x.nd || i < y.nd; i++) {
            char cx = i < x.nd ? x.dig[i] : '0', cy = i < y.nd ? y.dig[i] : '0';
            if (cx != cy) {
                mag = cx > cy ? 1 : -1;
                break;
            }
        }
    }
    *out = sx * mag;
    return TM_DEC_OK;
}

size_t tm__dec_ratio(tm_i128 num, tm_i128 den, int places, char *buf)
{
    tm_i128 n = num * pow10i(places), q = n / den, r = n % den;
    if (2 * r > den || (2 * r == den && (q & 1)))
        q++;
    return tm__dec_format(q, places, buf);
}
