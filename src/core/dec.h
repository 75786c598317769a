/*
 * dec.h — exact decimal text <-> scaled integers.
 *
 * Money, values and latencies arrive as decimal text ("0.0375", "1e-3",
 * "812.4") and are kept as integers at a fixed scale (pico-USD, nano-units,
 * nanoseconds). No floating point is involved anywhere: the text's digits
 * are shifted, and digits beyond the scale are rounded half to even, once.
 */
#ifndef TM_CORE_DEC_H
#define TM_CORE_DEC_H

#include <stddef.h>
#include <stdint.h>

typedef __int128 tm_i128;

/* Results of the parsers (not tm_err: callers turn them into messages). */
enum { TM_DEC_OK = 0, TM_DEC_SYNTAX = 1, TM_DEC_RANGE = 2, TM_DEC_NEGATIVE = 3 };

/* Parses s[0..n) — a JSON number (sign, digits, fraction, exponent) — into
 * round(value × 10^scale) as int64. Negative values are refused with
 * TM_DEC_NEGATIVE unless allow_neg. At most 36 significant digits. */
int tm__dec_parse(const char *s, size_t n, int scale, int allow_neg, int64_t *out);

/* Parses s[0..n) as a plain non-negative integer (digits only, no sign,
 * fraction or exponent) not above max. */
int tm__uint_parse(const char *s, size_t n, uint64_t max, uint64_t *out);

/* Writes v / 10^scale as plain decimal text, trailing fractional zeros
 * trimmed ("12.345678912", "0", "-0.5"), NUL-terminated. Needs at most 48
 * bytes. Returns the length. */
size_t tm__dec_format(tm_i128 v, int scale, char *buf);

/* Like tm__dec_format but rounds half away from zero to `places` decimals
 * first and always shows exactly that many ("0.50", "12.3457"). */
size_t tm__dec_format_fixed(tm_i128 v, int scale, int places, char *buf);

/* Writes num / den (den > 0, num ≥ 0) rounded half to even to `places`
 * decimals, trailing zeros trimmed, as tm__dec_format does: rates and
 * percentages from counts, with no floating point. Returns the length. */
size_t tm__dec_ratio(tm_i128 num, tm_i128 den, int places, char *buf);

/* Compares two numbers' texts (JSON numbers, any size and exponent)
 * exactly: *out is -1, 0 or 1 as a <, =, > b. Returns TM_DEC_SYNTAX for a
 * text that is not a number. */
int tm__dec_cmp(const char *a, size_t an, const char *b, size_t bn, int *out);

#endif
