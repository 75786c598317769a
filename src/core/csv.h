/*
 * csv.h — CSV fields as RFC 4180 writes them, guarded for spreadsheets.
 *
 * Every CSV tokmeter writes (report, export, events, usage) goes through
 * here, so one rule holds everywhere:
 *   - a field with a comma, a double quote, CR or LF is enclosed in double
 *     quotes, and each double quote inside is doubled;
 *   - a text field starting with '=', '+', '-', '@', TAB or CR (what a
 *     spreadsheet would run as a formula) gets a leading single quote, so
 *     it is shown as text: "=SUM(A1)" becomes "'=SUM(A1)";
 *   - records end in CRLF.
 * Numbers tokmeter formats itself are written with tm__csv_num, unguarded.
 */
#ifndef TM_CORE_CSV_H
#define TM_CORE_CSV_H

#include "buf.h"

/* Appends the text field s (NULL: empty), guarded and quoted as needed,
 * preceded by a comma unless first. */
int tm__csv_text(tm_buf *b, const char *s, int first);

/* Appends a number's text as is, preceded by a comma unless first. */
int tm__csv_num(tm_buf *b, const char *s, int first);

/* Ends the record (CRLF). */
int tm__csv_end(tm_buf *b);

#endif
