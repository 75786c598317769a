/*
 * text.c — text for terminal tables (see text.h).
 */
#include "text.h"

#include <stdio.h>
#include <string.h>

/* The next code point of s (advancing *i), or the byte when not UTF-8. */
static uint32_t next_cp(const unsigned char *s, size_t *i)
{
    uint32_t c = s[*i];
    int n = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c < 0x80 || c >= 0xF8 || (c >= 0x80 && c < 0xC0)) {
        (*i)++;
        return c;
    }
    uint32_t cp = c & (0x3F >> n);
    for (int k = 1; k <= n; k++) {
        if ((s[*i + (size_t)k] & 0xC0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = cp << 6 | (s[*i + (size_t)k] & 0x3F);
    }
    *i += (size_t)n + 1;
    return cp;
}

static int cp_width(uint32_t c)
{
    if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
        (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F) || c == 0x200B || c == 0x200D ||
        (c >= 0xFE00 && c <= 0xFE0F))
        return 0;
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
        (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
        (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
        (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
        return 2;
    return 1;
}

size_t tm__text_width(const char *s)
{
    size_t w = 0, i = 0;
    while (s[i])
        w += (size_t)cp_width(next_cp((const unsigned char *)s, &i));
    return w;
}

int tm__buf_cell(tm_buf *b, const char *s, size_t width, int right)
{
    size_t w = tm__text_width(s), i = 0, used = 0;
    int rc = TM_OK;
    if (w <= width) {
        for (size_t k = w; right && k < width && rc == TM_OK; k++)
            rc = tm__buf_putc(b, ' ');
        if (rc == TM_OK)
            rc = tm__buf_puts(b, s);
        for (size_t k = w; !right && k < width && rc == TM_OK; k++)
            rc = tm__buf_putc(b, ' ');
        return rc;
    }
    /* Cut: whole characters up to width - 1 columns, then the ellipsis. */
    while (s[i] && width) {
        size_t at = i;
        int cw = cp_width(next_cp((const unsigned char *)s, &i));
        if (used + (size_t)cw > width - 1) {
            i = at;
            break;
        }
        used += (size_t)cw;
    }
    if ((rc = tm__buf_add(b, s, i)) == TM_OK && width)
        rc = tm__buf_puts(b, "\xE2\x80\xA6");
    for (size_t k = used + 1; k < width && rc == TM_OK; k++)
        rc = tm__buf_putc(b, ' ');
    return rc;
}

const char *tm__fmt_count(int64_t v, char buf[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu",
                     v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v), o = 0;
    if (v < 0)
        buf[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

const char *tm__fmt_cost(tm_i128 pusd, char buf[64])
{
    int places = 4;
    tm_i128 a = pusd < 0 ? -pusd : pusd, unit = 100000000; /* 1e-4 dollars in pUSD */
    /* Below $0.001, one more place for each factor of ten, up to 12. */
    while (a && places < 12 && a < unit * 10) {
        places++;
        unit /= 10;
    }
    char tmp[64];
    tm__dec_format_fixed(pusd, 12, places, tmp);
    /* Places past the fourth that are trailing zeros are dropped. */
    size_t n = strlen(tmp), dot = (size_t)(strchr(tmp, '.') - tmp);
    while (n > dot + 5 && tmp[n - 1] == '0')
        tmp[--n] = '\0';
    snprintf(buf, 64, "%s", tmp);
    return buf;
}
