/*
 * csv.c — CSV fields (RFC 4180) with the spreadsheet formula guard; see csv.h.
 */
#include "csv.h"

#include <string.h>

#include "err.h"

int tm__csv_text(tm_buf *b, const char *s, int first)
{
    int rc = first ? TM_OK : tm__buf_putc(b, ',');
    if (!s || rc)
        return rc;
    int guard = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        rc = tm__buf_putc(b, '"');
    if (rc == TM_OK && guard)
        rc = tm__buf_putc(b, '\'');
    for (const char *p = s; *p && rc == TM_OK; p++)
        rc = *p == '"' ? tm__buf_puts(b, "\"\"") : tm__buf_putc(b, *p);
    if (rc == TM_OK && quote)
        rc = tm__buf_putc(b, '"');
    return rc;
}

int tm__csv_num(tm_buf *b, const char *s, int first)
{
    int rc = first ? TM_OK : tm__buf_putc(b, ',');
    return rc ? rc : tm__buf_puts(b, s);
}

int tm__csv_end(tm_buf *b) { return tm__buf_puts(b, "\r\n"); }
