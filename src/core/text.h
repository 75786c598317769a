/*
 * text.h — text for terminal tables: display width of UTF-8, cells padded
 * and cut by width (with an ellipsis), counts with thousands separators,
 * and costs with enough digits to tell a small cost from none.
 */
#ifndef TM_CORE_TEXT_H
#define TM_CORE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dec.h"
#include "tokmeter.h"

/* Columns s takes on a terminal: wide (CJK, emoji) characters 2, combining
 * marks 0, the rest 1; a byte that is not UTF-8 counts 1. */
size_t tm__text_width(const char *s);

/* Appends s as a cell of width columns, left- or right-aligned, padded with
 * spaces; a longer s is cut to width - 1 columns and ends in "…". */
int tm__buf_cell(tm_buf *b, const char *s, size_t width, int right);

/* v with thousands separators ("15,420") in buf. */
const char *tm__fmt_count(int64_t v, char buf[32]);

/* A cost in pico-dollars for a table: 4 decimals, or more for a small
 * non-zero cost so that it shows two significant digits ("0.000006"). */
const char *tm__fmt_cost(tm_i128 pusd, char buf[64]);

#endif
