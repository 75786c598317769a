/*
 * test_dec.c — exact decimal parsing and formatting, table-driven.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/core/dec.h"

static const struct {
    const char *text;
    int scale;
    int rc;
    int64_t want;
} parse_cases[] = {
    {"0", 12, TM_DEC_OK, 0},
    {"1", 9, TM_DEC_OK, 1000000000},
    {"0.0375", 12, TM_DEC_OK, 37500000000},         /* $0.0375 */
    {"0.000006", 12, TM_DEC_OK, 6000000},
    {"12.345678912", 12, TM_DEC_OK, 12345678912000},
    {"1e-3", 12, TM_DEC_OK, 1000000000},
    {"2.5E+2", 0, TM_DEC_OK, 250},
    {"1.5", 0, TM_DEC_OK, 2},                       /* half to even */
    {"2.5", 0, TM_DEC_OK, 2},
    {"3.5", 0, TM_DEC_OK, 4},
    {"2.5000001", 0, TM_DEC_OK, 3},
    {"0.0037500000000000003", 12, TM_DEC_OK, 3750000000}, /* float noise below pico */
    {"9223372.036854775807", 12, TM_DEC_OK, INT64_MAX},
    {"9223372.036854775808", 12, TM_DEC_RANGE, 0},
    {"1e400", 0, TM_DEC_RANGE, 0},
    {"1e-400", 12, TM_DEC_OK, 0},
    {"-1", 9, TM_DEC_NEGATIVE, 0},
    {"-0", 9, TM_DEC_OK, 0},
    {"", 9, TM_DEC_SYNTAX, 0},
    {".5", 9, TM_DEC_SYNTAX, 0},
    {"5.", 9, TM_DEC_SYNTAX, 0},
    {"1e", 9, TM_DEC_SYNTAX, 0},
    {"NaN", 9, TM_DEC_SYNTAX, 0},
    {"Infinity", 9, TM_DEC_SYNTAX, 0},
    {"0x10", 9, TM_DEC_SYNTAX, 0},
    {"1 ", 9, TM_DEC_SYNTAX, 0},
    {"1234567890123456789012345678901234567", 0, TM_DEC_RANGE, 0},
};

Test(dec, parse_table)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        int64_t v = -42;
        int rc = tm__dec_parse(parse_cases[i].text, strlen(parse_cases[i].text),
                               parse_cases[i].scale, 0, &v);
        cr_expect_eq(rc, parse_cases[i].rc, "'%s': rc %d, want %d", parse_cases[i].text, rc,
                     parse_cases[i].rc);
        if (rc == TM_DEC_OK)
            cr_expect_eq(v, parse_cases[i].want, "'%s': got %lld want %lld", parse_cases[i].text,
                         (long long)v, (long long)parse_cases[i].want);
    }
}

Test(dec, negative_allowed)
{
    int64_t v;
    cr_assert_eq(tm__dec_parse("-2.25", 5, 2, 1, &v), TM_DEC_OK);
    cr_assert_eq(v, -225);
}

Test(dec, uint)
{
    uint64_t v;
    cr_assert_eq(tm__uint_parse("9007199254740992", 16, 1ull << 53, &v), TM_DEC_OK);
    cr_assert_eq(v, 1ull << 53);
    cr_assert_eq(tm__uint_parse("9007199254740993", 16, 1ull << 53, &v), TM_DEC_RANGE);
    cr_assert_eq(tm__uint_parse("1.0", 3, 100, &v), TM_DEC_SYNTAX);
    cr_assert_eq(tm__uint_parse("1e3", 3, 10000, &v), TM_DEC_SYNTAX);
    cr_assert_eq(tm__uint_parse("-1", 2, 100, &v), TM_DEC_NEGATIVE);
    cr_assert_eq(tm__uint_parse("", 0, 100, &v), TM_DEC_SYNTAX);
}

static const struct {
    int64_t v;
    int scale, places;
    const char *want;
} fmt_cases[] = {
    {12345678912000, 12, -1, "12.345678912"},
    {0, 12, -1, "0"},
    {37500000000, 12, -1, "0.0375"},
    {-500000000000, 12, -1, "-0.5"},
    {1000000000, 9, -1, "1"},
    {12345678912000, 12, 2, "12.35"},
    {12344999999999, 12, 2, "12.34"},
    {5000000000, 12, 2, "0.01"},     /* half away from zero */
    {-5000000000, 12, 2, "-0.01"},
    {7, 0, 2, "7.00"},
    {INT64_MAX, 12, -1, "9223372.036854775807"},
};

Test(dec, format_table)
{
    for (size_t i = 0; i < sizeof fmt_cases / sizeof fmt_cases[0]; i++) {
        char buf[64];
        if (fmt_cases[i].places < 0)
            tm__dec_format(fmt_cases[i].v, fmt_cases[i].scale, buf);
        else
            tm__dec_format_fixed(fmt_cases[i].v, fmt_cases[i].scale, fmt_cases[i].places, buf);
        cr_expect_str_eq(buf, fmt_cases[i].want, "case %zu", i);
    }
}

Test(dec, sum_128_bits)
{
    /* A year of a large organisation: 10^9 events of $9,000 each does not
     * fit 64 bits of pico-USD but does fit 128. */
    tm_i128 sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += (tm_i128)9000 * 1000000000000LL * 1000000;
    char buf[64];
    tm__dec_format(sum, 12, buf);
    cr_assert_str_eq(buf, "9000000000000");
}

Test(dec, round_trip)
{
    const char *texts[] = {"0.1", "123.456", "0.000000000001", "42", "99999.999999999999"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int64_t v;
        char buf[64];
        cr_assert_eq(tm__dec_parse(texts[i], strlen(texts[i]), 12, 0, &v), TM_DEC_OK);
        tm__dec_format(v, 12, buf);
        cr_expect_str_eq(buf, texts[i]);
    }
}
